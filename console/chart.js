// A small bar chart of executions and failures per day, drawn as SVG elements (no library, no inline style:
// colours come from classes in style.css).
import { api } from './api.js';
import { h } from './dom.js';

const SVG = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** The last `days` UTC days of `GET /agents/{id}/stats`, one window per day, oldest first. */
export async function dailyStats(agentId, days = 14) {
  const today = new Date();
  const midnight = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const windows = [];
  for (let i = days - 1; i >= 0; i -= 1) {
    const since = new Date(midnight - i * 86400000);
    windows.push({ since, until: new Date(since.getTime() + 86400000) });
  }
  return Promise.all(windows.map(async (w) => {
    const r = await api('GET', '/agents/' + encodeURIComponent(agentId) + '/stats',
      { query: { since: w.since.toISOString().replace(/\.\d+Z$/, 'Z'), until: w.until.toISOString().replace(/\.\d+Z$/, 'Z') } });
    return { day: w.since.toISOString().slice(0, 10), executions: r.data.executions, failures: r.data.failures };
  }));
}

/** The chart of `rows` [{day, executions, failures}], with the same numbers as a table for screen readers. */
export function dailyChart(rows) {
  const width = 560, height = 180, left = 32, bottom = 28, top = 10;
  const max = Math.max(1, ...rows.map((r) => r.executions));
  const step = (width - left) / rows.length;
  const barWidth = Math.max(4, step * 0.6);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title' });
  const total = rows.reduce((a, r) => a + r.executions, 0), failed = rows.reduce((a, r) => a + r.failures, 0);
  svg.appendChild(s('title', { id: 'chart-title' }, `Executions per day: ${total} in ${rows.length} days, ${failed} failed`));
  for (const tick of [0, Math.ceil(max / 2), max]) {
    svg.appendChild(s('line', { x1: left, x2: width, y1: y(tick), y2: y(tick), class: 'grid' }));
    svg.appendChild(s('text', { x: left - 6, y: y(tick) + 4, class: 'axis', 'text-anchor': 'end' }, String(tick)));
  }
  rows.forEach((r, i) => {
    const x = left + i * step + (step - barWidth) / 2;
    const bar = s('rect', { x, y: y(r.executions), width: barWidth, height: y(0) - y(r.executions), class: 'bar-executions' });
    bar.appendChild(s('title', {}, `${r.day}: ${r.executions} executions, ${r.failures} failed`));
    svg.appendChild(bar);
    if (r.failures > 0) {
      svg.appendChild(s('rect', { x, y: y(r.failures), width: barWidth, height: y(0) - y(r.failures), class: 'bar-failures' }));
    }
    if (i % 2 === rows.length % 2 || rows.length <= 7) {
      svg.appendChild(s('text', { x: x + barWidth / 2, y: height - 10, class: 'axis', 'text-anchor': 'middle' }, r.day.slice(5)));
    }
  });
  const legend = h('p', { class: 'legend' }, h('span', { class: 'key key-executions' }), ' executions ',
    h('span', { class: 'key key-failures' }), ' failures');
  const numbers = h('table', { class: 'visually-hidden' },
    h('caption', {}, 'Executions and failures per day'),
    h('tr', {}, h('th', {}, 'Day'), h('th', {}, 'Executions'), h('th', {}, 'Failures')),
    rows.map((r) => h('tr', {}, h('td', {}, r.day), h('td', {}, String(r.executions)), h('td', {}, String(r.failures)))));
  return h('figure', { class: 'chart-figure' }, svg, legend, numbers);
}
