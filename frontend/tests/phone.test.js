// The page on a phone-sized screen (390 × 844), in the dark colour scheme.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  PHONE, eventually, isolation, launchBrowser, openPage, screenshot, stat, startConsumer, startProducer, text,
} from './helpers.js';

let browser;
let live;
before(async () => {
  browser = await launchBrowser();
  const iso = isolation('phone');
  live = await startProducer(iso);
  await startConsumer(iso);
});

const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

test('on a phone a user can be added, followed and found, with nothing wider than the screen', async () => {
  const page = await openPage(browser, `${live.url}/`, { ...PHONE, colorScheme: 'dark' });
  await page.locator('#connection[data-state="live"]').waitFor();
  assert.equal(await overflow(page), 0, 'no sideways scrolling');

  await page.tap('#name');
  await page.fill('#name', 'Margaret Hamilton, who wrote the Apollo guidance software');
  await page.fill('#email', 'margaret.hamilton.apollo@very-long-domain-name.example.com');
  await page.tap('#add-submit');
  await page.locator('#add-result .status-stored').waitFor({ timeout: 30000 });
  await eventually('the live status to count the user', async () => (await stat(page, 'users')) === 1);
  await page.locator('#recent-list .who-name', { hasText: 'Margaret Hamilton' }).waitFor();
  assert.equal(await overflow(page), 0, 'long names and addresses wrap or are cut, never widen the page');

  const box = await page.locator('#add-submit').boundingBox();
  assert.ok(box.height >= 44, `the button is big enough to tap (${box.height}px)`);
  await screenshot(page, 'phone-added');

  const id = (await text(page, '#add-result h3')).match(/\d+/)[0];
  const direct = await openPage(browser, `${live.url}/users/${id}`, { ...PHONE, colorScheme: 'dark' });
  await direct.locator('#lookup-result .status-stored').waitFor();
  const top = await direct.locator('#lookup').boundingBox();
  assert.ok(top.y < 844, 'the user opened by its address is on screen without scrolling');
  assert.equal(await overflow(direct), 0);
  await screenshot(direct, 'phone-address');
  assert.deepEqual(page.problems, []);
  assert.deepEqual(direct.problems, []);
});
