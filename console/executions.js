// Executions: the filtered list, and one run's timeline of steps (TOOL_CALL / TOOL_RESULT bodies), its
// approvals and artifacts, with cancel and retry. A run still in progress refreshes itself.
import { api, listAll } from './api.js';
import { h, replace, time, jsonBlock, badge, table, facts, actionButton } from './dom.js';
import { select } from './agents.js';

const STATUSES = ['queued', 'running', 'waiting_approval', 'succeeded', 'failed', 'cancelled'];
const LIVE = new Set(['queued', 'running', 'waiting_approval']);

export async function render(view, route, ctx) {
  if (route.id) return renderExecution(view, route.id, ctx);
  return renderList(view, route, ctx);
}

function dayStart(date) { return date ? date + 'T00:00:00Z' : ''; }
function dayEnd(date) { return date ? date + 'T23:59:59Z' : ''; }

async function renderList(view, route, ctx) {
  const q = route.query;
  const f = {
    agent_id: q.get('agent_id') || '', status: q.get('status') || '', entity_id: q.get('entity_id') || '',
    from: q.get('from') || '', to: q.get('to') || '',
  };
  const [page, agents] = await Promise.all([
    api('GET', '/executions', { query: {
      agent_id: f.agent_id, status: f.status, entity_id: f.entity_id,
      created_after: dayStart(f.from), created_before: dayEnd(f.to), page_size: 100,
    } }),
    // Only for the agent filter's names: a key that may not read agents still sees its executions.
    listAll('/agents', {}, 200).catch((e) => { if (e.status === 403) return []; throw e; }),
  ]);
  if (!ctx.current()) return;
  const agentNames = { '': 'any' };
  for (const a of agents) agentNames[a.id] = a.name;
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter executions' },
    h('label', {}, 'Agent ', agents.length ? select('agent_id', ['', ...agents.map((a) => a.id)], f.agent_id, agentNames)
      : h('input', { name: 'agent_id', value: f.agent_id, inputmode: 'numeric', maxlength: 20, size: 6 })),
    h('label', {}, 'Status ', select('status', ['', ...STATUSES, 'failed,cancelled'], f.status)),
    h('label', {}, 'Entity ', h('input', { name: 'entity_id', value: f.entity_id, maxlength: 200 })),
    h('label', {}, 'From ', h('input', { name: 'from', type: 'date', value: f.from })),
    h('label', {}, 'To ', h('input', { name: 'to', type: 'date', value: f.to })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    ctx.navigate('#/executions' + (params.toString() ? '?' + params : ''));
  });
  replace(view,
    h('h1', {}, 'Executions'),
    form,
    table([
      { label: 'Execution', cell: (x) => h('a', { href: '#/executions/' + encodeURIComponent(x.execution_id), class: 'execution-link' }, x.execution_id.slice(0, 8)) },
      { label: 'Agent', cell: (x) => (x.agent_id ? h('a', { href: '#/agents/' + x.agent_id }, x.agent_name || String(x.agent_id)) : '—') },
      { label: 'Status', cell: (x) => badge(x.status) },
      { label: 'Trigger', cell: (x) => (x.trigger && x.trigger.type) || '—' },
      { label: 'Entity', cell: (x) => x.entity_id || '—' },
      { label: 'Created', cell: (x) => time(x.created_at) },
      { label: 'Seconds', cell: (x) => (x.seconds_spent === null ? '—' : String(x.seconds_spent)) },
    ], page.data, 'No executions match.'),
    page.meta.pagination.has_more ? h('p', { class: 'muted' }, 'Showing the newest 100; narrow the filters to see older runs.') : null);
}

function stepView(step) {
  const data = step.data;
  const body = data && typeof data.body === 'string' ? data.body : null;
  const rest = data && body !== null ? Object.fromEntries(Object.entries(data).filter(([k]) => k !== 'body')) : data;
  const open = step.type === 'TOOL_CALL' || step.type === 'TOOL_RESULT' || step.is_error;
  return h('li', { class: 'step step-' + step.type.toLowerCase() + (step.is_error ? ' step-error' : '') },
    h('div', { class: 'step-head' }, badge(step.type, step.is_error ? 'error' : step.type.toLowerCase().replace('_', '-')),
      step.tool_type_name ? h('code', {}, step.tool_type_name) : null, time(step.created_at)),
    step.message ? h('p', { class: 'step-message' }, step.message) : null,
    data !== null && data !== undefined ? h('details', { open },
      h('summary', {}, step.type === 'TOOL_CALL' ? 'Request' : step.type === 'TOOL_RESULT' ? 'Result' : 'Data'),
      rest && Object.keys(rest).length ? jsonBlock(rest, step.type + ' data') : null,
      body !== null ? [h('p', { class: 'muted' }, 'Body'), h('pre', { class: 'json', tabindex: 0 }, body)] : null) : null);
}

