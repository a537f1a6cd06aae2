// Chromium, Firefox and WebKit behind one small interface, so a check is
// written once and runs in each engine: Debian's browsers only, never a
// downloaded build. Chromium is driven by playwright-core over CDP, Firefox
// (firefox-esr) by puppeteer-core over WebDriver BiDi, WebKit (WebKitGTK's
// MiniBrowser) by selenium-webdriver through WebKitWebDriver under Xvfb.
//
// What each driver can do differs; a tab says so rather than pretending:
// - init scripts (code that runs before the page's first byte): Chromium
//   and Firefox. WebKitWebDriver has none, so in WebKit a tab's `init` code
//   is installed by the first DOM poll once the new document is there.
// - the navigation's response (status, headers): Chromium and Firefox.
//   WebKitWebDriver reports no network events, so `response` is null there
//   and `headers()` asks the page to fetch its own URL again.
// - console messages and uncaught exceptions: the drivers' events in
//   Chromium and Firefox; in WebKit an in-page listener (for `error` events
//   and `console.error`) installed with the init code, so an error before
//   the first poll would be missed.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import puppeteer from 'puppeteer-core';
import { Builder } from 'selenium-webdriver';

import { launchBrowser } from './helpers.mjs';

/** The engines the suite runs, in order; `PAGEPIPE_ENGINES` picks some. */
export const ENGINES = (process.env.PAGEPIPE_ENGINES ?? 'chromium,firefox,webkit')
  .split(',')
  .map((name) => name.trim())
  .filter(Boolean);

/** Whether an engine applies `<template for>` itself (with JavaScript off too). */
export const NATIVE_PATCHING = { chromium: true, firefox: false, webkit: false };

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';

/** WebKitGTK's MiniBrowser, in its multiarch folder. */
function miniBrowser() {
  if (process.env.WEBKIT_MINIBROWSER) return process.env.WEBKIT_MINIBROWSER;
  for (const arch of readdirSync('/usr/lib')) {
    const path = `/usr/lib/${arch}/webkit2gtk-4.1/MiniBrowser`;
    if (existsSync(path)) return path;
  }
  throw new Error('no MiniBrowser under /usr/lib/*/webkit2gtk-4.1 (Debian package webkit2gtk-driver)');
}

/**
 * Launches engine `name` (`chromium`, `firefox` or `webkit`); with
 * `javaScript: false`, page scripts do not run but the driver's own do.
 */
export async function launchEngine(name, { javaScript = true } = {}) {
  switch (name) {
    case 'chromium':
      return ChromiumEngine.launch(javaScript);
    case 'firefox':
      return FirefoxEngine.launch(javaScript);
    case 'webkit':
      return WebKitEngine.launch(javaScript);
    default:
      throw new Error(`unknown engine ${JSON.stringify(name)}: chromium, firefox or webkit`);
  }
}

/** Source of a call of `fn` with `args`, for drivers that take a string. */
function callSource(fn, args) {
  return `(${fn})(...${JSON.stringify(args)})`;
}

/**
 * Records errors in the page itself (uncaught exceptions, `console.error`)
 * in `window.__ppErrors`: for WebKit, whose driver reports neither.
 */
function errorRecorder() {
  if (window.__ppErrors) return;
  window.__ppErrors = [];
  window.addEventListener('error', (event) => window.__ppErrors.push(`uncaught: ${event.message}`));
  window.addEventListener('unhandledrejection', (event) => window.__ppErrors.push(`uncaught: ${event.reason}`));
  const original = console.error;
  console.error = (...args) => {
    window.__ppErrors.push(`console: ${args.join(' ')}`);
    original.apply(console, args);
  };
}

/** A favicon the browser asks for by itself is not the page's error. */
function isPagesOwn(where) {
  try {
    return new URL(where || 'about:blank').pathname !== '/favicon.ico';
  } catch {
    return true;
  }
}

