// A user accepted while no consumer runs: the page shows it waiting in the
// queue, then stored as soon as a consumer starts, without a reload.

import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import {
  consumerCli, eventually, isolation, launchBrowser, openPage, screenshot, sql, stat, startConsumer, startProducer, text,
} from './helpers.js';

let browser;
let iso;
let producer;
before(async () => {
  browser = await launchBrowser();
  iso = isolation('queue');
  producer = await startProducer(iso);
});

test('a user waits in the queue while no consumer runs, and is stored once one starts', async () => {
  const page = await openPage(browser, `${producer.url}/`);
  await eventually('the live status to show no consumer', async () => (await stat(page, 'consumers')) === 0);

  await page.fill('#name', 'Hedy Lamarr');
  await page.fill('#email', 'hedy@example.com');
  await page.click('#add-submit');

  const result = page.locator('#add-result');
  await result.locator('.status-pending').waitFor();
  assert.equal(await result.locator('.badge.source').getAttribute('data-source'), 'queue', 'a pending user is answered from the queue');
  assert.equal(await text(page, '#add-result .steps [aria-current="step"]'), 'In the queue');
  await eventually('the live status to count one pending message', async () => (await stat(page, 'pending')) === 1);
  await result.locator('.note', { hasText: 'no consumer is running' }).waitFor({ timeout: 15000 });
  await screenshot(page, 'queue-pending');

  await startConsumer(iso);
  await result.locator('.status-stored').waitFor({ timeout: 30000 });
  assert.match(await text(page, '#add-result .f-name dd'), /Hedy Lamarr/);
  await eventually('the live status to show the stored user and the consumer', async () =>
    (await stat(page, 'users')) === 1 && (await stat(page, 'pending')) === 0 && (await stat(page, 'consumers')) >= 1,
  { timeout: 20000 });
  await screenshot(page, 'queue-stored');
  assert.deepEqual(page.problems, []);
});

test('a duplicate email that slips past the producer is shown rejected, with the reason', async () => {
  // Both are accepted while no consumer runs (neither email is stored yet);
  // the consumer then stores one and must refuse the other.
  const twins = isolation('twins');
  const twinProducer = await startProducer(twins, { name: 'twins' });
  const pages = [];
  for (const name of ['Twin One', 'Twin Two']) {
    const page = await openPage(browser, `${twinProducer.url}/`);
    await page.fill('#name', name);
    await page.fill('#email', 'twin@example.com');
    await page.click('#add-submit');
    await page.locator('#add-result .status-pending').waitFor();
    pages.push(page);
  }
  await startConsumer(twins, { name: 'twins-consumer' });
  const statuses = [];
  for (const page of pages) {
    const badge = page.locator('#add-result .status-stored, #add-result .status-rejected');
    await badge.waitFor({ timeout: 30000 });
    statuses.push(await badge.getAttribute('data-status'));
  }
  assert.deepEqual([...statuses].sort(), ['rejected', 'stored'], 'one twin stored, the other refused');
  const rejected = pages[statuses[0] === 'rejected' ? 0 : 1];
  assert.match(await text(rejected, '#add-result .reason'), /Refused: \S+/);
  assert.equal(await text(rejected, '#add-result .steps li:last-child'), 'Rejected');
  await screenshot(rejected, 'queue-rejected');
  for (const page of pages) assert.deepEqual(page.problems, []);
});

test('a user whose message cannot be stored is shown failed, with the reason, and stored once requeued', async () => {
  const failing = isolation('failing');
  const failingProducer = await startProducer(failing, { name: 'failing' });
  // An operator narrows the column: this name no longer fits, so the consumer dead-letters it.
  sql(failing, 'ALTER TABLE users MODIFY name VARCHAR(4) NOT NULL');
  const page = await openPage(browser, `${failingProducer.url}/`);
  await page.fill('#name', 'Katherine Johnson');
  await page.click('#add-submit');
  await page.locator('#add-result .status-pending').waitFor();
  await startConsumer(failing, { name: 'failing-consumer' });
  const result = page.locator('#add-result');
  await result.locator('.status-failed').waitFor({ timeout: 30000 });
  assert.match(await text(page, '#add-result .reason'), /Could not be stored: .*too long.*dead-letter list/);
  assert.equal(await text(page, '#add-result .steps li:last-child'), 'Failed');
  await screenshot(page, 'queue-failed');

  sql(failing, 'ALTER TABLE users MODIFY name VARCHAR(100) NOT NULL');
  assert.match(consumerCli(failing, ['dead', 'requeue']), /re-queued 1/);
  await page.click('#add-result [data-role="reload"]');
  await result.locator('.status-stored').waitFor({ timeout: 30000 });
  assert.match(await text(page, '#add-result .f-name dd'), /Katherine Johnson/);
  assert.deepEqual(page.problems, []);
});
