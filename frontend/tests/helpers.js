// Shared by the browser tests: real producer and consumer processes on the
// Redis and MariaDB that scripts/test-frontend started, and headless Chromium.
//
// Each test file gets its own MySQL database and Redis key prefix, so counts
// seen on the page belong to that file alone.

import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with scripts/test-frontend`);
  return value;
}

const env = {
  producer: process.env.PRODUCER_BIN || path.join(ROOT, 'target/debug/producer'),
  consumer: process.env.CONSUMER_BIN || path.join(ROOT, 'target/debug/consumer'),
  chromium: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
  logs: process.env.FRONTEND_LOGS || path.join(ROOT, '.tmp/frontend/logs'),
  pids: process.env.FRONTEND_PIDS_FILE || null,
  screenshots: path.join(HERE, 'screenshots'),
};

const children = new Set();
// Everything a test file starts is stopped once its tests are over, newest first.
const cleanups = [];
after(async () => { for (const cleanup of cleanups.reverse()) await cleanup(); });
const killAll = () => { for (const child of children) child.kill('SIGKILL'); };
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => { killAll(); process.exit(130); });

/** A TCP port that nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a truthy value, or fails with `what`. */
export async function eventually(what, check, { timeout = 20000, every = 200 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await sleep(every);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** Names a fresh database and key prefix for one test file. */
export function isolation(name) {
  const tag = `${name}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`.replace(/[^a-z0-9_]/gi, '_');
  const mysql = new URL(need('MYSQL_URL'));
  mysql.pathname = `/fe_${tag}`;
  return { prefix: `fe-${tag}`, mysqlUrl: mysql.toString(), redisUrl: need('REDIS_URL') };
}

function run(bin, args, logName) {
  mkdirSync(env.logs, { recursive: true });
  const log = openSync(path.join(env.logs, `${logName}.log`), 'a');
  const child = spawn(bin, args, {
    stdio: ['ignore', log, log],
    env: { ...process.env, LOG_FORMAT: 'json', RUST_LOG: process.env.RUST_LOG || 'info' },
  });
  children.add(child);
  if (env.pids) appendFileSync(env.pids, `${child.pid}\n`);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); }));
  return {
    child,
    exited,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Starts a producer and waits until it answers. `ready: false` waits only for
 * /health/live (for a producer whose Redis is meant to be unreachable).
 */
export async function startProducer(iso, { name = 'producer', port, rateLimit, burst, redisUrl, ready = true } = {}) {
  port ??= await freePort();
  const args = [
    '--listen', `127.0.0.1:${port}`,
    '--redis-url', redisUrl || iso.redisUrl,
    '--mysql-url', iso.mysqlUrl,
    '--key-prefix', iso.prefix,
    '--rate-limit', String(rateLimit ?? 0),
  ];
  if (burst != null) args.push('--rate-limit-burst', String(burst));
  const proc = run(env.producer, args, `${iso.prefix}-${name}`);
  const url = `http://127.0.0.1:${port}`;
  const health = ready ? '/health/ready' : '/health/live';
  await Promise.race([
    eventually(`${name} on ${url}${health}`, async () => (await fetch(url + health)).ok, { timeout: 60000 }),
    proc.exited.then(({ code, signal }) => { throw new Error(`${name} exited (${code ?? signal}); see ${env.logs}`); }),
  ]);
  cleanups.push(() => proc.stop());
  return { ...proc, url, port };
}

/** Runs one SQL statement in the file's database, as the MariaDB client does. */
export function sql(iso, statement) {
  const url = new URL(iso.mysqlUrl);
  const args = ['-h', url.hostname, '-P', url.port || '3306', '-u', decodeURIComponent(url.username || 'root')];
  if (url.password) args.push(`-p${decodeURIComponent(url.password)}`);
  args.push(url.pathname.slice(1), '-e', statement);
  const done = spawnSync('mariadb', args, { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`mariadb ${statement}: ${done.stderr || done.error}`);
  return done.stdout;
}

/** Runs the consumer binary's command line (e.g. `dead requeue`); its output. */
export function consumerCli(iso, args) {
  const done = spawnSync(env.consumer, ['--redis-url', iso.redisUrl, '--key-prefix', iso.prefix, ...args], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(`consumer ${args.join(' ')}: ${done.stderr}`);
  return done.stdout;
}

/** Starts a consumer on the same database and prefix. */
export async function startConsumer(iso, { name = 'consumer' } = {}) {
  const port = await freePort();
  const proc = run(env.consumer, [
    '--redis-url', iso.redisUrl,
    '--mysql-url', iso.mysqlUrl,
    '--key-prefix', iso.prefix,
    '--metrics-listen', `127.0.0.1:${port}`,
  ], `${iso.prefix}-${name}`);
  cleanups.push(() => proc.stop());
  return { ...proc, metrics: `http://127.0.0.1:${port}` };
}

/** POSTs a user straight to the API (to set the scene quickly). */
export async function apiAddUser(base, user) {
  const res = await fetch(`${base}/api/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() },
    body: JSON.stringify(user),
  });
  if (res.status !== 202) throw new Error(`POST /api/users answered ${res.status}: ${await res.text()}`);
  return (await res.json()).id;
}

/** Waits until the API reports user `id` as stored. */
export function apiStored(base, id, timeout = 30000) {
  return eventually(`user ${id} to be stored`, async () => {
    const res = await fetch(`${base}/api/users/${id}`);
    const body = res.ok ? await res.json() : null;
    return body?.status === 'stored' && body;
  }, { timeout });
}

/** Launches Debian's Chromium, headless; closed after the file's tests. */
export async function launchBrowser(extraArgs = []) {
  const browser = await chromium.launch({
    executablePath: env.chromium,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...extraArgs],
  });
  cleanups.push(() => browser.close());
  return browser;
}

export const DESKTOP = { viewport: { width: 1280, height: 900 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/**
 * Opens a page and records what would mean it is broken: script errors and
 * messages about refused (CSP) resources. `problems` lists them; the expected
 * console noise of failed API calls (4xx/5xx answers) is left out.
 */
export async function openPage(browser, url, options = DESKTOP) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (err) => page.problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of/.test(text)
      && !/net::ERR_CONNECTION_REFUSED/.test(text)) page.problems.push(`console: ${text}`);
  });
  page.on('requestfailed', (req) => {
    if (!req.url().includes('/api/')) page.problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
  });
  page.mainResponse = await page.goto(url);
  await page.locator('#connection[data-state]:not([data-state="connecting"])').waitFor();
  return page;
}

/** Saves a full-page screenshot under tests/screenshots/. */
export async function screenshot(page, name) {
  mkdirSync(env.screenshots, { recursive: true });
  const file = path.join(env.screenshots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Copies a screenshot to docs/screenshot.png, the picture in the README. */
export function publishScreenshot(file) {
  const target = path.join(ROOT, 'docs/screenshot.png');
  mkdirSync(path.dirname(target), { recursive: true });
  copyFileSync(file, target);
}

/** The text of an element, trimmed. */
export async function text(page, selector) {
  return (await page.locator(selector).first().textContent())?.trim() ?? '';
}

/** The number shown in a live status tile. */
export async function stat(page, name) {
  return Number((await text(page, `#stat-${name}`)).replace(/[^0-9]/g, '') || NaN);
}