/** What every tab offers, whatever drives it. */
class Tab {
  /** Polls `fn(...args)` in the page until it returns a truthy value; returns it. */
  async waitFor(fn, args = [], { timeout = 10_000, every = 20 } = {}) {
    const started = Date.now();
    for (;;) {
      const value = await this.eval(fn, ...args).catch(() => undefined);
      if (value) return value;
      if (Date.now() - started > timeout) throw new Error(`${this.engine}: not true within ${timeout} ms: ${fn}`);
      await sleep(every);
    }
  }

  /** Waits for the document's `load` event. */
  async loaded(timeout = 30_000) {
    await this.waitFor(() => document.readyState === 'complete', [], { timeout, every: 50 });
  }

  /**
   * The response headers of the document, lower-cased: the navigation's
   * own where the driver reports it, otherwise those of the page fetching
   * its own URL again (same origin, so every header is readable).
   */
  async headers() {
    if (this.response) return this.response.headers;
    return this.eval(async () => {
      const response = await fetch(location.href, { cache: 'no-store' });
      await response.arrayBuffer();
      return Object.fromEntries([...response.headers].map(([k, v]) => [k.toLowerCase(), v]));
    });
  }
}

class ChromiumEngine {
  static async launch(javaScript) {
    const browser = await launchBrowser();
    const context = await browser.newContext({ javaScriptEnabled: javaScript }).catch(async (err) => {
      await browser.close();
      throw err;
    });
    return new ChromiumEngine(browser, context);
  }

  constructor(browser, context) {
    this.name = 'chromium';
    this.browser = browser;
    this.context = context;
    this.version = `Chromium ${browser.version()}`;
  }

  /** Opens `url` in a new tab: `wait` is `load` or `commit` (the response started). */
  async open(url, { wait = 'load', init = [] } = {}) {
    const page = await this.context.newPage();
    for (const fn of init) await page.addInitScript(fn);
    const tab = new DriverTab('chromium', page);
    const response = await page.goto(url, { waitUntil: wait, timeout: 30_000 });
    tab.response = { status: response.status(), headers: await response.allHeaders() };
    return tab;
  }

  async close() {
    await this.browser.close().catch(() => {});
  }
}

class FirefoxEngine {
  static async launch(javaScript) {
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      protocol: 'webDriverBiDi',
      headless: true,
      timeout: 60_000,
      // Nothing that reaches out to the network on its own.
      extraPrefsFirefox: {
        'app.update.enabled': false,
        'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false,
        'network.captive-portal-service.enabled': false,
        'network.connectivity-service.enabled': false,
        // Page scripts off (this Firefox has no BiDi command for it); the
        // driver's own still run.
        ...(javaScript ? {} : { 'javascript.enabled': false }),
      },
    });
    return new FirefoxEngine(browser, javaScript, await browser.version());
  }

  constructor(browser, javaScript, version) {
    this.name = 'firefox';
    this.browser = browser;
    this.javaScript = javaScript;
    this.version = version.replace(/^firefox\//i, 'Firefox ');
  }

  async open(url, { wait = 'load', init = [] } = {}) {
    const page = await this.browser.newPage();
    const tab = new FirefoxTab(page);
    for (const fn of init) await page.evaluateOnNewDocument(fn);
    // `commit`: puppeteer has no such wait, so the navigation is not awaited
    // and the tab polls for the new document instead.
    if (wait === 'commit') {
      const navigation = page.goto(url, { waitUntil: 'load', timeout: 30_000 });
      tab.navigation = navigation.then((r) => tab.noteResponse(r), () => {});
      await tab.waitFor((href) => location.href === href && document.body !== null, [url], { every: 10 });
    } else {
      tab.noteResponse(await page.goto(url, { waitUntil: 'load', timeout: 30_000 }));
    }
    return tab;
  }

  async close() {
    await this.browser.close().catch(() => {});
  }
}

/**
 * A tab of Chromium or Firefox: playwright's and puppeteer's pages report
 * console messages and uncaught exceptions the same way.
 */
class DriverTab extends Tab {
  constructor(engine, page) {
    super();
    this.engine = engine;
    this.page = page;
    this.logged = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && isPagesOwn(message.location()?.url)) this.logged.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (err) => this.logged.push(`uncaught: ${err.message ?? err}`));
  }

  eval(fn, ...args) {
    return this.page.evaluate(callSource(fn, args));
  }

  async errors() {
    return this.logged;
  }

  async close() {
    await this.page.close().catch(() => {});
  }
}

