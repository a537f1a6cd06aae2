// Shared by the browser tests: the demo server started from its binary, a
// headless Chromium (Debian's, never a downloaded build), and page objects
// that record what a page did while it streamed.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { after, before } from 'node:test';

import { chromium } from 'playwright-core';

/** The repository's root folder. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where screenshots go: under target/, never committed. */
export const SCREENSHOTS = resolve(ROOT, 'target', 'screenshots');

const BIN = resolve(ROOT, process.env.PAGEPIPE_BIN ?? 'target/debug/pagepipe');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

// Flags that work on this machine: no sandbox (root in a container), no GPU,
// and nothing that reaches out to the network on its own.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Starts the demo binary on 127.0.0.1, port 0, with the bundled assets and
 * extra `args`, and waits for its `listening on http(s)://…` line. `stop()`
 * ends it by its PID.
 */
export async function startServer({ timeoutMs = 15_000, args = [] } = {}) {
  const child = spawn(BIN, ['--addr', '127.0.0.1:0', '--assets', 'assets', '--workers', '2', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
  });
  // A test process that dies must not leave the server behind.
  const killOnExit = () => killQuietly(child.pid, 'SIGKILL');
  process.once('exit', killOnExit);

  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const listening = new Promise((done, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^listening on (https?:\/\/\S+)$/.exec(line.trim());
      if (match) done(match[1]);
    });
    child.once('error', fail);
    exited.then(({ code }) => fail(new Error(`${BIN} exited (${code}) before listening:\n${log.join('\n')}`)));
  });
  const url = await within(listening, timeoutMs, () => {
    killQuietly(child.pid, 'SIGKILL');
    throw new Error(`${BIN} printed no "listening on" line within ${timeoutMs} ms`);
  });

  return {
    url,
    pid: child.pid,
    /** The server's recent log lines, for failure messages. */
    log: () => log.join('\n'),
    /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
    async stop() {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      killQuietly(child.pid, 'SIGTERM');
      const result = await within(exited, 5_000, () => null);
      if (result === null) {
        killQuietly(child.pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

/**
 * `promise`, or `onTimeout()` if it has not settled within `ms`. The timer
 * is cancelled either way, so it never keeps the test process alive.
 */
async function within(promise, ms, onTimeout) {
  const timer = new AbortController();
  const late = sleep(ms, undefined, { signal: timer.signal }).then(onTimeout, () => {});
  try {
    return await Promise.race([promise, late]);
  } finally {
    timer.abort();
  }
}

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Launches headless Chromium with extra `args`. Playwright gives every launch
 * a fresh, temporary user-data-dir and removes it on close.
 */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, ...args],
    headless: true,
    timeout: 30_000,
  });
}

/**
 * One server and one browser for a test file: call in `before`, and
 * `close()` in `after`. `browserArgs` are extra Chromium flags.
 */
export async function harness({ browserArgs = [] } = {}) {
  const server = await startServer();
  let browser;
  try {
    browser = await launchBrowser({ args: browserArgs });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    server,
    browser,
    url: (path) => new URL(path, server.url).href,
    async close() {
      await browser.close().catch(() => {});
      await server.stop();
    },
  };
}

/**
 * Registers `before` and `after` hooks that give the calling test file one
 * harness (`options` as for `harness`); its fields are there once the
 * `before` hook has run.
 */
export function useHarness(options = {}) {
  const h = {};
  before(async () => {
    Object.assign(h, await harness(options));
  });
  after(async () => {
    await h.close?.();
  });
  return h;
}

/**
 * Collects a page's console errors and uncaught exceptions. A missing
 * `/favicon.ico` is the browser's own request, not the page's, so its 404
 * is not counted.
 */
export function watchErrors(page) {
  const errors = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location()?.url ?? '';
    if (new URL(where || 'about:blank').pathname === '/favicon.ico') return;
    errors.push(`console: ${message.text()} (${where})`);
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  return errors;
}