async function load(id) {
  const e = encodeURIComponent(id);
  const [execution, steps, artifacts, tils] = await Promise.all([
    api('GET', '/executions/' + e),
    listAll('/executions/' + e + '/steps', {}, 1000),
    listAll('/executions/' + e + '/artifacts', {}, 200),
    listAll('/executions/' + e + '/til-requests', {}, 200),
  ]);
  return { x: execution.data, steps, artifacts, tils };
}

async function renderExecution(view, id, ctx) {
  let state = await load(id);
  if (!ctx.current()) return;
  // After cancel (or any change the page made), read again and draw.
  const reload = async () => {
    state = await load(id);
    if (ctx.current()) draw(view, state, ctx, reload);
  };
  draw(view, state, ctx, reload);
  // While the run is in progress, ask again every 2 s and redraw only when something changed.
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || !LIVE.has(state.x.status)) return;
    busy = true;
    try {
      const next = await load(id);
      if (!ctx.current()) return;
      if (next.x.updated_at !== state.x.updated_at || next.steps.length !== state.steps.length || next.x.status !== state.x.status) {
        state = next;
        draw(view, state, ctx, reload);
      }
    } catch (e) {
      ctx.showError(e);
    } finally {
      busy = false;
    }
  }, 2000);
  ctx.onLeave(() => clearInterval(timer));
}

function draw(view, { x, steps, artifacts, tils }, ctx, reload) {
  const e = encodeURIComponent(x.execution_id);
  const cancel = LIVE.has(x.status) ? actionButton('Cancel', async () => {
    try {
      await api('POST', '/executions/' + e + '/cancel');
      ctx.notice('Cancelled.');
      await reload();
    } catch (err) { ctx.showError(err); }
  }, { id: 'cancel-execution', class: 'danger' }) : null;
  const retry = x.status === 'failed' || x.status === 'cancelled' ? actionButton('Retry', async () => {
    try {
      const r = await api('POST', '/executions/' + e + '/retry');
      ctx.navigate('#/executions/' + encodeURIComponent(r.data.execution_id));
    } catch (err) { ctx.showError(err); }
  }, { id: 'retry-execution' }) : null;
  const trigger = x.trigger || {};
  replace(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/executions' }, 'Executions'), ' / '),
    h('h1', {}, 'Execution ', h('code', {}, x.execution_id.slice(0, 8)), ' ', h('span', { id: 'execution-status' }, badge(x.status))),
    h('div', { class: 'toolbar' }, cancel, retry),
    facts([
      ['Id', h('code', {}, x.execution_id)],
      ['Agent', x.agent_id ? h('a', { href: '#/agents/' + x.agent_id }, x.agent_name || String(x.agent_id)) : '—'],
      ['Trigger', trigger.type === 'CALLBACK' && trigger.callback_id
        ? h('a', { href: '#/callbacks/' + encodeURIComponent(trigger.callback_id) }, 'callback ' + trigger.callback_id.slice(0, 8))
        : (trigger.type || '—') + (trigger.scheduled_for ? ' for ' + trigger.scheduled_for : '')],
      ['Entity', x.entity_id || '—'], ['Created', time(x.created_at)], ['Started', time(x.started_at)],
      ['Finished', time(x.finished_at)], ['Seconds', x.seconds_spent === null ? '—' : String(x.seconds_spent)],
      x.retry_of ? ['Retry of', h('a', { href: '#/executions/' + encodeURIComponent(x.retry_of) }, x.retry_of.slice(0, 8))] : null,
      x.test_mode ? ['Test mode', 'yes: nothing was sent'] : null,
      x.usage && x.usage.llm_calls ? ['Model usage', `${x.usage.llm_calls} calls, ${x.usage.prompt_tokens} + ${x.usage.completion_tokens} tokens`] : null,
    ]),
    x.error ? h('p', { class: 'banner error inline' }, x.error) : null,
    x.message_for_dashboard ? h('p', {}, x.message_for_dashboard) : null,
    x.input ? h('details', {}, h('summary', {}, 'Input'), jsonBlock(x.input, 'input')) : null,
    tils.length ? h('section', {}, h('h2', {}, 'Approvals'),
      table([
        { label: 'Request', cell: (t) => '#' + t.id },
        { label: 'Status', cell: (t) => badge(t.status) },
        { label: 'Asked', cell: (t) => t.comment || '—' },
        { label: 'Decided', cell: (t) => (t.decided_at ? [time(t.decided_at), t.note ? ' — ' + t.note : ''] : h('a', { href: '#/approvals' }, 'Open the inbox')) },
      ], tils)) : null,
    h('section', { 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h' }, 'Timeline'),
      steps.length ? h('ol', { class: 'timeline' }, steps.map(stepView)) : h('p', { class: 'empty' }, 'No steps yet.')),
    h('section', { 'aria-labelledby': 'artifacts-h' }, h('h2', { id: 'artifacts-h' }, 'Artifacts'),
      artifacts.length ? artifacts.map((a) => h('article', { class: 'artifact' },
        h('h3', {}, a.name, ' ', h('span', { class: 'muted' }, a.kind)), time(a.created_at),
        h('pre', { class: 'markdown', tabindex: 0 }, a.content))) : h('p', { class: 'empty' }, 'None.')));
}
