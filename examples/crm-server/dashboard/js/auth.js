// The signed-in session (kept in sessionStorage, so it ends with the tab),
// what each role may see and do, and the page header built for the role.

import { el, fill, byId } from './dom.js';

const KEY = 'crm.session';

/** What each role may do in the dashboard; the server enforces the same. */
export const can = {
  seeAnalytics: (role) => ['admin', 'manager', 'analyst'].includes(role),
  writeCustomers: (role) => ['admin', 'manager'].includes(role),
  earnAndRedeem: (role) => ['admin', 'manager', 'cashier'].includes(role),
  adjustPoints: (role) => ['admin', 'manager'].includes(role),
};

const PAGES = [
  { href: 'dashboard.html', text: 'Dashboard' },
  { href: 'customers.html', text: 'Customers' },
  { href: 'segments.html', text: 'Segments', allow: can.seeAnalytics },
  { href: 'analytics.html', text: 'Analytics', allow: can.seeAnalytics },
];

/** The session, or `null` when there is none or its token has expired. */
export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    if (!s?.token || !s.user) return null;
    if (s.expires_at && Date.parse(s.expires_at) <= Date.now()) return null;
    return s;
  } catch {
    return null;
  }
}

/** Keeps the answer of `POST /api/auth/login`. */
export function saveSession({ token, expires_at, user }) {
  sessionStorage.setItem(KEY, JSON.stringify({ token, expires_at, user }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** Where to come back to after signing in: this page with its query. */
function here() {
  const page = location.pathname.split('/').pop() || 'dashboard.html';
  return page + location.search;
}

/**
 * Ends the session and goes to the sign-in page, which brings the user back
 * here. `reason`: `expired` (a 401 or a closed real-time connection) or
 * `signin`.
 */
export function toLogin(reason = 'signin') {
  clearSession();
  const q = new URLSearchParams({ next: here(), reason });
  location.assign(`login.html?${q}`);
}

/** A `next=` target that stays inside the dashboard (no other origin). */
export function safeNext(next) {
  return next && /^[a-z-]+\.html(\?[^#]*)?$/.test(next) ? next : 'dashboard.html';
}

export function logout() {
  clearSession();
  location.assign('login.html?reason=logout');
}

function header(s) {
  const current = location.pathname.split('/').pop();
  const links = PAGES.filter((p) => !p.allow || p.allow(s.user.role)).map((p) =>
    el('li', {}, el('a', { href: p.href, 'aria-current': p.href === current ? 'page' : null }, p.text)),
  );
  return [
    el('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    el('a', { class: 'brand', href: 'dashboard.html' }, 'CRM'),
    el('nav', { 'aria-label': 'Main' }, el('ul', { class: 'nav' }, links)),
    el(
      'div',
      { class: 'who' },
      el('span', { class: 'user' }, s.user.name || s.user.email, ' ', el('span', { class: 'role' }, `(${s.user.role})`)),
      el('button', { type: 'button', class: 'secondary', onclick: logout }, 'Log out'),
    ),
  ];
}

/**
 * Starts a signed-in page: sends the visitor to sign in when there is no
 * session, builds the header, and when `allow` refuses the role, replaces
 * the page's content with a notice. Returns the session, or `null` when the
 * page must not go on.
 */
export function startPage({ allow } = {}) {
  const s = session();
  if (!s) {
    toLogin('signin');
    return null;
  }
  fill(byId('site-header'), header(s));
  if (allow && !allow(s.user.role)) {
    const main = byId('main');
    const title = main.querySelector('h1')?.textContent || 'This page';
    fill(
      main,
      el('h1', {}, title),
      el('p', { class: 'notice', role: 'alert' }, `${title} is not available for your role (${s.user.role}).`),
      el('p', {}, el('a', { href: 'dashboard.html' }, 'Go to the dashboard')),
    );
    return null;
  }
  return s;
}
