// Adding users through the page, against a real producer and consumer.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  eventually, isolation, launchBrowser, openPage, publishScreenshot, screenshot, stat,
  startConsumer, startProducer, text,
} from './helpers.js';

let browser;
let live; // a producer with a consumer
before(async () => {
  browser = await launchBrowser();
  const iso = isolation('add');
  live = await startProducer(iso);
  await startConsumer(iso);
});

async function addThroughForm(page, name, email) {
  await page.fill('#name', name);
  await page.fill('#email', email ?? '');
  await page.click('#add-submit');
}

test('a new user is followed from acceptance to stored without reloading the page', async () => {
  const page = await openPage(browser, `${live.url}/`);
  await page.evaluate(() => { window.notReloaded = true; });
  await eventually('the stored count to be shown', async () => (await stat(page, 'users')) === 0);

  await addThroughForm(page, 'Grace Hopper', 'grace@example.com');

  const result = page.locator('#add-result');
  await result.locator('h3', { hasText: /User \d+ accepted/ }).waitFor();
  const id = Number((await result.locator('h3').textContent()).match(/\d+/)[0]);
  assert.ok(id > 0, 'the new id is shown');
  await result.locator('.status-stored').waitFor({ timeout: 30000 });
  const source = await result.locator('.badge.source').getAttribute('data-source');
  assert.ok(['database', 'cache'].includes(source), `a stored user is read from the database or the cache, not ${source}`);
  assert.match(await text(page, '#add-result .f-name dd'), /Grace Hopper/);
  assert.match(await text(page, '#add-result .f-email dd'), /grace@example\.com/);
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'the page was not reloaded');
  assert.equal(await page.inputValue('#name'), '', 'the form is emptied for the next user');

  await eventually('the live status to count the new user', async () => (await stat(page, 'users')) === 1);
  await page.locator('#recent-list .who-name', { hasText: 'Grace Hopper' }).waitFor();
  await page.locator('#stat-latest', { hasText: 'Grace Hopper' }).waitFor();
  await screenshot(page, 'add-stored');
  assert.deepEqual(page.problems, []);
});

test('reading a stored user again answers from the cache', async () => {
  const page = await openPage(browser, `${live.url}/`);
  await addThroughForm(page, 'Katherine Johnson', '');
  const result = page.locator('#add-result');
  await result.locator('.status-stored').waitFor({ timeout: 30000 });
  await result.locator('button', { hasText: 'Read again' }).click();
  await result.locator('.badge.source[data-source="cache"]').waitFor();
  assert.equal(await text(page, '#add-result .f-email dd'), '—', 'no email is shown as a dash');
  assert.deepEqual(page.problems, []);
});

test('the form works with the keyboard alone', async () => {
  const page = await openPage(browser, `${live.url}/`);
  await page.keyboard.press('Tab'); // the skip link comes first
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  await page.focus('#name');
  await page.keyboard.type('Dorothy Vaughan');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'email');
  await page.keyboard.type('dorothy@example.com');
  await page.keyboard.press('Enter');
  await page.locator('#add-result .status-stored').waitFor({ timeout: 30000 });
  assert.equal(await page.evaluate(() => document.activeElement.id), 'name', 'focus goes back to the name for the next user');
});

test('users added elsewhere show up in the live status and the recent list', async () => {
  const page = await openPage(browser, `${live.url}/`);
  await eventually('a first count', async () => Number.isFinite(await stat(page, 'users')));
  // /api/stats answers from a read at most a second old, so the page's first count may not have
  // the user the previous test stored yet: the count to compare with is read a second later.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const before = (await (await fetch(`${live.url}/api/stats`)).json()).users;
  const other = await openPage(browser, `${live.url}/`);
  await addThroughForm(other, 'Mary Jackson', 'mary@example.com');
  await other.locator('#add-result .status-stored').waitFor({ timeout: 30000 });

  // The first page was left alone: it learns of the new user by itself.
  await eventually('the other page to count one more user', async () => (await stat(page, 'users')) === before + 1, { timeout: 15000 });
  await page.locator('#recent-list .who-name', { hasText: 'Mary Jackson' }).waitFor({ timeout: 10000 });
  assert.ok((await stat(page, 'consumers')) >= 1, 'a live consumer is counted');
  assert.match(await text(page, '#stat-host'), /\S/, 'the answering host is named');

  // The picture of the page in the README: a user just stored and one looked up.
  await addThroughForm(page, 'Ada Lovelace', 'ada@example.com');
  await page.locator('#add-result .status-stored').waitFor({ timeout: 30000 });
  const id = (await text(page, '#recent-list li:nth-child(2) .meta-id')).replace('#', '');
  await page.fill('#lookup-id', id);
  await page.press('#lookup-id', 'Enter');
  await page.locator('#lookup-result .status-stored').waitFor();
  await eventually('the recent list to show the newest user', async () =>
    (await text(page, '#recent-list li:first-child .who-name')) === 'Ada Lovelace');
  await page.emulateMedia({ reducedMotion: 'reduce' }); // no highlight caught mid-fade
  await page.evaluate(() => window.scrollTo(0, 0));
  publishScreenshot(await screenshot(page, 'overview-desktop'));
  assert.deepEqual(page.problems, []);
  assert.deepEqual(other.problems, []);
});
