// Browser test of the dashboard served by crm-server at /crm/.
//
//   CRM_URL=http://127.0.0.1:18093 CRM_ADMIN_EMAIL=... CRM_ADMIN_PASSWORD=... \
//     node --test --test-concurrency=1 dashboard.test.mjs
//
// (.ci/browser-test starts a server and runs this.) Chromium is Debian's
// (/usr/bin/chromium, or CRM_CHROMIUM); nothing downloads a browser. The
// server allows 10 logins a minute per address, so only the tests about
// signing in use the form; the others start with a session put in
// sessionStorage, as the login page leaves it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const HERE = path.dirname(fileURLToPath(import.meta.url));
const DASHBOARD_DIR = path.resolve(HERE, '../../dashboard');
const ARTIFACTS = path.join(HERE, 'artifacts');
const BASE = (process.env.CRM_URL || 'http://127.0.0.1:8090').replace(/\/$/, '');
const ADMIN = { email: process.env.CRM_ADMIN_EMAIL || 'admin@crm.local', password: process.env.CRM_ADMIN_PASSWORD || 'change-me-please' };
const WIDTHS = [375, 1280];
const SUFFIX = Date.now().toString(36);

let browser;
let admin; // the answer of POST /api/auth/login: {token, expires_at, user}
let cashier;
let searched; // the customer the search test creates and opens
let sample; // a seeded customer with purchases, for the detail page checks
let detailPage; // the detail page left open by the search test
let cashierPage; // the cashier's detail page, left open for the revocation test