/**
 * Records, in the page itself, when each `/bench` slot `#s{i}` first showed
 * its `loading {i}` fallback and when it first held its content, in
 * `performance.now()` time: a MutationObserver sees every step the parser
 * and the runtime take, so nothing between two polls is missed.
 */
export function benchRecorder() {
  if (window.__ppBench) return;
  const rec = { loading: {}, ready: {}, order: [] };
  window.__ppBench = rec;
  const scan = () => {
    const now = performance.now();
    for (const slot of document.querySelectorAll('pp-slot[id^="s"]')) {
      if (!(slot.id in rec.loading) && slot.textContent.includes('loading')) rec.loading[slot.id] = now;
      if (!(slot.id in rec.ready) && slot.querySelector('.ready')) {
        rec.ready[slot.id] = now;
        rec.order.push(slot.id);
      }
    }
  };
  new MutationObserver(scan).observe(document, { childList: true, subtree: true, characterData: true });
  // Installed after the first bytes (WebKit's driver has no init scripts):
  // what is there already is seen now.
  scan();
}

/**
 * What the bench recorder saw, run in the page: times relative to the
 * navigation's `requestStart`; the first contentful paint from there and
 * from the navigation's start (the page's time origin); the document's
 * bytes on the wire and decoded.
 */
export function benchTimeline() {
  const nav = performance.getEntriesByType('navigation')[0];
  const origin = nav.requestStart;
  const shift = (times) => Object.fromEntries(Object.entries(times).map(([id, t]) => [id, t - origin]));
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const rec = window.__ppBench;
  return {
    loading: shift(rec.loading),
    ready: shift(rec.ready),
    order: rec.order,
    firstPaint: paint ? paint.startTime - origin : null,
    firstPaintFromStart: paint ? paint.startTime : null,
    encoded: nav.encodedBodySize,
    decoded: nav.decodedBodySize,
  };
}

/**
 * `/bench` in a browser: loads it with the recorder installed and reads back
 * what happened.
 */
export class BenchPage {
  constructor(page, base) {
    this.page = page;
    this.base = base;
  }

  /** Opens `/bench` with `query`, waiting until the page has loaded. */
  async open(query) {
    await this.page.addInitScript(benchRecorder);
    const response = await this.page.goto(new URL(`/bench?${query}`, this.base).href, {
      waitUntil: 'load',
      timeout: 30_000,
    });
    return response;
  }

  /**
   * What the recorder saw, with times made relative to the request's start
   * (`requestStart` of the navigation): the server counts delays from when
   * it got the request, so a section can never be early by this clock.
   */
  async timeline() {
    return this.page.evaluate(benchTimeline);
  }

  /** The final DOM: each slot's id and text, in document order. */
  async slots() {
    return this.page.locator('pp-slot').evaluateAll((slots) =>
      slots.map((slot) => ({ id: slot.id, text: slot.textContent })),
    );
  }

  /**
   * Asserts that slots `s0`…`s{count-1}` are in document order, each with
   * its content, and that no fallback text is left.
   */
  async assertFilledInDocumentOrder(count) {
    const slots = await this.slots();
    assert.deepEqual(
      slots.map((s) => s.id),
      Array.from({ length: count }, (_, i) => `s${i}`),
    );
    slots.forEach((slot, i) => assert.match(slot.text, new RegExp(`^section ${i} ready`)));
    const body = await this.page.locator('body').textContent();
    assert.ok(!body.includes('loading'), 'no fallback text is left');
  }

  /** Pagepipe's staging markup still in the document. */
  async leftovers() {
    return this.page.evaluate(() => ({
      templates: document.querySelectorAll('template[data-pp], template[for]').length,
      calls: [...document.scripts].filter((s) => s.textContent.trim() === '$pp()').length,
      loadingText: document.body.textContent.includes('loading'),
    }));
  }
}

