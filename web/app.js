// app.js: the dashboard shell. Hash router, layout (nav, user menu, live indicator, toasts), the login
// gate (GET /devicehub/session) and the ctx every page module gets:
//   ctx = {api, events, session, navigate(hash), params, toast(msg, kind)}
// A page is web/page-<name>.js exporting `async function render(root, ctx)`, which may return a cleanup
// function called when the user leaves the page. Routes → page modules:
//   #/login → login, #/ → fleet, #/devices → devices, #/devices/<id> → device, #/jobs → jobs,
//   #/jobs/new → job-new, #/jobs/<id> → job, #/configurations → configurations,
//   #/configurations/<id> → configuration, #/audit → audit, #/accounts → accounts
// Query parameters after the hash path (#/devices?q=...) arrive in ctx.params with the path's <id>.

import {api, setCsrfToken, setUnauthorizedHandler} from './api.js';
import {createEvents} from './events.js';
import {h, fill, clear, field, formDialog, errorBox, loading, refreshRelativeTimes} from './ui.js';

const ROUTES = [
  [/^\/login$/, 'login'],
  [/^\/?$/, 'fleet'],
  [/^\/devices$/, 'devices'],
  [/^\/devices\/(?<id>[^/]+)$/, 'device'],
  [/^\/jobs$/, 'jobs'],
  [/^\/jobs\/new$/, 'job-new'],
  [/^\/jobs\/(?<id>[^/]+)$/, 'job'],
  [/^\/configurations$/, 'configurations'],
  [/^\/configurations\/(?<id>[^/]+)$/, 'configuration'],
  [/^\/enrollments$/, 'enrollments'],
  [/^\/archive$/, 'archive'],
  [/^\/archive\/(?<id>[^/]+)$/, 'archive'],
  [/^\/audit$/, 'audit'],
  [/^\/accounts$/, 'accounts'],
];

const NAV = [
  {hash: '#/', label: 'Fleet', match: ['fleet']},
  {hash: '#/devices', label: 'Devices', match: ['devices', 'device']},
  {hash: '#/enrollments', label: 'Enrollments', match: ['enrollments']},
  {hash: '#/jobs', label: 'Jobs & rollouts', match: ['jobs', 'job', 'job-new']},
  {hash: '#/configurations', label: 'Configurations', match: ['configurations', 'configuration']},
  {hash: '#/archive', label: 'Archive', match: ['archive', 'archive-entry']},
  {hash: '#/audit', label: 'Audit', match: ['audit'], admin: true},
  {hash: '#/accounts', label: 'Accounts', match: ['accounts'], admin: true},
];

const ROLE_RANK = {viewer: 1, operator: 2, admin: 3};
export function can(session, role) {
  return !!session && (ROLE_RANK[session.role] || 0) >= ROLE_RANK[role];
}

const events = createEvents(api);
let session = null;
let cleanup = null;
let renderSeq = 0;
let layout = null;

// Toasts: polite status messages; errors are assertive.
function toast(message, kind = 'info') {
  const region = document.getElementById(kind === 'error' ? 'toasts-alert' : 'toasts');
  if (!region) return;
  const t = h('div', {class: `toast ${kind}`, dataset: {testid: 'toast'}},
    h('span', {}, message),
    h('button', {type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => t.remove()}, '×'));
  region.append(t);
  while (region.children.length > 3) region.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 9000 : 4500);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const params = Object.fromEntries(new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : ''));
  for (const [re, name] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      for (const [k, v] of Object.entries(m.groups || {})) params[k] = decodeURIComponent(v);
      return {name, params, path};
    }
  }
  return {name: null, params, path};
}

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function liveLabel(state) {
  return {live: 'Live', connecting: 'Connecting…', offline: 'Offline'}[state] || state;
}

function buildLayout() {
  const live = h('span', {class: 'live', dataset: {testid: 'live-indicator', state: events.state}, role: 'status',
    title: 'Live updates from the hub'}, h('span', {class: 'dot', 'aria-hidden': 'true'}), h('span', {class: 'live-text'}, liveLabel(events.state)));
  events.onState((s) => {
    live.dataset.state = s;
    live.querySelector('.live-text').textContent = liveLabel(s);
  });
  const links = NAV.filter((n) => !n.admin || can(session, 'admin'))
    .map((n) => h('li', {}, h('a', {href: n.hash, dataset: {nav: n.match[0], testid: `nav-${n.match[0]}`}}, n.label)));
  const nav = h('nav', {id: 'main-nav', 'aria-label': 'Main'}, h('ul', {}, links));
  const navToggle = h('button', {type: 'button', class: 'nav-toggle', 'aria-expanded': 'false', 'aria-controls': 'main-nav',
    testid: 'nav-toggle', onclick: () => {
      const open = navToggle.getAttribute('aria-expanded') !== 'true';
      navToggle.setAttribute('aria-expanded', String(open));
      document.body.classList.toggle('nav-open', open);
    }}, h('span', {'aria-hidden': 'true'}, '☰'), h('span', {class: 'sr-only'}, 'Menu'));
  const menu = h('details', {class: 'user-menu', dataset: {testid: 'user-menu'}},
    h('summary', {}, h('span', {class: 'user-name'}, session.name), ' ', h('span', {class: `badge role-${session.role}`, dataset: {testid: 'user-role'}}, session.role)),
    h('div', {class: 'menu-body'},
      h('p', {class: 'muted'}, `Signed in as ${session.name} (${session.role})`),
      h('button', {type: 'button', testid: 'change-password', onclick: () => { menu.open = false; changePassword(); }}, 'Change password'),
      h('button', {type: 'button', testid: 'logout', onclick: logout}, 'Log out')));
  const main = h('main', {id: 'main', tabindex: '-1'});
  const skip = h('a', {class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); }}, 'Skip to content');
  const header = h('header', {class: 'topbar'},
    navToggle,
    h('a', {class: 'brand', href: '#/'}, h('span', {class: 'brand-mark', 'aria-hidden': 'true'}, '◆'), 'devicehub'),
    nav, h('div', {class: 'topbar-right'}, live, menu));
  const app = document.getElementById('app');
  fill(app, skip, header, main);
  document.addEventListener('click', (e) => {
    if (menu.open && !menu.contains(e.target)) menu.open = false;
  });
  // Escape closes an open menu (the user menu, a page's <details class="menu">) and gives focus back.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    for (const d of document.querySelectorAll('details[open].menu, details[open].user-menu')) {
      d.open = false;
      d.querySelector('summary')?.focus();
    }
  });
  return {main, nav, navToggle};
}