async function call(method, url, body, token = admin?.token) {
  const res = await fetch(`${BASE}${url}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** A page with its own context, collecting console errors, page errors and requests. */
async function open({ width = 1280, session = admin } = {}) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  if (session) {
    // Seeded once per tab: a later logout must stay logged out.
    await context.addInitScript((s) => {
      if (!sessionStorage.getItem('crm.test.seeded')) {
        sessionStorage.setItem('crm.test.seeded', '1');
        sessionStorage.setItem('crm.session', s);
      }
    }, JSON.stringify(session));
  }
  const page = await context.newPage();
  page.setDefaultTimeout(20000);
  page.problems = [];
  page.requested = [];
  page.on('console', (m) => m.type() === 'error' && page.problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => page.requested.push(r.url()));
  return page;
}

async function close(page) {
  await page?.context().close();
}

/** What shows that each page has rendered its data. */
const PAGES = {
  login: { path: 'login.html', ready: '#login-form', session: null },
  dashboard: { path: 'dashboard.html', ready: '#segment-data table' },
  customers: { path: 'customers.html', ready: '#customer-table table' },
  'customer-detail': { path: () => `customer-detail.html?id=${sample.id}`, ready: '#lots table' },
  segments: { path: 'segments.html', ready: '#rfm-grid table' },
  analytics: { path: 'analytics.html', ready: '#cohorts table, #cohorts p:not(.muted)' },
};

const url = (p) => `${BASE}/crm/${typeof p === 'function' ? p() : p}`;

let axeSource;

async function axeViolations(page) {
  // Evaluated, not added as a <script>: the pages' CSP allows no inline script.
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
}

before(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CRM_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  admin = (await call('POST', '/api/auth/login', ADMIN, null)).data;
  const cashierUser = { email: `cashier-${SUFFIX}@crm.local`, password: 'cashier-password-1', role: 'cashier' };
  cashier = { ...cashierUser, id: (await call('POST', '/api/users', cashierUser)).data.id };
  // A seeded customer with purchases (demo data), else any customer.
  const champions = await call('GET', '/api/customers?segment=CHAMPION&limit=1').catch(() => null);
  sample = champions?.data?.[0] || (await call('GET', '/api/customers?limit=1')).data[0];
  assert.ok(sample, 'the server has customers (demo data)');
});

after(async () => {
  await close(detailPage);
  await close(cashierPage);
  await browser?.close();
});

test('the vendored Chart.js is the pinned npm file, byte for byte, and is what the server sends', async () => {
  const pinned = JSON.parse(await readFile(path.join(HERE, 'package.json'), 'utf8')).devDependencies['chart.js'];
  const chartjs = path.join(HERE, 'node_modules/chart.js');
  const installed = JSON.parse(await readFile(path.join(chartjs, 'package.json'), 'utf8')).version;
  assert.equal(installed, pinned, 'npm ci installed the pinned chart.js');
  const vendored = await readFile(path.join(DASHBOARD_DIR, 'vendor/chart.umd.min.js'));
  const upstream = await readFile(path.join(chartjs, 'dist/chart.umd.min.js'));
  assert.ok(vendored.equals(upstream), 'dashboard/vendor/chart.umd.min.js differs from node_modules/chart.js/dist/chart.umd.min.js');
  const licence = await readFile(path.join(DASHBOARD_DIR, 'vendor/chart.js.LICENSE.md'), 'utf8');
  assert.match(licence, new RegExp(`Chart\\.js ${pinned.replace(/\./g, '\\.')}`), 'the licence file names the vendored version');
  const served = Buffer.from(await (await fetch(`${BASE}/crm/vendor/chart.umd.min.js`)).arrayBuffer());
  assert.ok(served.equals(vendored), 'the server sends the vendored file');
});

test('the dashboard files name no external URL (nothing is fetched from elsewhere)', async () => {
  const offenders = [];
  for (const dir of ['', 'js', 'css']) {
    for (const name of await readdir(path.join(DASHBOARD_DIR, dir))) {
      if (!/\.(html|js|css)$/.test(name)) continue;
      const text = await readFile(path.join(DASHBOARD_DIR, dir, name), 'utf8');
      if (/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i.test(text.replace(/\/\/ .*$/gm, ''))) offenders.push(path.join(dir, name));
    }
  }
  assert.deepEqual(offenders, []);
});

test('sign in through the form, search a customer and open its detail page', async () => {
  const name = `Zebedee Browsertest ${SUFFIX}`;
  searched = (await call('POST', '/api/customers', { name, customer_type: 'RETAIL', tags: ['browser-test'] })).data;
  const page = await open({ session: null });
  await page.goto(url('customers.html'));
  // No session: sent to sign in, with the way back.
  await page.waitForURL(/login\.html\?next=customers\.html/);
  await page.getByLabel('Email').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/crm\/customers\.html/);
  assert.ok(await page.evaluate(() => JSON.parse(sessionStorage.getItem('crm.session')).token), 'the token is in sessionStorage');
  await page.getByLabel('Search by name, code, email or phone').fill(`Zebedee Browsertest ${SUFFIX}`);
  // The search runs as one types (the address keeps it) and narrows the list to the one customer.
  await page.waitForURL(/customers\.html\?q=Zebedee/);
  await page.locator('#list-status', { hasText: 'Customers 1 to 1 of 1.' }).waitFor();
  assert.equal(await page.locator('#customer-table tbody tr').count(), 1);
  const link = page.locator('#customer-table').getByRole('link', { name });
  await link.click();
  await page.waitForURL(new RegExp(`customer-detail\\.html\\?id=${searched.id}$`));
  await page.locator('#customer-name', { hasText: name }).waitFor();
  await page.locator('#lots table').waitFor();
  assert.equal((await page.locator('#points-balance').textContent()).trim(), '0');
  detailPage = page;
});

test('points earned through the API change the balance on the open detail page without a reload', async () => {
  assert.ok(detailPage, 'the search test left the detail page open');
  const page = detailPage;
  await page.locator('#live-status[data-state="live"]').waitFor();
  const navigations = [];
  page.on('framenavigated', (f) => f === page.mainFrame() && navigations.push(f.url()));
  const earned = (await call('POST', `/api/customers/${searched.id}/loyalty/earn`, { points: 1500, reference_type: 'test', reference_id: `earn-${SUFFIX}` })).data;
  assert.equal(earned.entry.balance_after, 1500);
  await page.locator('#points-balance', { hasText: '1.500' }).waitFor();
  // The summary is fetched again: the new lot shows.
  await page.locator('#lots tbody td', { hasText: '1.500' }).first().waitFor();
  assert.deepEqual(navigations, [], 'the page did not reload');
  assert.deepEqual(page.problems, []);
});

test('the create form shows all four field errors, each next to its field', async () => {
  const page = await open();
  await page.goto(url('customers.html'));
  await page.locator('#customer-table table').waitFor();
  await page.getByRole('button', { name: 'New customer' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Name').fill('');
  await dialog.getByLabel('Email').fill('not-an-email');
  await dialog.getByLabel('Phone').fill('12ab');
  await dialog.getByLabel('Credit limit (Rp)').fill('-5');
  await dialog.getByRole('button', { name: 'Save' }).click();
  for (const field of ['name', 'email', 'phone', 'credit_limit']) {
    const input = dialog.locator(`[name="${field}"]`);
    const error = input.locator('xpath=ancestor::div[contains(@class,"field")][1]').locator('.field-error');
    await error.filter({ hasText: /\S/ }).waitFor();
    assert.equal(await input.getAttribute('aria-invalid'), 'true', `${field} is marked invalid`);
    const describedBy = (await input.getAttribute('aria-describedby')).split(' ');
    assert.ok(describedBy.includes(await error.getAttribute('id')), `${field} points to its error`);
  }
  assert.ok(await dialog.isVisible(), 'the form stays open');
  await close(page);
});

test('a cashier sees no analytics, no segments and no adjust button', async () => {
  const page = await open({ session: null });
  await page.goto(url('login.html'));
  await page.getByLabel('Email').fill(cashier.email);
  await page.getByLabel('Password').fill(cashier.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/crm\/dashboard\.html/);
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Customers' }).waitFor();
  assert.equal(await nav.getByRole('link', { name: 'Analytics' }).count(), 0, 'no analytics link');
  assert.equal(await nav.getByRole('link', { name: 'Segments' }).count(), 0, 'no segments link');
  for (const p of ['analytics.html', 'segments.html']) {
    await page.goto(url(p));
    await page.getByText('not available for your role').waitFor();
    assert.equal(await page.locator('canvas').count(), 0, `${p} draws nothing for a cashier`);
  }
  await page.goto(url(`customer-detail.html?id=${searched.id}`));
  await page.locator('#lots table').waitFor();
  assert.ok(await page.getByRole('button', { name: 'Earn' }).isVisible(), 'a cashier can earn');
  assert.ok(await page.getByRole('button', { name: 'Redeem' }).isVisible(), 'a cashier can redeem');
  assert.equal(await page.getByRole('button', { name: 'Adjust' }).count(), 0, 'no adjust button');
  assert.equal(await page.locator('#analytics-card').isVisible(), false, 'no customer analytics');
  // Redeem through the form works for a cashier.
  await page.getByLabel('Points', { exact: true }).fill('500');
  await page.getByRole('button', { name: 'Redeem' }).click();
  await page.locator('#points-balance', { hasText: '1.000' }).waitFor();
  assert.deepEqual(page.problems, []);
  cashierPage = page;
});

test('a revoked token closes the live connection (4003) and leads back to sign in', async () => {
  assert.ok(cashierPage, 'the cashier test left the detail page open');
  const page = cashierPage;
  await page.locator('#live-status[data-state="live"]').waitFor();
  await call('POST', `/api/users/${cashier.id}/disable`);
  await page.waitForURL(/login\.html\?next=customer-detail\.html%3Fid%3D\d+&reason=expired/, { timeout: 15000 });
  await page.getByText('Your session has ended').waitFor();
});

test('an expired or revoked token leads back to sign in, keeping the page to return to', async () => {
  const page = await open({ session: { ...admin, token: 'not-a-valid-token' } });
  await page.goto(url(`customer-detail.html?id=${sample.id}`));
  await page.waitForURL(/login\.html\?next=customer-detail\.html%3Fid%3D\d+&reason=expired/);
  await page.getByText('Your session has ended').waitFor();
  await close(page);
});

test('log out ends the session', async () => {
  const page = await open();
  await page.goto(url('dashboard.html'));
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL(/login\.html/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('crm.session')), null);
  await page.goto(url('dashboard.html'));
  await page.waitForURL(/login\.html\?next=dashboard\.html/);
  await close(page);
});

test('the dashboard draws its charts, marks the first one, and shows new customers live', async () => {
  const page = await open();
  await page.goto(url('dashboard.html'));
  await page.waitForFunction(() => performance.getEntriesByName('crm:first-chart').length > 0);
  const drawn = await page.evaluate(() => ({
    mark: performance.getEntriesByName('crm:first-chart')[0].startTime,
    charts: [...document.querySelectorAll('canvas')].filter((c) => window.Chart.getChart(c)).length,
    customers: document.getElementById('kpi-customers').textContent,
  }));
  assert.ok(drawn.charts >= 2, `two charts drawn, found ${drawn.charts}`);
  assert.match(drawn.customers, /^\d[\d.]*$/, 'the customers KPI shows a number');
  console.log(`# crm:first-chart at ${drawn.mark.toFixed(0)} ms after navigation start`);
  // The live feed shows a new customer and counts it.
  await page.locator('#live-status[data-state="live"]').waitFor();
  const created = (await call('POST', '/api/customers', { name: `Feed Arrival ${SUFFIX}` })).data;
  await page.locator('#feed li[data-event="new_customer"]', { hasText: created.customer_code }).waitFor();
  const before = Number(drawn.customers.replace(/\D/g, ''));
  assert.equal(await page.locator('#kpi-customers').textContent(), (before + 1).toLocaleString('id-ID'));
  await close(page);
});

