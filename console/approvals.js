// The approvals inbox: each pending TIL request with the fully resolved, redacted request it holds, approve or
// reject with a note. It asks for new requests every 5 s and keeps cards already shown (and a note being typed).
import { api } from './api.js';
import { h, replace, time, jsonBlock, badge, table } from './dom.js';

const REFRESH_MS = 5000;

function requestSummary(held) {
  // An external-API call holds {request: {method, url, …}}; an agent edit holds the patch.
  const req = held && (held.request || held);
  if (req && req.method && req.url) return h('p', { class: 'request-line' }, h('strong', {}, req.method), ' ', h('code', {}, req.url));
  return null;
}

function card(t, ctx, decided) {
  const note = h('textarea', { id: 'note-' + t.id, name: 'note', rows: 2, maxlength: 2000 });
  const buttons = [];
  const decide = async (action, button) => {
    for (const b of buttons) b.disabled = true;
    try {
      const r = await api('POST', '/til-requests/' + t.id + '/decision', { body: note.value.trim() ? { action, note: note.value.trim() } : { action } });
      decided(t, r.data);
    } catch (e) {
      ctx.showError(e);
      for (const b of buttons) b.disabled = false;
      button.focus();
    }
  };
  const approve = h('button', { type: 'button', class: 'approve', 'data-til': t.id }, 'Approve');
  const reject = h('button', { type: 'button', class: 'danger reject', 'data-til': t.id }, 'Reject');
  approve.addEventListener('click', () => decide('approve', approve));
  reject.addEventListener('click', () => decide('reject', reject));
  buttons.push(approve, reject);
  return h('article', { class: 'til card', id: 'til-' + t.id, 'aria-labelledby': 'til-h-' + t.id },
    h('h2', { id: 'til-h-' + t.id }, 'Request #' + t.id, ' ', badge(t.kind, 'kind')),
    h('p', { class: 'meta' },
      t.agent_id ? h('a', { href: '#/agents/' + t.agent_id }, t.agent_name || 'agent ' + t.agent_id) : 'no agent', ' · ',
      'asked ', time(t.created_at), t.expires_at ? [' · expires ', time(t.expires_at)] : null,
      t.execution_id ? [' · ', h('a', { href: '#/executions/' + encodeURIComponent(t.execution_id) }, 'execution ' + t.execution_id.slice(0, 8))] : null),
    t.comment ? h('p', { class: 'comment' }, t.comment) : null,
    requestSummary(t.requested_for),
    h('details', { open: true }, h('summary', {}, 'The held request (secrets redacted)'), jsonBlock(t.requested_for, 'held request ' + t.id)),
    h('div', { class: 'decision' },
      h('label', { for: 'note-' + t.id }, 'Note (optional)'), note,
      h('div', { class: 'buttons' }, approve, reject)));
}

export async function render(view, route, ctx) {
  const cards = new Map();
  const list = h('div', { class: 'cards', id: 'til-list' });
  const empty = h('p', { class: 'empty', id: 'til-empty' }, 'Nothing waits for a decision.');
  const refreshed = h('span', { class: 'muted', id: 'til-refreshed' });
  const recent = h('div', { id: 'til-recent' });

  const decided = (t, result) => {
    const el = cards.get(t.id);
    if (el) el.remove();
    cards.delete(t.id);
    empty.hidden = cards.size > 0;
    ctx.notice(`Request #${t.id} ${result.status}.` + (result.execution_id ? ' The run continues.' : ''));
    ctx.refreshPendingCount();
    refresh().catch((e) => ctx.showError(e));
    const next = list.querySelector('button.approve');
    if (next) next.focus();
  };

  async function refresh() {
    const [pending, done] = await Promise.all([
      api('GET', '/til-requests', { query: { status: 'pending', page_size: 100 } }),
      api('GET', '/til-requests', { query: { status: 'approved,rejected,expired', page_size: 10 } }),
    ]);
    if (!ctx.current()) return;
    const ids = new Set(pending.data.map((t) => t.id));
    for (const [id, el] of cards) if (!ids.has(id)) { el.remove(); cards.delete(id); }
    // Oldest first: the one that has waited longest is on top.
    for (const t of [...pending.data].reverse()) {
      if (!cards.has(t.id)) {
        const el = card(t, ctx, decided);
        cards.set(t.id, el);
        list.appendChild(el);
      }
    }
    empty.hidden = cards.size > 0;
    refreshed.textContent = 'Refreshed ' + new Date().toLocaleTimeString() + '; every 5 s.';
    replace(recent, table([
      { label: 'Request', cell: (t) => '#' + t.id },
      { label: 'Agent', cell: (t) => t.agent_name || '—' },
      { label: 'Decision', cell: (t) => badge(t.status) },
      { label: 'By', cell: (t) => (t.decided_by ? t.decided_by.name || String(t.decided_by.id) : '—') },
      { label: 'Note', cell: (t) => t.note || '—' },
      { label: 'When', cell: (t) => time(t.decided_at || t.updated_at) },
    ], done.data, 'No decisions yet.'));
  }

  await refresh();
  if (!ctx.current()) return;
  replace(view, h('h1', {}, 'Approvals'), h('p', {}, refreshed), empty, list,
    h('section', { 'aria-labelledby': 'recent-h' }, h('h2', { id: 'recent-h' }, 'Recently decided'), recent));
  const timer = setInterval(() => refresh().catch((e) => ctx.showError(e)), REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
}
