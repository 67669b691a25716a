// The web UI in a real Chromium against a real `lode` (see run.sh). Each
// test drives the page like a person would and checks what it shows against
// what Lode's API answers. Prints "N passed, N failed" and exits non-zero
// on any failure.
import fs from 'node:fs';
import path from 'node:path';

const { chromium } = await import(process.env.PLAYWRIGHT_CORE);
const BASE = process.env.LODE_URL;
const AUTH = process.env.LODE_AUTH_URL;
const SHOTS = process.env.SHOTS_DIR;
const ONLY = process.env.LODE_UI_ONLY || '';

// ---- data ------------------------------------------------------------------
const NOW = Date.now();
const ns = (ms) => (BigInt(Math.round(ms)) * 1000000n).toString();
async function push(url, streams, tenant) {
  const headers = { 'Content-Type': 'application/json' };
  if (tenant) headers['X-Scope-OrgID'] = tenant;
  const r = await fetch(url + '/loki/api/v1/push', { method: 'POST', headers, body: JSON.stringify({ streams }) });
  if (r.status !== 204) throw new Error(`push: ${r.status} ${await r.text()}`);
}
async function api(url, p, params, tenant) {
  const u = new URL(url + '/loki/api/v1/' + p);
  for (const [k, v] of Object.entries(params || {})) u.searchParams.set(k, v);
  const r = await fetch(u, { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
  return { status: r.status, body: await r.json() };
}

const checkout = [], payments = [], frontend = [], bulk = [];
for (let i = 0; i < 40; i++) {
  const t = NOW - 9 * 60e3 + i * 10e3;
  const failed = i % 4 === 0;
  checkout.push([ns(t), failed ? `level=error msg="payment failed" order=${i}` : `level=info msg="order placed" order=${i}`, { trace_id: `trace-${i}` }]);
  payments.push([ns(t + 1), JSON.stringify({ level: 'warn', msg: 'slow upstream', latency_ms: 100 + i })]);
}
frontend.push([ns(NOW - 120e3), '\x1b[31mERROR\x1b[0m render failed in \x1b[1mCart\x1b[22m']);
frontend.push([ns(NOW - 110e3), 'user agent <img src="http://example.com/pixel.png"> <script src="https://cdn.example.com/x.js"></script>']);
frontend.push([ns(NOW - 100e3), 'long ' + 'x'.repeat(3000) + ' end']);
for (let i = 0; i < 6000; i++) bulk.push([ns(NOW - 8 * 60e3 + i * 50), `bulk line ${String(i).padStart(5, '0')}`]);

await push(BASE, [
  { stream: { service_name: 'checkout', env: 'prod' }, values: checkout },
  { stream: { service_name: 'payments', env: 'prod' }, values: payments },
  { stream: { service_name: 'frontend', env: 'dev' }, values: frontend },
  { stream: { service_name: 'bulk', env: 'dev' }, values: bulk },
]);
await push(AUTH, [{ stream: { service_name: 'shop' }, values: [[ns(NOW - 60e3), 'alpha tenant secret line']] }], 'alpha');
await push(AUTH, [{ stream: { service_name: 'shop' }, values: [[ns(NOW - 60e3), 'beta tenant secret line']] }], 'beta');
await push(AUTH, [{ stream: { service_name: 'other' }, values: [[ns(NOW - 50e3), 'beta second stream']] }], 'beta');

// ---- harness -----------------------------------------------------------------
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
const foreign = [];
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 375, height: 812 };
async function page(viewport = DESKTOP, opts = {}) {
  const ctx = await browser.newContext({ viewport, colorScheme: opts.colorScheme || 'light', isMobile: viewport === PHONE, hasTouch: viewport === PHONE, deviceScaleFactor: 1 });
  const allowed = new Set([new URL(BASE).host, new URL(AUTH).host]);
  // Every request the page makes, WebSockets included, must go to Lode.
  ctx.on('request', (r) => { const u = new URL(r.url()); if (!['data:', 'blob:'].includes(u.protocol) && !allowed.has(u.host)) foreign.push(r.url()); });
  const p = await ctx.newPage();
  p.on('websocket', (ws) => { const u = new URL(ws.url()); if (!allowed.has(u.host)) foreign.push(ws.url()); });
  const errors = [];
  p.on('pageerror', (e) => errors.push(e.message));
  p.jsErrors = errors;
  return p;
}
const q = (s) => encodeURIComponent(s);
const link = (base, params) => base + '/ui/?' + Object.entries(params).map(([k, v]) => `${k}=${q(v)}`).join('&');
const range = { start: String(Math.floor((NOW - 15 * 60e3) / 1000)), end: String(Math.ceil((NOW + 60e3) / 1000)) };
function expect(cond, msg) { if (!cond) throw new Error(msg); }
function eq(a, b, msg) { if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }
async function rows(p, sel = '#logs .row') { return p.$$eval(sel, (rs) => rs.map((r) => r.querySelector('.line').textContent)); }
async function shot(p, name) { if (!SHOTS) return; await p.evaluate(() => window.scrollTo(0, 0)); await p.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: false }); }
async function noHorizontalScroll(p, what) {
  const [sw, cw] = await p.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  expect(sw <= cw, `${what}: page is ${sw}px wide in a ${cw}px viewport`);
}

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

