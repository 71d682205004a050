// What the page shows when the browser or the server refuses a user. Every
// server error here is real: a request the server refuses, a duplicate email,
// a producer with a tiny rate limit, and one whose Redis does not exist.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  apiAddUser, apiStored, freePort, isolation, launchBrowser, openPage, screenshot, startConsumer,
  startProducer, text,
} from './helpers.js';

let browser;
let iso;
let live;
before(async () => {
  browser = await launchBrowser();
  iso = isolation('errors');
  live = await startProducer(iso);
  await startConsumer(iso);
});

/** Counts the POSTs the page sends, to prove that a refused form sends none. */
function countPosts(page) {
  const posts = [];
  page.on('request', (req) => { if (req.method() === 'POST') posts.push(req); });
  return posts;
}

async function fieldError(page, field) {
  await page.locator(`#${field}-error:not([hidden])`).waitFor();
  assert.equal(await page.getAttribute(`#${field}`, 'aria-invalid'), 'true', `${field} is marked invalid for screen readers`);
  return text(page, `#${field}-error`);
}

test('the browser refuses invalid fields with the server\'s rules and sends nothing', async () => {
  const page = await openPage(browser, `${live.url}/`);
  const posts = countPosts(page);
  await page.click('#add-submit');
  assert.match(await fieldError(page, 'name'), /Enter a name/);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'name', 'the first field at fault gets the focus');

  await page.fill('#name', 'x'.repeat(101));
  assert.match(await fieldError(page, 'name'), /at most 100 characters \(this has 101\)/);
  await page.fill('#name', '😀'.repeat(100));
  await page.locator('#name-error').waitFor({ state: 'hidden' });

  await page.fill('#email', 'ada@example');
  await page.click('#add-submit');
  assert.match(await fieldError(page, 'email'), /domain/);
  await page.fill('#email', 'ada @example.com');
  assert.match(await fieldError(page, 'email'), /spaces/);
  await screenshot(page, 'error-browser-validation');
  assert.equal(posts.length, 0, 'no request was sent');
  assert.deepEqual(page.problems, []);
});

test('a 422 from the server is shown next to the field it names', async () => {
  const page = await openPage(browser, `${live.url}/`);
  // The page never sends what the server would refuse, so switch its checks
  // off the standard way (novalidate) to let the server speak.
  await page.evaluate(() => { document.getElementById('add-form').noValidate = true; });
  const answers = [];
  page.on('response', (res) => { if (res.request().method() === 'POST') answers.push(res.status()); });

  await page.fill('#name', 'a'.repeat(101));
  await page.click('#add-submit');
  await page.locator('#name-error:not([hidden])').waitFor();
  await page.waitForFunction(() => document.querySelector('#add-form').getAttribute('aria-busy') === 'false');
  assert.deepEqual(answers, [422]);
  assert.match(await fieldError(page, 'name'), /100/);

  await page.fill('#name', 'Ada Lovelace');
  await page.fill('#email', 'not-an-address');
  await page.click('#add-submit');
  await page.waitForFunction(() => document.querySelector('#add-form').getAttribute('aria-busy') === 'false');
  assert.deepEqual(answers, [422, 422]);
  assert.match(await fieldError(page, 'email'), /\S/);
  assert.equal(await page.getAttribute('#name', 'aria-invalid'), 'false', 'the name is no longer marked once it is fine');
  await screenshot(page, 'error-422');
  assert.deepEqual(page.problems, []);
});

test('a 409 for an email already stored is shown next to the email', async () => {
  const first = await apiAddUser(live.url, { name: 'Joan Clarke', email: 'joan@example.com' });
  await apiStored(live.url, first);
  const page = await openPage(browser, `${live.url}/`);
  const answers = [];
  page.on('response', (res) => { if (res.request().method() === 'POST') answers.push(res.status()); });
  await page.fill('#name', 'Another Joan');
  await page.fill('#email', 'JOAN@example.com'); // compared case-insensitively
  await page.click('#add-submit');
  assert.match(await fieldError(page, 'email'), /\S/);
  assert.deepEqual(answers, [409]);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'email');
  assert.equal(await page.inputValue('#name'), 'Another Joan', 'what the person typed is kept');
  await screenshot(page, 'error-409');
  assert.deepEqual(page.problems, []);
});

