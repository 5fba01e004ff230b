// Building the page: elements from plain values, text always as text (never parsed as HTML).

/** `h('a', {href: '#/x', class: 'y'}, 'text', child…)`: an element; `on*` attributes add listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces `el`'s children. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** An RFC 3339 time as local text, with the exact value as a tooltip. */
export function time(value) {
  if (!value) return h('span', { class: 'muted' }, '—');
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return h('span', {}, value);
  return h('time', { datetime: value, title: value }, d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }));
}

/** A JSON value, pretty-printed in a scrollable block. */
export function jsonBlock(value, label) {
  return h('pre', { class: 'json', tabindex: 0, 'aria-label': label || 'JSON' }, JSON.stringify(value, null, 2));
}

/** A status word as a coloured badge (the colour is a class, never an inline style). */
export function badge(text, kind) {
  const word = text === null || text === undefined ? '—' : String(text);
  return h('span', { class: 'badge badge-' + (kind || word.toLowerCase().replace(/[^a-z0-9]+/g, '-')) }, word);
}

/** A table of `rows` with `columns` [{label, cell(row)}]; on a phone each row becomes a card. */
export function table(columns, rows, empty = 'Nothing here yet.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.label }, c.cell(row))))))));
}

/** A definition list of [term, value] pairs. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

/** A button that disables itself while `action` runs. */
export function actionButton(label, action, attrs = {}) {
  const button = h('button', { type: 'button', ...attrs }, label);
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await action();
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