// ---- tests ---------------------------------------------------------------------
test('a shared link shows the expected lines', async () => {
  const p = await page();
  const query = '{service_name="checkout"} |= "payment failed"';
  await p.goto(link(BASE, { query, ...range }));
  await p.waitForSelector('#logs .row');
  const want = (await api(BASE, 'query_range', { query, start: range.start, end: range.end, limit: '1000' })).body.data.result.flatMap((s) => s.values.map((v) => v[1]));
  const got = await rows(p);
  eq(got.length, 10, 'lines shown');
  eq([...got].sort(), [...want].sort(), 'lines match the API');
  expect(got.every((l) => l.includes('payment failed')), 'every line matches the filter');
  eq(await p.inputValue('#q'), query, 'the editor holds the link\'s query');
  eq(await p.inputValue('#range'), 'custom', 'the link\'s range is absolute');
  // Newest first, like Grafana.
  const ts = await p.$$eval('#logs .row .ts', (xs) => xs.map((x) => x.title));
  eq([...ts].sort().reverse(), ts, 'newest first');
  await p.waitForSelector('#volume svg rect');
  await shot(p, 'query-desktop');
  expect(p.jsErrors.length === 0, 'page errors: ' + p.jsErrors.join('; '));
});

test('typing a query and pressing Ctrl+Enter runs it; the URL follows', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/');
  await p.fill('#q', '{service_name="payments"} | json | latency_ms > 130');
  await p.press('#q', 'Control+Enter');
  await p.waitForSelector('#logs .row');
  const got = await rows(p);
  eq(got.length, 9, 'lines with latency_ms > 130');
  expect(got.every((l) => l.includes('slow upstream')), 'payments lines');
  const url = new URL(p.url());
  eq(url.searchParams.get('query'), '{service_name="payments"} | json | latency_ms > 130', 'the query is in the URL');
  // Detected fields of those lines, from Lode's detected_fields.
  await p.click('#fields-panel summary');
  await p.waitForSelector('#fields button.field-name');
  const fields = await p.$$eval('#fields button.field-name', (bs) => bs.map((b) => b.firstChild.textContent));
  expect(fields.includes('latency_ms') && fields.includes('msg'), 'detected fields: ' + JSON.stringify(fields));
});

test('the browser back button walks the query history', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/');
  await p.fill('#q', '{service_name="checkout"}');
  await p.press('#q', 'Control+Enter');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 40);
  await p.fill('#q', '{service_name="payments"} |= "latency_ms\\":101"');
  await p.press('#q', 'Control+Enter');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 1);
  await p.goBack();
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 40);
  eq(await p.inputValue('#q'), '{service_name="checkout"}', 'the earlier query is back');
});

test('the label browser adds a matcher to the query', async () => {
  const p = await page();
  await p.goto(link(BASE, { query: '{env="prod"}', ...range }));
  await p.waitForSelector('#logs .row');
  eq((await rows(p)).length, 80, 'prod lines');
  await p.click('#labels button.label-name[data-label="service_name"]');
  await p.click('#labels button.label-value[data-label="service_name"]:text-is("payments")');
  await p.waitForFunction(() => document.querySelector('#q').value.includes('service_name="payments"'));
  eq(await p.inputValue('#q'), '{env="prod", service_name="payments"}', 'matcher added inside the selector');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 40);
  expect((await rows(p)).every((l) => l.includes('slow upstream')), 'only payments lines');
});

