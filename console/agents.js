// Agents: the list (state, trigger, schedule, next run) and one agent (actions, conditions, versions,
// enable/disable, run now, and a chart of its runs per day).
import { api, listAll } from './api.js';
import { h, replace, time, jsonBlock, badge, table, facts, actionButton } from './dom.js';
import { dailyStats, dailyChart } from './chart.js';

export async function render(view, route, ctx) {
  if (route.id) return renderAgent(view, route.id, ctx);
  return renderList(view, route, ctx);
}

function scheduleText(schedule) {
  if (!schedule || !schedule.cron) return h('span', { class: 'muted' }, '—');
  return h('span', {}, h('code', {}, schedule.cron), schedule.timezone ? ' ' + schedule.timezone : '');
}

async function renderList(view, route, ctx) {
  const q = route.query;
  const filters = { state: q.get('state') || '', trigger_type: q.get('trigger_type') || '', q: q.get('q') || '' };
  const agents = await listAll('/agents', filters, 200);
  // The list item has next_run_at but not the schedule: read it from the detail of each scheduled agent.
  const schedules = new Map();
  await Promise.all(agents.filter((a) => a.trigger_type === 'SCHEDULED').map(async (a) => {
    const detail = await api('GET', '/agents/' + encodeURIComponent(a.id));
    schedules.set(a.id, detail.data.schedule);
  }));
  if (!ctx.current()) return;
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter agents' },
    h('label', {}, 'State ', select('state', ['', 'ENABLED', 'DISABLED', 'DELETED'], filters.state)),
    h('label', {}, 'Trigger ', select('trigger_type', ['', 'SCHEDULED', 'TRIGGERED', 'NONE'], filters.trigger_type)),
    h('label', {}, 'Search ', h('input', { name: 'q', type: 'search', value: filters.q, maxlength: 200 })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) params.set(k, v);
    ctx.navigate('#/agents' + (params.toString() ? '?' + params : ''));
  });
  replace(view,
    h('h1', {}, 'Agents'),
    form,
    table([
      { label: 'Name', cell: (a) => h('a', { href: '#/agents/' + encodeURIComponent(a.id), class: 'agent-link' }, a.name) },
      { label: 'State', cell: (a) => badge(a.state) },
      { label: 'Trigger', cell: (a) => a.trigger_type },
      { label: 'Autonomy', cell: (a) => a.autonomy_type },
      { label: 'Schedule', cell: (a) => scheduleText(schedules.get(a.id)) },
      { label: 'Next run', cell: (a) => time(a.next_run_at) },
      { label: 'Updated', cell: (a) => time(a.updated_at) },
    ], agents, 'No agents match.'));
}

export function select(name, options, value, labels = {}) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, labels[o] || o || 'any')));
}

/** A react-querybuilder group as nested lists: "field operator value", with and/or and not. */
function conditionTree(group) {
  if (!group || typeof group !== 'object') return h('span', { class: 'muted' }, 'none');
  if (!Array.isArray(group.rules)) {
    return h('span', { class: 'rule' }, h('code', {}, group.field), ' ', h('strong', {}, group.operator), ' ',
      h('code', {}, JSON.stringify(group.value === undefined ? null : group.value)));
  }
  const label = (group.not ? 'NOT ' : '') + String(group.combinator || 'and').toUpperCase();
  return h('div', { class: 'group' }, h('span', { class: 'combinator' }, label + ' of'),
    h('ul', {}, group.rules.map((r) => h('li', {}, conditionTree(r)))));
}

/** Who wrote a version: `{type, api_key_id}` as "user (key 1)". */
function actorText(actor) {
  if (!actor || typeof actor !== 'object') return String(actor ?? '—');
  const key = actor.api_key_id ? ' (key ' + actor.api_key_id + ')' : '';
  return (actor.type || actor.name || 'unknown') + key;
}

