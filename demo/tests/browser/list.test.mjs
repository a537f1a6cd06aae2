// A list section in Chromium: `/bench-list` fills in item by item, ending
// with every item in order, `list done` and no `loading list`, with native
// patching (JavaScript on and off), with the polyfill alone, and in order
// with neither.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { launchBrowser, useHarness, watchErrors } from './helpers.mjs';

const h = useHarness();

const N = 20;
const LIST = `/bench-list?n=${N}&every=60`;
const NO_NATIVE = ['--disable-blink-features=DocumentPatching'];

/**
 * Opens `path` and watches `#list` from outside the page (this works with
 * JavaScript off too): how many items it held at each look, until it loaded.
 */
async function watchList(page, path) {
  const counts = [];
  let loaded = false;
  page.once('load', () => {
    loaded = true;
  });
  await page.goto(h.url(path), { waitUntil: 'commit', timeout: 30_000 });
  const started = Date.now();
  while (!loaded && Date.now() - started < 15_000) {
    const count = await page.evaluate(() => document.querySelectorAll('#list li[id^="i"]').length).catch(() => null);
    if (count !== null && counts.at(-1) !== count) counts.push(count);
    await new Promise((done) => setTimeout(done, 10));
  }
  await page.waitForLoadState('load');
  return counts;
}

/** The list as the reader sees it in the end. */
async function finalList(page) {
  return page.evaluate(() => {
    const list = document.getElementById('list');
    return {
      ids: [...list.querySelectorAll('li[id^="i"]')].map((li) => li.id),
      text: list.textContent,
      staging: document.querySelectorAll('template[for]').length,
    };
  });
}

function assertComplete(final, counts) {
  assert.deepEqual(final.ids, Array.from({ length: N }, (_, k) => `i${k}`), 'every item, in order');
  assert.ok(final.text.includes('list done'), 'the end marker');
  assert.ok(!final.text.includes('loading list'), 'no loading markup left');
  assert.equal(final.staging, 0, 'no template left');
  const partial = counts.filter((count) => count > 0 && count < N);
  assert.ok(partial.length >= 3, `the list filled in item by item: ${counts}`);
}

/** Opens `path` in a new context of `browser` and checks the list fills in. */
async function checkList(browser, options, path) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = watchErrors(page);
  const counts = await watchList(page, path);
  assertComplete(await finalList(page), counts);
  assert.deepEqual(errors, []);
  await context.close();
}

describe('native patching', () => {
  for (const javaScriptEnabled of [false, true]) {
    test(`the list fills in item by item, JavaScript ${javaScriptEnabled ? 'on' : 'off'}`, async () => {
      await checkList(h.browser, { javaScriptEnabled }, LIST);
    });
  }
});

describe('native patching off (--disable-blink-features=DocumentPatching)', () => {
  let browser;
  before(async () => {
    browser = await launchBrowser({ args: NO_NATIVE });
  });
  after(async () => {
    await browser?.close();
  });

  test('the polyfill fills the list in item by item', async () => {
    await checkList(browser, {}, LIST);
  });

  test('in order needs no script: items in place as they come, JavaScript off', async () => {
    await checkList(browser, { javaScriptEnabled: false }, `${LIST}&mode=in-order`);
  });
});