test('an expanded line shows labels and structured metadata; + refines the query', async () => {
  const p = await page();
  await p.goto(link(BASE, { query: '{service_name="checkout"} |= "order=8"', ...range }));
  await p.waitForSelector('#logs .row');
  await p.click('#logs .row .line');
  await p.waitForSelector('#logs .details');
  const cells = await p.$$eval('#logs .details tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  expect(cells.some((c) => c[0] === 'trace_id' && c[1] === 'trace-8' && c[2] === 'structured metadata'), 'trace_id shown: ' + JSON.stringify(cells));
  expect(cells.some((c) => c[0] === 'env' && c[1] === 'prod' && c[2] === 'label'), 'labels shown');
  const row = p.locator('#logs .details tr', { hasText: 'trace_id' });
  await row.locator('button', { hasText: '+' }).click();
  await p.waitForFunction(() => document.querySelector('#q').value.endsWith('| trace_id="trace-8"'));
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 1);
});

test('a metric query draws a chart with a legend', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/');
  await p.fill('#q', 'sum by (service_name) (count_over_time({env="prod"}[1m]))');
  await p.press('#q', 'Control+Enter');
  await p.waitForSelector('#chart svg path.series');
  eq(await p.$$eval('#chart svg path.series', (ps) => ps.length), 2, 'one line per series');
  const legend = await p.$$eval('#chart .legend button', (bs) => bs.map((b) => b.textContent));
  eq(legend.sort(), ['{service_name="checkout"}', '{service_name="payments"}'], 'legend');
  expect(await p.$$eval('#chart svg path.series', (ps) => ps.every((x) => x.getAttribute('d').length > 10)), 'lines have points');
  expect(await p.isHidden('#logs .row') !== false, 'no log rows for a metric query');
  await shot(p, 'chart-desktop');
  await p.click('#chart .legend button >> nth=0');
  eq(await p.$$eval('#chart svg path.series', (ps) => ps.filter((x) => x.getAttribute('visibility') === 'hidden').length), 1, 'legend toggles a series');
});

test('an instant query shows a table', async () => {
  const p = await page();
  await p.goto(link(BASE, { query: 'sum by (service_name) (count_over_time({env="prod"}[15m]))', mode: 'instant', ...range }));
  await p.waitForSelector('#table table');
  const cells = await p.$$eval('#table tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  eq(cells.sort(), [['checkout', '40'], ['payments', '40']], 'table rows');
});

test('a syntax error shows Loki\'s message and where it is', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/');
  const bad = '{service_name="checkout"';
  await p.fill('#q', bad);
  await p.press('#q', 'Control+Enter');
  await p.waitForSelector('#q-error:not([hidden])');
  const want = (await api(BASE, 'format_query', { query: bad })).body.error;
  eq(want, 'parse error at line 1, col 25: syntax error: unexpected $end, expecting } or ,', 'Loki\'s text from format_query');
  eq(await p.textContent('#q-error-msg'), want, 'message shown');
  eq(await p.textContent('#q-error-caret'), bad + '\n' + ' '.repeat(24) + '^', 'caret under the column');
  await shot(p, 'error-desktop');
});

test('ANSI colours are rendered, markup in lines stays text', async () => {
  const p = await page();
  await p.goto(link(BASE, { query: '{service_name="frontend"}', ...range }));
  await p.waitForSelector('#logs .row');
  const text = await rows(p);
  expect(text.some((l) => l === 'ERROR render failed in Cart'), 'escape codes removed: ' + JSON.stringify(text[2]));
  eq(await p.$$eval('#logs .line .a-31', (xs) => xs.map((x) => x.textContent)), ['ERROR'], 'red span');
  eq(await p.$$eval('#logs .line .a-bold', (xs) => xs.map((x) => x.textContent)), ['Cart'], 'bold span');
  eq(await p.$$eval('#logs .line img, #logs .line script', (xs) => xs.length), 0, 'no element from a line');
  expect(text.some((l) => l.includes('<img src="http://example.com/pixel.png">')), 'markup shown as text');
});

