// Time to the dashboard's first drawn chart, as a user sees it: a signed-in
// tab opens /crm/dashboard.html in Debian's Chromium, and the time from the
// start of the navigation to the page's `crm:first-chart` mark (set right
// after the segment chart is drawn, animations off) is read. Each round is a
// fresh browser context (no cached files, no kept connection).
//
//   node benches/dashboard/first_chart.mjs http://127.0.0.1:8080 admin@crm.local PASSWORD [ROUNDS]
//
// Uses the playwright-core that the dashboard's browser test installs
// (`bash .ci/browser-test` or `npm ci` in examples/crm-server/tests/browser).
import { createRequire } from 'node:module';

const require = createRequire(
  new URL('../../examples/crm-server/tests/browser/package.json', import.meta.url),
);
const { chromium } = require('playwright-core');

const [base, email, password, roundsArg] = process.argv.slice(2);
if (!base || !email || !password) {
  console.error('usage: first_chart.mjs BASE_URL EMAIL PASSWORD [ROUNDS]');
  process.exit(2);
}
const rounds = Number(roundsArg || 15);

const login = await fetch(`${base}/api/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ email, password }),
});
if (!login.ok) {
  console.error(`login failed: ${login.status} ${await login.text()}`);
  process.exit(1);
}
const session = (await login.json()).data;

const browser = await chromium.launch({
  executablePath: process.env.CRM_CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const firstChart = [];
const apiTimes = [];
for (let i = 0; i < rounds; i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((s) => {
    sessionStorage.setItem('crm.session', JSON.stringify(s));
  }, session);
  const page = await context.newPage();
  await page.goto(`${base}/crm/dashboard.html`);
  await page.waitForFunction(() => performance.getEntriesByName('crm:first-chart').length > 0, null, {
    timeout: 30_000,
  });
  const t = await page.evaluate(() => {
    const mark = performance.getEntriesByName('crm:first-chart')[0].startTime;
    const api = performance
      .getEntriesByType('resource')
      .find((r) => r.name.includes('/api/dashboard'));
    return { mark, api: api ? api.responseEnd - api.startTime : null };
  });
  firstChart.push(t.mark);
  if (t.api !== null) apiTimes.push(t.api);
  await context.close();
}
await browser.close();

const fmt = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
console.log(`first chart (ms from navigation start), ${rounds} rounds: ${fmt(firstChart)}`);
console.log(`median ${median(firstChart).toFixed(0)} ms, max ${Math.max(...firstChart).toFixed(0)} ms`);
console.log(`GET /api/dashboard in the page: median ${median(apiTimes).toFixed(1)} ms`);