/** The showcase page, `/stream-html`. */
export class ShowcasePage {
  constructor(page, base) {
    this.page = page;
    this.base = base;
  }

  /** Navigates and returns as soon as the response starts (the shell). */
  async start(query = '') {
    return this.page.goto(new URL(`/stream-html${query}`, this.base).href, {
      waitUntil: 'commit',
      timeout: 30_000,
    });
  }

  /** Waits until the shell is in the DOM, its placeholders showing. */
  async shellShown() {
    await this.page.locator('h1').first().waitFor({ timeout: 10_000 });
    await this.page.locator('.skeleton').first().waitFor({ timeout: 10_000 });
  }

  /** Waits for the page to finish loading (the stream ended). */
  async finished() {
    await this.page.waitForLoadState('load', { timeout: 30_000 });
  }

  /** Every slot's id and whether it still holds a skeleton. */
  async slots() {
    return this.page.locator('pp-slot').evaluateAll((slots) =>
      slots.map((slot) => ({
        id: slot.id,
        skeleton: slot.querySelector('.skeleton') !== null,
        empty: slot.textContent.trim() === '',
      })),
    );
  }

  /** Writes a full-page screenshot to `target/screenshots/NAME.png`. */
  async screenshot(name) {
    const path = screenshotPath(name);
    await this.page.screenshot({ path, fullPage: true });
    return path;
  }

  /**
   * Writes a screenshot of the viewport as it is right now, straight from
   * Chromium: Playwright's own waits (fonts, a stable frame) take long
   * enough for early sections to land, which would spoil a first-paint shot.
   */
  async screenshotNow(name) {
    const path = screenshotPath(name);
    const cdp = await this.page.context().newCDPSession(this.page);
    const { data } = await cdp.send('Page.captureScreenshot', { format: 'png' });
    await cdp.detach();
    writeFileSync(path, Buffer.from(data, 'base64'));
    return path;
  }
}

function screenshotPath(name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return resolve(SCREENSHOTS, `${name}.png`);
}

/** The Streams API demo, `/streams-api`. */
export class StreamsApiPage {
  constructor(page, base) {
    this.page = page;
    this.base = base;
  }

  async open(query) {
    return this.page.goto(new URL(`/streams-api?${query}`, this.base).href, { timeout: 30_000 });
  }

  /** The row of record `seq`. */
  row(seq) {
    return this.page.locator(`#rows tr[data-seq="${seq}"]`);
  }

  /** `idle`, `connecting`, `streaming`, `done`, `stopped` or `error`. */
  async state() {
    return this.page.locator('#state').getAttribute('data-state');
  }

  /** Waits until the state is one of `states`. */
  async waitForState(states, timeout = 30_000) {
    const wanted = states.map((s) => `#state[data-state="${s}"]`).join(', ');
    await this.page.locator(wanted).waitFor({ timeout });
  }

  /** The progress panel's numbers and status line. */
  async progress() {
    const text = (id) => this.page.locator(`#${id}`).textContent();
    return {
      records: Number(await text('records')),
      bytes: Number((await text('bytes')).replaceAll(',', '')),
      rows: await this.page.locator('#rows tr').count(),
      status: await text('state'),
    };
  }
}

/** A same-origin page holding `html`, served by intercepting `path`. */
export async function fixturePage(page, base, path, html) {
  const url = new URL(path, base).href;
  await page.route(url, (route) =>
    route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }),
  );
  await page.goto(url);
}

/**
 * A self-signed certificate for localhost and 127.0.0.1 and its key, made
 * with Debian's `openssl` under target/tls/: their paths.
 */
export function selfSignedCertificate() {
  const dir = resolve(ROOT, 'target', 'tls');
  mkdirSync(dir, { recursive: true });
  const cert = resolve(dir, 'cert.pem');
  const key = resolve(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-days', '1', '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' });
  return { cert, key };
}