class FirefoxTab extends DriverTab {
  constructor(page) {
    super('firefox', page);
  }

  noteResponse(response) {
    if (response) this.response = { status: response.status(), headers: response.headers() };
  }

  async headers() {
    await this.navigation;
    return super.headers();
  }
}

/** A free port on 127.0.0.1, for WebKitWebDriver to listen on. */
async function freePort() {
  const server = createServer();
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address();
  await new Promise((done) => server.close(done));
  return port;
}

/** Starts Xvfb on a display it picks itself; resolves to `{ display, stop }`. */
async function startXvfb() {
  const child = spawn('Xvfb', ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const display = await new Promise((done, fail) => {
    let out = '';
    child.stdout.on('data', (data) => {
      out += data;
      if (out.includes('\n')) done(`:${out.trim()}`);
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`Xvfb exited (${code}); Debian package xvfb`)));
  });
  return { display, stop: () => stopChild(child) };
}

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  return exited.finally(() => clearTimeout(timer));
}

class WebKitEngine {
  static async launch(javaScript) {
    const xvfb = await startXvfb();
    const port = await freePort();
    const driverProcess = spawn(WEBKIT_DRIVER, [`--port=${port}`, '--host=local'], {
      stdio: 'ignore',
      env: { ...process.env, DISPLAY: xvfb.display },
    });
    const stopAll = async () => {
      await stopChild(driverProcess);
      await xvfb.stop();
    };
    const killOnExit = () => {
      driverProcess.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    try {
      const server = `http://127.0.0.1:${port}`;
      const started = Date.now();
      while (!(await fetch(`${server}/status`).then((r) => r.ok, () => false))) {
        if (Date.now() - started > 15_000) throw new Error(`${WEBKIT_DRIVER} did not answer within 15 s`);
        await sleep(50);
      }
      const args = ['--automation'];
      // Page scripts off; the driver's own still run.
      if (!javaScript) args.push('--enable-javascript-markup=false');
      const driver = await new Builder()
        .usingServer(server)
        .withCapabilities({
          browserName: 'MiniBrowser',
          pageLoadStrategy: 'none',
          'webkitgtk:browserOptions': { binary: miniBrowser(), args },
        })
        .build();
      const version = (await driver.getCapabilities()).get('browserVersion');
      return new WebKitEngine(driver, `WebKitGTK ${version}`, async () => {
        process.removeListener('exit', killOnExit);
        await stopAll();
      });
    } catch (err) {
      process.removeListener('exit', killOnExit);
      await stopAll();
      throw err;
    }
  }

  constructor(driver, version, stop) {
    this.name = 'webkit';
    this.driver = driver;
    this.version = version;
    this.stop = stop;
  }

  /**
   * Opens `url` in the engine's one window (a session of WebKitWebDriver
   * drives one top-level browsing context here, so a tab is open until
   * the next one is).
   * The `init` code and an error recorder are installed by the first poll
   * that finds the new document.
   */
  async open(url, { wait = 'load', init = [] } = {}) {
    await this.driver.get('about:blank');
    await this.driver.get(url);
    const tab = new WebKitTab(this);
    const installers = [errorRecorder, ...init];
    await tab.waitFor((href) => location.href === href && document.documentElement !== null, [url], { every: 5 });
    for (const fn of installers) await tab.eval(fn);
    if (wait === 'load') await tab.loaded();
    return tab;
  }

  async close() {
    await this.driver.quit().catch(() => {});
    await this.stop();
  }
}

class WebKitTab extends Tab {
  constructor(engine) {
    super();
    this.engine = 'webkit';
    this.owner = engine;
    this.response = null;
  }

  eval(fn, ...args) {
    return this.owner.driver.executeScript(`return ${callSource(fn, args)}`);
  }

  async errors() {
    return (await this.eval(() => window.__ppErrors)) ?? ['the error recorder was not installed'];
  }

  async close() {
    await this.owner.driver.get('about:blank').catch(() => {});
  }
}