async function renderAgent(view, id, ctx) {
  const [detail, versions, days] = await Promise.all([
    api('GET', '/agents/' + encodeURIComponent(id)),
    api('GET', '/agents/' + encodeURIComponent(id) + '/versions', { query: { page_size: 20 } }),
    dailyStats(id),
  ]);
  if (!ctx.current()) return;
  const a = detail.data;
  const enabled = a.state === 'ENABLED';
  const toggle = a.state === 'DELETED' ? null : actionButton(enabled ? 'Disable' : 'Enable', async () => {
    try {
      await api('PUT', '/agents/' + encodeURIComponent(id), { body: { state: enabled ? 'DISABLED' : 'ENABLED' } });
      ctx.notice('Agent ' + (enabled ? 'disabled' : 'enabled') + '.');
      await renderAgent(view, id, ctx);
    } catch (e) { ctx.showError(e); }
  }, { id: 'toggle-state' });

  const runForm = h('form', { class: 'inline-form', 'aria-label': 'Run now' },
    a.trigger_type === 'TRIGGERED' ? h('label', {}, 'Target entity id ', h('input', { name: 'target_entity_id', required: true, maxlength: 200 })) : null,
    h('button', { type: 'submit', disabled: !enabled || a.autonomy_type === 'CONVERSATIONAL' }, 'Run now'));
  runForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {};
    const target = runForm.elements.namedItem('target_entity_id');
    if (target) body.target_entity_id = target.value;
    try {
      const r = await api('POST', '/agents/' + encodeURIComponent(id) + '/run-now', { body });
      ctx.navigate('#/executions/' + encodeURIComponent(r.data.execution_id));
    } catch (err) { ctx.showError(err); }
  });

  const conditions = a.ticket_conditions || a.time_entry_conditions;
  replace(view,
    h('p', { class: 'crumbs' }, h('a', { href: '#/agents' }, 'Agents'), ' / '),
    h('h1', {}, a.name, ' ', badge(a.state)),
    h('div', { class: 'toolbar' }, toggle, runForm,
      h('a', { class: 'button', href: '#/executions?agent_id=' + encodeURIComponent(id) }, 'Executions')),
    a.description ? h('p', {}, a.description) : null,
    facts([
      ['Id', a.id], ['Trigger', a.trigger_type], ['Autonomy', a.autonomy_type], ['Entity type', a.entity_type],
      ['Schedule', scheduleText(a.schedule)], ['Next run', time(a.next_run_at)], ['Group', a.group_name || '—'],
      ['Version', String(a.version)], ['Created', time(a.created_at)], ['Updated', time(a.updated_at)],
    ]),
    h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, 'Runs per day (last 14 days, UTC)'), dailyChart(days)),
    h('section', { 'aria-labelledby': 'actions-h' }, h('h2', { id: 'actions-h' }, 'Actions'),
      h('ol', { class: 'actions' }, (a.actions || []).map((act) => h('li', {},
        h('p', {}, h('strong', {}, act.action_type), ' ', h('code', { class: 'muted' }, act.id)),
        act.input_as_dict && Object.keys(act.input_as_dict).length ? jsonBlock(act.input_as_dict, act.action_type + ' input') : null)))),
    h('section', { 'aria-labelledby': 'conditions-h' }, h('h2', { id: 'conditions-h' }, 'Conditions'),
      conditions ? [conditionTree(conditions.conditions || conditions), h('details', {}, h('summary', {}, 'As JSON'), jsonBlock(conditions))]
        : h('p', { class: 'muted' }, 'No conditions: every entity matches.'),
      a.callback_settings ? [h('h3', {}, 'Callback settings'), jsonBlock(a.callback_settings)] : null),
    a.toolbox ? h('section', {}, h('h2', {}, 'Toolbox'), jsonBlock(a.toolbox)) : null,
    h('section', { 'aria-labelledby': 'versions-h' }, h('h2', { id: 'versions-h' }, 'Versions'),
      table([
        { label: 'Version', cell: (v) => String(v.version) },
        { label: 'When', cell: (v) => time(v.created_at) },
        { label: 'By', cell: (v) => actorText(v.actor) },
        { label: 'State', cell: (v) => (v.agent ? badge(v.agent.state) : '—') },
        { label: 'Snapshot', cell: (v) => h('details', {}, h('summary', {}, 'Show'), jsonBlock(v.agent, 'version ' + v.version)) },
      ], versions.data)));
}
