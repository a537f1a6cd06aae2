// Out-of-order without JavaScript: Chromium applies each `<template for>`
// natively; with native patching turned off, the polyfill gives the same
// page; with both, no section is applied twice. Crawlers get the buffered
// document, and the showcase's skeletons keep the layout still.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, useHarness, watchErrors } from './helpers.mjs';

const h = useHarness();

const DELAYS = [900, 200, 500];
const RESOLVE_ORDER = ['s1', 's2', 's0'];
const BENCH = `/bench?delays=${DELAYS.join(',')}&bytes=64`;
const NO_NATIVE = ['--disable-blink-features=DocumentPatching'];

/**
 * Opens `path` and watches it from outside the page (this works with
 * JavaScript off too): polls which `/bench` slots hold their content until
 * the page has loaded, and returns the order they filled in.
 */
async function fillOrder(page, path) {
  const seen = [];
  let loaded = false;
  page.once('load', () => {
    loaded = true;
  });
  const response = await page.goto(h.url(path), { waitUntil: 'commit', timeout: 30_000 });
  const started = Date.now();
  while (Date.now() - started < 15_000) {
    const ready = await page
      .evaluate(() => [...document.querySelectorAll('pp-slot')].filter((s) => s.querySelector('.ready')).map((s) => s.id))
      .catch(() => []);
    for (const id of ready) if (!seen.includes(id)) seen.push(id);
    if (loaded && seen.length === DELAYS.length) break;
    await new Promise((done) => setTimeout(done, 20));
  }
  await page.waitForLoadState('load');
  return { response, order: seen };
}

/** Each slot's id and text, in document order, and leftovers of staging. */
async function finalPage(page) {
  return page.evaluate(() => ({
    slots: [...document.querySelectorAll('pp-slot')].map((s) => [s.id, s.querySelectorAll('.ready').length, s.textContent.includes('loading')]),
    staging: document.querySelectorAll('template[for], template[data-pp]').length,
  }));
}

function assertDocumentOrderFilled(final) {
  assert.deepEqual(
    final.slots,
    DELAYS.map((_, i) => [`s${i}`, 1, false]),
    'every slot holds its one section, in document order, with no fallback left',
  );
  assert.equal(final.staging, 0, 'no template left');
}

/** Counts the polyfill's moves: `replaceChildren` on a slot. */
function countPolyfillMoves() {
  window.__ppMoves = 0;
  const replace = Element.prototype.replaceChildren;
  Element.prototype.replaceChildren = function (...nodes) {
    if (this.localName === 'pp-slot') window.__ppMoves += 1;
    return replace.apply(this, nodes);
  };
}

describe('native patching, JavaScript off', () => {
  test('out-of-order fills every slot in resolve order, ending in document order', async () => {
    const context = await h.browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    const { response, order } = await fillOrder(page, BENCH);
    assert.equal(response.status(), 200);
    assert.match(await response.text(), /<template for="s1">/, 'the out-of-order wire format');
    assert.deepEqual(order, RESOLVE_ORDER);
    assertDocumentOrderFilled(await finalPage(page));
    await context.close();
  });
});

describe('native patching and JavaScript on', () => {
  test('the polyfill stands aside: no section is applied twice, no console error', async () => {
    const context = await h.browser.newContext();
    await context.addInitScript(countPolyfillMoves);
    const page = await context.newPage();
    const errors = watchErrors(page);
    const { order } = await fillOrder(page, BENCH);
    assert.deepEqual(order, RESOLVE_ORDER);
    assertDocumentOrderFilled(await finalPage(page));
    assert.equal(await page.evaluate(() => window.__ppMoves), 0, 'the browser applied every template itself');
    assert.deepEqual(errors, []);
    await context.close();
  });
});

describe('native patching off (--disable-blink-features=DocumentPatching), JavaScript on', () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ args: NO_NATIVE });
  });
  after(async () => {
    await browser?.close();
  });

  test('the polyfill fills every slot in resolve order, ending in document order', async () => {
    const context = await browser.newContext();
    await context.addInitScript(countPolyfillMoves);
    const page = await context.newPage();
    const errors = watchErrors(page);
    const { order } = await fillOrder(page, BENCH);
    assert.deepEqual(order, RESOLVE_ORDER);
    assertDocumentOrderFilled(await finalPage(page));
    assert.equal(await page.evaluate(() => window.__ppMoves), DELAYS.length, 'one move per section');
    assert.deepEqual(errors, []);
    await context.close();
  });

  test('without JavaScript either, the shell and its fallbacks still show', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(h.url(BENCH), { waitUntil: 'load' });
    const final = await finalPage(page);
    assert.deepEqual(final.slots.map(([id, , loading]) => [id, loading]), DELAYS.map((_, i) => [`s${i}`, true]));
    await context.close();
  });
});

describe('crawlers', () => {
  test('a crawler gets the complete buffered document', async () => {
    const context = await h.browser.newContext({
      userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      javaScriptEnabled: false,
    });
    const page = await context.newPage();
    const response = await page.goto(h.url(BENCH), { waitUntil: 'load' });
    const headers = await response.allHeaders();
    const html = await response.text();
    // The length of the bytes on the wire: brotli or gzip, as the browser accepts.
    assert.match(headers['content-length'] ?? '', /^[1-9][0-9]*$/, 'a Content-Length');
    assert.equal(headers['transfer-encoding'], undefined, 'not chunked');
    assert.ok(!html.includes('<template') && !html.includes('<script'), 'no staging markup, no script');
    assertDocumentOrderFilled(await finalPage(page));
    await context.close();
  });
});

describe('/stream-html layout', () => {
  test('sections arriving into their skeletons shift no layout', async () => {
    const page = await h.browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(h.url('/stream-html'), { waitUntil: 'load' });
    const shift = await page.evaluate(
      () =>
        new Promise((done) => {
          new PerformanceObserver((list) => {
            done(list.getEntries().reduce((sum, entry) => sum + (entry.hadRecentInput ? 0 : entry.value), 0));
          }).observe({ type: 'layout-shift', buffered: true });
          setTimeout(() => done(0), 500);
        }),
    );
    assert.ok(shift < 0.05, `cumulative layout shift ${shift.toFixed(3)}`);
    await page.close();
  });
});