function markNav(name) {
  if (!layout) return;
  for (const a of layout.nav.querySelectorAll('a')) {
    const item = NAV.find((n) => n.hash === a.getAttribute('href'));
    if (item && item.match.includes(name)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.classList.remove('nav-open');
  layout.navToggle.setAttribute('aria-expanded', 'false');
}

async function changePassword() {
  await formDialog({
    title: 'Change password',
    testid: 'password-dialog',
    submitLabel: 'Change password',
    fields: [
      field('Current password', 'currentPassword', {type: 'password', attrs: {required: true, autocomplete: 'current-password'}}),
      field('New password (at least 12 characters)', 'password', {type: 'password', attrs: {required: true, minlength: 12, autocomplete: 'new-password'}}),
      field('Repeat the new password', 'password2', {type: 'password', attrs: {required: true, minlength: 12, autocomplete: 'new-password'}}),
    ],
    onSubmit: async (fd) => {
      if (fd.get('password') !== fd.get('password2')) throw new Error('The new passwords differ.');
      await api.put(`/devicehub/accounts/${encodeURIComponent(session.name)}/password`,
        {currentPassword: fd.get('currentPassword'), password: fd.get('password')});
      toast('Password changed. Your other sessions were signed out.', 'ok');
      return true;
    },
  });
}

async function logout() {
  try { await api.post('/devicehub/logout', {}); } catch { /* the session may be gone already */ }
  endSession();
  navigate('#/login');
}

function endSession() {
  session = null;
  setCsrfToken(null);
  events.stop();
  layout = null;
}

async function loadSession() {
  try {
    const r = await api.request('GET', '/devicehub/session', {noAuthRedirect: true});
    return r.data;
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
}

// After a 401 from any call: back to login, remembering where the user was.
setUnauthorizedHandler(() => {
  if (!session) return;
  const back = location.hash;
  endSession();
  toast('Your session ended. Please sign in again.', 'error');
  location.hash = `#/login?next=${encodeURIComponent(back)}`;
});

async function route() {
  const seq = ++renderSeq;
  const {name, params} = parseHash();
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  const app = document.getElementById('app');
  if (name === 'login') {
    layout = null;
    const root = h('main', {id: 'main', class: 'login-main', tabindex: '-1'});
    fill(app, root);
    await runPage('login', root, params, seq);
    return;
  }
  if (!session) {
    fill(app, loading('Checking your session…'));
    try {
      session = await loadSession();
    } catch (e) {
      fill(app, h('main', {id: 'main'}, errorBox(e, route)));
      return;
    }
    if (seq !== renderSeq) return;
    if (!session) {
      location.replace(`#/login?next=${encodeURIComponent(location.hash || '#/')}`);
      return;
    }
    setCsrfToken(session.csrfToken);
    events.start();
  }
  if (!layout) layout = buildLayout();
  markNav(name);
  const root = clear(layout.main);
  delete root.dataset.page;
  delete root.dataset.ready;
  if (!name) {
    root.dataset.page = 'not-found';
    root.append(h('h1', {}, 'Page not found'), h('p', {}, h('a', {href: '#/'}, 'Back to the fleet')));
    return;
  }
  await runPage(name, root, params, seq);
}

async function runPage(name, root, params, seq) {
  const ctx = {
    api, events, session, params, toast,
    navigate,
    can: (role) => can(session, role),
    // Session set by the login page.
    setSession: (s) => { session = s; setCsrfToken(s.csrfToken); layout = null; events.start(); },
  };
  let mod;
  try {
    mod = await import(`./page-${name}.js`);
  } catch (e) {
    if (seq !== renderSeq) return;
    root.dataset.page = name;
    fill(root, h('h1', {}, 'This page is not available'), errorBox(e));
    return;
  }
  if (seq !== renderSeq) return;
  try {
    const c = await mod.render(root, ctx);
    if (seq !== renderSeq) {
      if (typeof c === 'function') c();
      return;
    }
    cleanup = typeof c === 'function' ? c : null;
    // render() resolves once the page's first data is on screen: tests and bench/dashboard.sh wait for this.
    root.dataset.ready = 'true';
  } catch (e) {
    console.error(e);
    if (seq !== renderSeq) return;
    if (e.status === 401) return;
    root.dataset.page = root.dataset.page || name;
    root.append(errorBox(e, route));
  }
}

window.addEventListener('hashchange', route);
setInterval(() => { if (document.visibilityState === 'visible') refreshRelativeTimes(); }, 15000);
route();