test('5000 lines render and the page stays usable; "load older" pages on', async () => {
  const p = await page();
  await p.goto(link(BASE, { query: '{service_name="bulk"}', limit: '5000', ...range }));
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 5000, null, { timeout: 30000 });
  // Still responsive: a click expands a line.
  await p.click('#logs .row >> nth=4999');
  await p.waitForSelector('#logs .details');
  eq(await p.textContent('#logs .row >> nth=0 >> .line'), 'bulk line 05999', 'newest first');
  await p.click('#older');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 6000, null, { timeout: 30000 });
  const all = await rows(p);
  eq(new Set(all).size, 6000, 'no line twice');
  eq(all[5999], 'bulk line 00000', 'oldest last');
  await p.waitForSelector('#older', { state: 'hidden' });
});

test('live tail shows lines pushed after it started; pause holds them', async () => {
  const p = await page();
  // A live link starts following on its own.
  await p.goto(link(BASE, { view: 'live', query: '{service_name="live"}' }));
  await p.waitForFunction(() => document.querySelector('#live-state').textContent === 'Following.').catch(async (e) => { throw new Error(e.message + ' state: ' + await p.textContent('#live-state') + ' errors: ' + p.jsErrors.join(';') + await p.textContent('#live-error')); });
  const first = `live line one ${Date.now()}`;
  await push(BASE, [{ stream: { service_name: 'live' }, values: [[ns(Date.now()), first]] }]);
  await p.waitForFunction((t) => [...document.querySelectorAll('#live-logs .line')].some((l) => l.textContent === t), first, { timeout: 15000 });
  await p.click('#live-pause');
  const second = `live line two ${Date.now()}`;
  await push(BASE, [{ stream: { service_name: 'live' }, values: [[ns(Date.now()), second]] }]);
  await p.waitForFunction(() => /new lines? waiting/.test(document.querySelector('#live-state').textContent), null, { timeout: 15000 });
  expect(!(await rows(p, '#live-logs .row')).includes(second), 'paused: not shown yet');
  await shot(p, 'live-desktop');
  await p.click('#live-pause');
  await p.waitForFunction((t) => [...document.querySelectorAll('#live-logs .line')].some((l) => l.textContent === t), second);
});

test('the status view shows the stream count', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/?view=status');
  await p.waitForSelector('#card-streams');
  const series = (await api(BASE, 'series', { 'match[]': '{service_name=~".+"}', start: range.start, end: String(Math.ceil(Date.now() / 1000) + 60) })).body.data.length;
  expect(series >= 4, 'pushed streams are listed by the API');
  await p.waitForFunction((n) => document.querySelector('#card-streams .s').textContent.startsWith(`${n} streams known`), series, { timeout: 10000 });
  eq(await p.textContent('#card-tenant .v'), 'fake', 'tenant');
  eq(await p.textContent('#card-retention .v'), '30d', 'retention');
  expect((await p.textContent('#card-version .s')) === 'Loki API 3.7.6', 'version');
  expect((await p.textContent('#config')).includes('retention_period'), 'effective config');
  await shot(p, 'status-desktop');
});

test('a delete request can be created and cancelled', async () => {
  const p = await page();
  await p.goto(BASE + '/ui/?view=status');
  await p.fill('#delete-q', '{service_name="frontend"}');
  await p.click('#delete-create');
  await p.waitForSelector('#deletes tr[data-status="received"]');
  let listed = (await api(BASE, 'delete')).body;
  eq(listed.map((d) => [d.query, d.status]), [['{service_name="frontend"}', 'received']], 'recorded by Lode');
  await p.click('#deletes button.cancel-delete');
  await p.waitForSelector('#deletes tr[data-status="received"]', { state: 'detached' });
  listed = (await api(BASE, 'delete')).body;
  eq(listed, [], 'cancelled in Lode');
  eq((await api(BASE, 'query_range', { query: '{service_name="frontend"}', start: range.start, end: range.end })).body.data.result[0].values.length, 3, 'lines still there');
});

