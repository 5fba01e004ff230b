// External APIs: the configured upstreams (secrets arrive as "***") and a connection test for each.
import { api, listAll } from './api.js';
import { h, replace, jsonBlock, badge, table } from './dom.js';

export async function render(view, route, ctx) {
  const configs = await listAll('/external-apis', {}, 200);
  if (!ctx.current()) return;
  const results = new Map(configs.map((c) => [c.name, h('div', { class: 'test-result', id: 'test-' + c.name, 'aria-live': 'polite' })]));
  // An endpoint with {placeholders} needs a value for each before it can be tried.
  const test = (c) => {
    const names = [...new Set([...String(c.endpoint_url).matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))];
    const form = h('form', { class: 'test-form', 'aria-label': 'Test ' + c.name },
      names.map((n) => h('label', {}, n + ' ', h('input', { name: n, required: true, maxlength: 200, size: 10, 'data-param': n }))),
      h('button', { type: 'submit', class: 'test-connection', 'data-api': c.name }, 'Test connection'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const out = results.get(c.name);
      const button = form.querySelector('button');
      button.disabled = true;
      replace(out, h('span', { class: 'muted' }, 'Testing…'));
      const params = Object.fromEntries(names.map((n) => [n, form.elements.namedItem(n).value]));
      try {
        const r = await api('POST', '/external-apis/' + encodeURIComponent(c.name) + '/test', { body: names.length ? { params } : {} });
        const d = r.data;
        replace(out, d.ok ? badge('ok', 'yes') : badge('failed', 'no'), ' ',
          d.status !== null ? 'HTTP ' + d.status + ' in ' + d.latency_ms + ' ms. ' : '', d.diagnosis || '',
          h('details', {}, h('summary', {}, 'Request sent'), jsonBlock(d.request, 'test request')));
      } catch (e) {
        replace(out, badge('error', 'no'), ' ', e.message);
      } finally {
        button.disabled = false;
      }
    });
    return h('div', {}, form, results.get(c.name));
  };
  replace(view, h('h1', {}, 'External APIs'),
    table([
      { label: 'Name', cell: (c) => h('strong', {}, c.name) },
      { label: 'Method', cell: (c) => c.method },
      { label: 'Endpoint', cell: (c) => h('code', { class: 'wrap' }, c.endpoint_url) },
      { label: 'Auth', cell: (c) => (c.auth && c.auth.type) || 'none' },
      { label: 'Approval', cell: (c) => (c.requires_approval ? badge('required', 'kind') : 'no') },
      { label: 'Description', cell: (c) => c.description || '—' },
      { label: 'Test', cell: test },
    ], configs, 'No external APIs are configured.'));
}
