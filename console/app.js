// The console's shell: the key form, hash routing (#/section/id?filters), the error banner, and the
// pending-approvals count in the navigation.
import { api, currentKey, rememberKey, forgetKey } from './api.js';
import { h, replace } from './dom.js';
import * as agents from './agents.js';
import * as executions from './executions.js';
import * as approvals from './approvals.js';
import * as callbacks from './callbacks.js';
import * as externalAPIs from './external-apis.js';

const sections = {
  agents: agents.render,
  executions: executions.render,
  approvals: approvals.render,
  callbacks: callbacks.render,
  'external-apis': externalAPIs.render,
};

const view = document.getElementById('view');
const errorBanner = document.getElementById('error');
const noticeBanner = document.getElementById('notice');
const login = document.getElementById('login');
let leaving = [];
let generation = 0;
let countTimer = null;

/** What a page gets: cleanup on leave, errors and notices, navigation, and whether it is still shown. */
function pageContext(mine) {
  return {
    onLeave(fn) { leaving.push(fn); },
    current() { return mine === generation; },
    showError,
    notice,
    navigate(hash) { location.hash = hash; },
    refreshPendingCount,
  };
}

export function showError(e) {
  if (e && e.status === 401) {
    forgetKey();
    showLogin('The server refused the key: ' + e.message);
    return;
  }
  const text = e && e.code && e.code !== 'NETWORK' ? e.message + ' (' + e.code + ')' : String(e && e.message ? e.message : e);
  replace(errorBanner, h('span', {}, text), ' ', h('button', { type: 'button', class: 'link', onclick: clearBanners }, 'Dismiss'));
  errorBanner.hidden = false;
}

function notice(text) {
  replace(noticeBanner, text);
  noticeBanner.hidden = false;
}

function clearBanners() {
  errorBanner.hidden = true;
  noticeBanner.hidden = true;
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, search] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { section: parts[0] || 'agents', id: parts[1] || null, query: new URLSearchParams(search || '') };
}

async function route() {
  for (const fn of leaving) fn();
  leaving = [];
  generation += 1;
  const mine = generation;
  clearBanners();
  if (!currentKey()) return showLogin();
  login.hidden = true;
  const r = parseHash();
  const render = sections[r.section];
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.dataset.section === r.section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  replace(view, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  if (!render) {
    replace(view, h('h1', { tabindex: -1 }, 'Not found'), h('p', {}, 'There is no page called ', h('code', {}, r.section), '.'));
    return;
  }
  try {
    await render(view, r, pageContext(mine));
    if (mine === generation) {
      const heading = view.querySelector('h1');
      // As a page load would: focus goes to the new page's heading, unless it is already on a control in the page.
      if (heading && !view.contains(document.activeElement)) {
        heading.setAttribute('tabindex', '-1');
        heading.focus({ preventScroll: true });
      }
      document.title = (heading ? heading.textContent + ' · ' : '') + 'neo-server console';
    }
  } catch (e) {
    if (mine !== generation) return;
    replace(view, h('h1', { tabindex: -1 }, 'Could not load this page'));
    showError(e);
  }
}

function showLogin(message) {
  for (const fn of leaving) fn();
  leaving = [];
  replace(view);
  replace(document.getElementById('who'));
  if (countTimer) clearInterval(countTimer);
  countTimer = null;
  login.hidden = false;
  if (message) showError({ message });
  document.getElementById('key-input').focus();
}

async function showWho() {
  const who = document.getElementById('who');
  try {
    const tenant = await api('GET', '/tenant');
    replace(who, h('span', { class: 'tenant' }, tenant.data.name),
      h('button', { type: 'button', class: 'link', id: 'forget-key', onclick: () => { forgetKey(); location.hash = '#/agents'; showLogin(); } }, 'Forget key'));
    return true;
  } catch (e) {
    showError(e);
    return false;
  }
}

/** The pending-approvals count beside "Approvals"; stops asking when the key may not read approvals. */
async function refreshPendingCount() {
  const badge = document.getElementById('pending-count');
  try {
    const page = await api('GET', '/til-requests', { query: { status: 'pending', page_size: 200 } });
    const n = page.data.length + (page.meta.pagination.has_more ? '+' : '');
    badge.textContent = String(n);
    badge.hidden = page.data.length === 0;
    badge.setAttribute('aria-label', n + ' pending');
  } catch (e) {
    badge.hidden = true;
    if (countTimer) clearInterval(countTimer);
    countTimer = null;
  }
}

async function start() {
  if (!(await showWho())) return;
  refreshPendingCount();
  if (countTimer) clearInterval(countTimer);
  countTimer = setInterval(refreshPendingCount, 15000);
  await route();
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('key-input');
  const key = input.value.trim();
  input.value = '';
  if (!key) return;
  rememberKey(key);
  clearBanners();
  start();
});

window.addEventListener('hashchange', () => { if (currentKey()) route(); });
if (currentKey()) start(); else showLogin();