test('with auth_enabled the UI shows one tenant\'s data only', async () => {
  const p = await page();
  await p.goto(link(AUTH, { query: '{service_name=~".+"}', orgId: 'alpha', ...range }));
  await p.waitForSelector('#logs .row');
  eq(await rows(p), ['alpha tenant secret line'], 'alpha\'s lines');
  expect(await p.isVisible('#tenant'), 'tenant field shown');
  await p.fill('#tenant', 'beta');
  await p.press('#tenant', 'Enter');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 2);
  eq((await rows(p)).sort(), ['beta second stream', 'beta tenant secret line'], 'beta\'s lines');
  eq(new URL(p.url()).searchParams.get('orgId'), 'beta', 'tenant in the link');
  await p.click('#nav-status');
  await p.waitForSelector('#card-streams');
  eq(await p.textContent('#card-tenant .v'), 'beta', 'status of beta');
  eq(await p.textContent('#card-streams .v'), '2', 'beta\'s active streams');
  eq(await p.$$eval('#card-disk, #card-wal', (x) => x.length), 0, 'no store-wide figures');
  eq(await p.textContent('#card-ingested .v'), '2 lines', 'beta\'s own ingestion');
  // Live tail carries the tenant too.
  await p.click('#nav-live');
  await p.fill('#live-q', '{service_name="shop"}');
  await p.click('#live-start');
  await p.waitForFunction(() => document.querySelectorAll('#live-logs .row').length === 1, null, { timeout: 15000 });
  eq(await rows(p, '#live-logs .row'), ['beta tenant secret line'], 'tail of beta');
});

test('at 375 px no view scrolls sideways', async () => {
  const p = await page(PHONE);
  await p.goto(link(BASE, { query: '{service_name="frontend"}', ...range }));
  await p.waitForSelector('#logs .row');
  await p.click('#logs .row >> nth=0 >> .line');
  await noHorizontalScroll(p, 'logs');
  await p.fill('#q', '{service_name="checkout"}');
  await p.press('#q', 'Control+Enter');
  await p.waitForFunction(() => document.querySelectorAll('#logs .row').length === 40);
  await p.click('#logs .row >> nth=1 >> .line');
  await noHorizontalScroll(p, 'logs');
  await shot(p, 'query-phone');
  await p.fill('#q', 'sum by (service_name) (count_over_time({env="prod"}[1m]))');
  await p.press('#q', 'Control+Enter');
  await p.waitForSelector('#chart svg path.series');
  await noHorizontalScroll(p, 'chart');
  await shot(p, 'chart-phone');
  await p.goto(link(BASE, { view: 'live', query: '{service_name="frontend"}' }));
  await p.waitForFunction(() => document.querySelectorAll('#live-logs .row').length === 3, null, { timeout: 15000 });
  await noHorizontalScroll(p, 'live');
  await shot(p, 'live-phone');
  await p.goto(BASE + '/ui/?view=status');
  await p.waitForSelector('#card-streams');
  await p.click('#config-panel summary');
  await noHorizontalScroll(p, 'status');
  await shot(p, 'status-phone');
});

test('dark theme follows the system', async () => {
  const p = await page(DESKTOP, { colorScheme: 'dark' });
  await p.goto(link(BASE, { query: '{env="prod"}', ...range }));
  await p.waitForSelector('#logs .row');
  const bg = await p.evaluate(() => getComputedStyle(document.body).backgroundColor);
  eq(bg, 'rgb(18, 22, 28)', 'dark background');
  await p.waitForSelector('#volume svg rect');
  await shot(p, 'query-dark-desktop');
});

test('/ leads to the UI and the page asks nothing of any other host', async () => {
  const p = await page();
  await p.goto(BASE + '/');
  eq(new URL(p.url()).pathname, '/ui/', 'redirected');
  const r = await fetch(BASE + '/ui/');
  expect((r.headers.get('content-security-policy') || '').includes("default-src 'none'"), 'CSP header');
  eq(foreign, [], 'requests to other hosts (all tests so far)');
});

// ---- run ---------------------------------------------------------------------------
let passed = 0, failed = 0;
for (const t of tests) {
  if (ONLY && !t.name.includes(ONLY)) continue;
  try {
    await Promise.race([t.fn(), new Promise((_, rej) => setTimeout(() => rej(new Error('timed out after 60 s')), 60000))]);
    console.log('PASS ' + t.name);
    passed++;
  } catch (e) {
    console.log('FAIL ' + t.name + '\n     ' + String(e.message || e).split('\n').join('\n     '));
    failed++;
  }
}
await browser.close();
console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