test('a customer created through the API appears on the open customers page without a reload', async () => {
  const page = await open();
  await page.goto(url('customers.html'));
  await page.locator('#customer-table table').waitFor();
  await page.locator('#live-status[data-state="live"]').waitFor();
  const created = (await call('POST', '/api/customers', { name: `Live Arrival ${SUFFIX}`, customer_type: 'CORPORATE' })).data;
  await page.locator(`#customer-row-${created.id}`).waitFor();
  assert.equal(await page.locator('#customer-table tbody tr').first().getAttribute('id'), `customer-row-${created.id}`, 'prepended at the top');
  await close(page);
});

for (const [name, spec] of Object.entries(PAGES)) {
  for (const width of WIDTHS) {
    test(`${name} at ${width} px: renders, no console error, no horizontal overflow, no serious axe violation`, async () => {
      const page = await open({ width, session: spec.session === null ? null : admin });
      await page.goto(url(spec.path));
      await page.locator(spec.ready).first().waitFor({ state: 'attached' });
      await page.waitForLoadState('load');
      assert.equal(await page.locator('main').count(), 1, 'one <main>');
      assert.equal(await page.locator('h1').count(), 1, 'one <h1>');
      assert.ok(await page.locator('html').getAttribute('lang'), 'lang on <html>');
      const overflow = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
      assert.ok(overflow.scroll <= overflow.inner, `no horizontal overflow (${overflow.scroll} > ${overflow.inner})`);
      await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
      const origin = new URL(BASE);
      const elsewhere = page.requested.filter((r) => !r.startsWith('data:') && new URL(r).host !== origin.host);
      assert.deepEqual(elsewhere, [], 'nothing is fetched from another host');
      assert.deepEqual(await axeViolations(page), []);
      assert.deepEqual(page.problems, [], 'no console errors');
      await close(page);
    });
  }
}
