// The page itself: served by the producer with its security headers, built
// only from its own files, labelled for screen readers.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { DESKTOP, isolation, launchBrowser, openPage, startConsumer, startProducer } from './helpers.js';

let browser;
let live;
before(async () => {
  browser = await launchBrowser();
  const iso = isolation('page');
  live = await startProducer(iso);
  await startConsumer(iso);
});

test('the producer serves the page at / and /users/ID with strict security headers', async () => {
  for (const path of ['/', '/users/42']) {
    const res = await fetch(live.url + path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type'), /text\/html/, path);
    const csp = res.headers.get('content-security-policy') || '';
    for (const rule of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"]) {
      assert.ok(csp.includes(rule), `${path}: the CSP has ${rule}: ${csp}`);
    }
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
    assert.match(await res.text(), /<script type="module" src="\/app.js">/, path);
  }
  for (const [path, type] of [['/app.js', /javascript/], ['/style.css', /text\/css/], ['/favicon.svg', /image\/svg/]]) {
    const res = await fetch(live.url + path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type'), type, path);
  }
});

test('the page loads only its own files and breaks none of its security policy', async () => {
  const page = await openPage(browser, `${live.url}/users/1`);
  const requested = [];
  page.on('request', (req) => requested.push(req.url()));
  await page.reload();
  await page.locator('#connection[data-state="live"]').waitFor();
  for (const url of requested) assert.ok(url.startsWith(live.url), `only its own origin: ${url}`);
  // Inline scripts or styles would be refused by the CSP, and say so on the console.
  assert.deepEqual(page.problems, []);
  const inline = await page.evaluate(() => document.querySelectorAll('[style], style, script:not([src])').length);
  assert.equal(inline, 0, 'no inline style or script');
});

test('Swagger UI at /docs renders the API under a policy with no inline exception', async () => {
  const context = await browser.newContext(DESKTOP);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // A refused script or style says so on the console; a missing file is named by its answer
  // (the browser asks for /favicon.ico, which the producer does not have).
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) problems.push(`console: ${msg.text()}`);
  });
  page.on('response', (resp) => {
    if (resp.status() >= 400 && !resp.url().endsWith('/favicon.ico')) problems.push(`${resp.status()} ${resp.url()}`);
  });
  const res = await page.goto(`${live.url}/docs`);
  assert.equal(res.status(), 200);
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'sha256-/, csp);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, csp);
  await page.locator('.opblock-summary-path', { hasText: '/api/users' }).first().waitFor();
  assert.deepEqual(problems, [], 'nothing refused by the policy, no script error');
  await context.close();
});

test('every control has a name and status changes are announced', async () => {
  const page = await openPage(browser, `${live.url}/`);
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, button, a')]
    .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || el.textContent.trim()))
    .map((el) => el.outerHTML));
  assert.deepEqual(unnamed, []);
  for (const selector of ['#add-result', '#lookup-result', '#recent-state']) {
    assert.equal(await page.getAttribute(selector, 'aria-live'), 'polite', selector);
  }
  assert.equal(await page.getAttribute('#connection', 'role'), 'status');
  assert.equal(await page.getAttribute('#add-error', 'role'), 'alert');
  assert.equal(await page.locator('h1').count(), 1);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
});

test('over plain HTTP on a host name (as behind the load balancer) users can still be added', async () => {
  // Not localhost and not HTTPS: no secure context, so no crypto.randomUUID or clipboard.
  const remote = await launchBrowser(['--host-resolver-rules=MAP registry.example 127.0.0.1']);
  const page = await openPage(remote, `http://registry.example:${live.port}/`);
  assert.equal(await page.evaluate(() => window.isSecureContext), false);
  const posted = page.waitForRequest((req) => req.method() === 'POST');
  await page.fill('#name', 'Plain HTTP');
  await page.click('#add-submit');
  const key = (await posted).headers()['idempotency-key'];
  assert.match(key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'an Idempotency-Key is sent');
  await page.locator('#add-result .status-stored').waitFor({ timeout: 30000 });
  assert.equal(await page.locator('#add-result [data-role="copy"]').count(), 0, 'no copy button without a clipboard');
  assert.deepEqual(page.problems, []);
});