test('a 429 from a rate-limited producer says when to try again', async () => {
  const limited = await startProducer(iso, { name: 'limited', rateLimit: 1, burst: 1 });
  const page = await openPage(browser, `${limited.url}/`);
  const answers = [];
  page.on('response', (res) => { if (res.request().method() === 'POST') answers.push(res.status()); });
  await page.fill('#name', 'First in line');
  await page.click('#add-submit');
  await page.locator('#add-result h3').waitFor();
  await page.fill('#name', 'Second too soon');
  await page.click('#add-submit');
  const banner = page.locator('#add-error[data-kind="rate-limited"]:not([hidden])');
  await banner.waitFor();
  assert.deepEqual(answers, [202, 429]);
  assert.match(await banner.textContent(), /Too many .* Try again in \d+ s/);
  assert.equal(await page.inputValue('#name'), 'Second too soon', 'what the person typed is kept');
  await screenshot(page, 'error-429');
  assert.match(await text(page, '#add-submit'), /Wait \d+ s/, 'the button counts down');
  // The button comes back once Retry-After has passed, and then the user goes
  // through (a limiter may round Retry-After down, so allow it a second go).
  for (let tries = 0; tries < 3 && answers.at(-1) !== 202; tries += 1) {
    await page.locator('#add-submit:not([disabled])').waitFor({ timeout: 15000 });
    const answered = page.waitForResponse((res) => res.request().method() === 'POST');
    await page.click('#add-submit');
    await answered;
  }
  assert.equal(answers.at(-1), 202);
  await page.locator('#add-result .f-name dd', { hasText: 'Second too soon' }).waitFor();
  assert.deepEqual(page.problems, []);
});

test('a 503 when the queue is unreachable says nothing was saved, and the status shows it', async () => {
  // A producer whose Redis is a closed port: the page is served, the API cannot queue.
  const closed = await freePort();
  const down = await startProducer(iso, { name: 'no-redis', redisUrl: `redis://127.0.0.1:${closed}`, ready: false });
  const page = await openPage(browser, `${down.url}/`);
  await page.fill('#name', 'Nobody Saved');
  await page.click('#add-submit');
  const banner = page.locator('#add-error[data-kind="unavailable"]:not([hidden])');
  await banner.waitFor({ timeout: 20000 });
  assert.match(await banner.textContent(), /nothing was saved/);
  assert.match(await banner.textContent(), /Try again in \d+ s/);
  assert.equal(await page.inputValue('#name'), 'Nobody Saved');
  assert.notEqual(await page.getAttribute('#connection', 'data-state'), 'live', 'the live status does not claim all is well');
  await page.locator('#stats-error:not([hidden])').waitFor();
  await screenshot(page, 'error-503');
  assert.deepEqual(page.problems, []);
});

test('the live status says so when the API cannot be reached, and recovers', async () => {
  const port = await freePort();
  const first = await startProducer(iso, { name: 'restarting', port });
  const page = await openPage(browser, `${first.url}/`);
  await page.locator('#connection[data-state="live"]').waitFor();
  await first.stop();
  await page.locator('#connection[data-state="offline"]').waitFor({ timeout: 15000 });
  assert.match(await text(page, '#connection'), /unreachable/i);
  assert.match(await text(page, '#stats-error'), /cannot be reached/);
  await screenshot(page, 'status-offline');
  await startProducer(iso, { name: 'restarted', port });
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: 15000 });
  await page.locator('#stats-error').waitFor({ state: 'hidden' });
});
