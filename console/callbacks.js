// Callbacks: inbound events, and for one event why each agent did or did not match (workflow_matches with
// their field comparisons).
import { api } from './api.js';
import { h, replace, time, jsonBlock, badge, table, facts } from './dom.js';
import { select } from './agents.js';

function isoAgo(days) {
  return new Date(Date.now() - days * 86400000).toISOString().replace(/\.\d+Z$/, 'Z');
}

export async function render(view, route, ctx) {
  if (route.id) return renderCallback(view, route.id, ctx);
  const q = route.query;
  const f = {
    days: q.get('days') || '7', entity_type: q.get('entity_type') || '', entity_id: q.get('entity_id') || '',
    entity_number: q.get('entity_number') || '', change_type: q.get('change_type') || '', agent_id: q.get('agent_id') || '',
  };
  // The API needs an indexed filter: an entity, an entity number, or `since` within 7 days.
  const query = { change_type: f.change_type, agent_id: f.agent_id, page_size: 100 };
  if (f.entity_type && f.entity_id) Object.assign(query, { entity_type: f.entity_type, entity_id: f.entity_id });
  else if (f.entity_number) query.entity_number = f.entity_number;
  else query.since = isoAgo(Math.min(7, Math.max(1, Number(f.days) || 7)));
  const page = await api('GET', '/callbacks', { query });
  if (!ctx.current()) return;
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter callbacks' },
    h('label', {}, 'Last ', select('days', ['1', '2', '7'], f.days, { 1: '1 day', 2: '2 days', 7: '7 days' })),
    h('label', {}, 'Entity type ', h('input', { name: 'entity_type', value: f.entity_type, maxlength: 50, size: 10 })),
    h('label', {}, 'Entity id ', h('input', { name: 'entity_id', value: f.entity_id, maxlength: 200, size: 10 })),
    h('label', {}, 'Entity number ', h('input', { name: 'entity_number', value: f.entity_number, maxlength: 200, size: 10 })),
    h('label', {}, 'Change ', select('change_type', ['', 'CREATE', 'UPDATE'], f.change_type)),
    h('label', {}, 'Agent id ', h('input', { name: 'agent_id', value: f.agent_id, inputmode: 'numeric', maxlength: 20, size: 6 })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    ctx.navigate('#/callbacks?' + params);
  });
  replace(view, h('h1', {}, 'Callbacks'), form,
    table([
      { label: 'Event', cell: (c) => h('a', { href: '#/callbacks/' + encodeURIComponent(c.callback_id), class: 'callback-link' }, c.callback_id.slice(0, 8)) },
      { label: 'Entity', cell: (c) => `${c.entity_type || ''} ${c.entity_id}` + (c.entity_number ? ` (#${c.entity_number})` : '') },
      { label: 'Change', cell: (c) => c.change_type || '—' },
      { label: 'Received', cell: (c) => time(c.created_at) },
      { label: 'Started', cell: (c) => String((c.started_workflow_ids || []).length) },
      { label: 'Not matched', cell: (c) => String((c.failed_to_match_workflow_ids || []).length) },
      { label: 'Error', cell: (c) => c.error_message || '—' },
    ], page.data, 'No events in this window.'));
}

function comparisons(list) {
  if (!list || !list.length) return h('span', { class: 'muted' }, 'no field comparisons');
  return h('table', { class: 'compare' },
    h('thead', {}, h('tr', {}, ['Field', 'Value', 'Operator', 'Rule value', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, list.map((c) => h('tr', { class: c.is_match ? 'ok' : 'no' },
      h('td', { 'data-label': 'Field' }, h('code', {}, c.field_name)),
      h('td', { 'data-label': 'Value' }, h('code', {}, JSON.stringify(c.field_value ?? null))),
      h('td', { 'data-label': 'Operator' }, c.operator),
      h('td', { 'data-label': 'Rule value' }, h('code', {}, JSON.stringify(c.rule_value ?? null))),
      h('td', { 'data-label': 'Result' }, c.is_match ? badge('match', 'yes') : badge('no match', 'no'))))));
}

async function renderCallback(view, id, ctx) {
  const r = await api('GET', '/callbacks/' + encodeURIComponent(id));
  if (!ctx.current()) return;
  const c = r.data;
  const runs = new Map((c.started_executions || []).map((s) => [s.workflow_id, s.execution_id]));
  replace(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/callbacks' }, 'Callbacks'), ' / '),
    h('h1', {}, 'Event ', h('code', {}, c.callback_id.slice(0, 8))),
    facts([
      ['Id', h('code', {}, c.callback_id)], ['Entity', `${c.entity_type || ''} ${c.entity_id}` + (c.entity_number ? ` (#${c.entity_number})` : '')],
      ['Change', c.change_type || '—'], ['Event id', c.event_id || '—'], ['In the PSA', time(c.created_in_psa_at)],
      ['Received', time(c.created_at)], ['Processed', time(c.finished_processing_at)], ['Error', c.error_message || '—'],
    ]),
    h('section', { 'aria-labelledby': 'matches-h' }, h('h2', { id: 'matches-h' }, 'Why each agent did or did not run'),
      (c.workflow_matches || []).length ? h('ul', { class: 'matches' }, c.workflow_matches.map((m) => h('li', { class: 'card match ' + (m.matched ? 'matched' : 'unmatched') },
        h('h3', {}, h('a', { href: '#/agents/' + m.workflow_id }, m.workflow_name || 'agent ' + m.workflow_id), ' ',
          m.matched ? badge('matched', 'yes') : badge('not matched', 'no'), m.error ? badge('error', 'error') : null),
        h('p', {}, m.match_reason || ''),
        runs.get(m.workflow_id) ? h('p', {}, h('a', { href: '#/executions/' + encodeURIComponent(runs.get(m.workflow_id)) }, 'Open the run')) : null,
        m.match_details ? [h('p', { class: 'muted' }, 'Event type: ', m.match_details.event_type || '—'), comparisons(m.match_details.field_comparisons)] : null)))
        : h('p', { class: 'empty' }, 'No enabled TRIGGERED agent of this entity type was considered.')),
    c.processed_audit_trail ? h('details', {}, h('summary', {}, 'The event as received'), jsonBlock(c.processed_audit_trail, 'audit trail')) : null);
}
