// Looking users up, their own addresses, and the paged list of recent users.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  apiAddUser, apiStored, eventually, isolation, launchBrowser, openPage, screenshot, startConsumer,
  startProducer, text,
} from './helpers.js';

let browser;
let live;
const ids = []; // oldest first
before(async () => {
  browser = await launchBrowser();
  const iso = isolation('lookup');
  live = await startProducer(iso);
  await startConsumer(iso);
  for (let i = 1; i <= 12; i += 1) ids.push(await apiAddUser(live.url, { name: `Person ${i}`, email: `person${i}@example.com` }));
  for (const id of ids) await apiStored(live.url, id);
});

test('looking a user up by id shows it, its status and where the answer came from', async () => {
  const page = await openPage(browser, `${live.url}/`);
  await page.fill('#lookup-id', String(ids[2]));
  await page.click('#lookup button[type="submit"]');
  const result = page.locator('#lookup-result');
  await result.locator('.status-stored').waitFor();
  assert.match(await text(page, '#lookup-result h3'), new RegExp(`User ${ids[2]}`));
  assert.equal(await text(page, '#lookup-result .f-name dd'), 'Person 3');
  assert.equal(await text(page, '#lookup-result .f-email dd'), 'person3@example.com');
  assert.ok(['database', 'cache'].includes(await result.locator('.badge.source').getAttribute('data-source')));
  assert.notEqual(await text(page, '#lookup-result .f-created dd'), '–', 'the creation time is shown');
  assert.equal(new URL(page.url()).pathname, `/users/${ids[2]}`, 'the address names the user, to be shared');
  assert.equal(await page.getAttribute('#lookup-result', 'aria-live'), 'polite');
  await screenshot(page, 'lookup-stored');

  await page.goBack();
  assert.equal(new URL(page.url()).pathname, '/');
  await page.locator('#lookup-result:empty').waitFor({ state: 'attached' });
  assert.deepEqual(page.problems, []);
});

test('an unknown id and a malformed id give clear messages', async () => {
  const page = await openPage(browser, `${live.url}/`);
  const unknown = ids.at(-1) + 1000;
  await page.fill('#lookup-id', String(unknown));
  await page.press('#lookup-id', 'Enter');
  await page.locator('#lookup-result .note-problem', { hasText: `No user has the id ${unknown}` }).waitFor();

  await page.fill('#lookup-id', 'ada');
  await page.press('#lookup-id', 'Enter');
  await page.locator('#lookup-error:not([hidden])').waitFor();
  assert.match(await text(page, '#lookup-error'), /“ada” is not a user id/);
  assert.equal(await page.getAttribute('#lookup-id', 'aria-invalid'), 'true');
  await screenshot(page, 'lookup-bad-input');

  // A malformed address gets the same message rather than an error page.
  const direct = await openPage(browser, `${live.url}/users/not-a-number`);
  await direct.locator('#lookup-error:not([hidden])').waitFor();
  assert.match(await text(direct, '#lookup-error'), /is not a user id/);
  assert.deepEqual(page.problems, []);
  assert.deepEqual(direct.problems, []);
});

test('a user\'s own address opens it directly, as /users/ID and as #/users/ID', async () => {
  const id = ids[0];
  const page = await openPage(browser, `${live.url}/users/${id}`);
  assert.equal(page.mainResponse.status(), 200);
  await page.locator('#lookup-result .status-stored').waitFor();
  assert.equal(await text(page, '#lookup-result .f-name dd'), 'Person 1');
  assert.equal(await page.inputValue('#lookup-id'), String(id));
  assert.match(await page.title(), new RegExp(`User ${id}`));
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H3', 'focus moves to the user for screen readers');
  await screenshot(page, 'address-path');

  const hashed = await openPage(browser, `${live.url}/#/users/${ids[1]}`);
  await hashed.locator('#lookup-result .status-stored').waitFor();
  assert.equal(await text(hashed, '#lookup-result .f-name dd'), 'Person 2');
  assert.deepEqual(page.problems, []);
  assert.deepEqual(hashed.problems, []);
});

test('recent users are listed newest first, ten to a page, and open on click', async () => {
  const page = await openPage(browser, `${live.url}/`);
  const names = () => page.locator('#recent-list .who-name').allTextContents();
  await eventually('the first page', async () => (await names()).length === 10);
  assert.deepEqual(await names(), Array.from({ length: 10 }, (_, i) => `Person ${12 - i}`));
  assert.equal(await page.isDisabled('#recent-newer'), true);

  await page.click('#recent-older');
  await eventually('the second page', async () => (await names()).join() === 'Person 2,Person 1');
  assert.equal(await text(page, '#recent-page'), 'Page 2');
  assert.equal(await page.isDisabled('#recent-older'), true, 'there is nothing older');

  await page.click('#recent-newer');
  await eventually('the first page again', async () => (await names())[0] === 'Person 12');

  await page.locator('#recent-list a', { hasText: 'Person 7' }).click();
  await page.locator('#lookup-result .f-name dd', { hasText: 'Person 7' }).waitFor();
  assert.equal(new URL(page.url()).pathname, `/users/${ids[6]}`);
  assert.deepEqual(page.problems, []);
});
