// `/bench` in Chromium: out-of-order paints the shell first and fills slots
// in resolve order, in document order; in-order and buffered need no script.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { BenchPage, useHarness, watchErrors } from './helpers.mjs';

// Generous margins for 2 noisy cores: a section is never visible before its
// delay, and is visible by its delay plus this.
const LATE_MS = 800;
// The browser's clock and the server's are not the same; allow this much.
const EARLY_MS = 25;

const DELAYS = [1200, 300, 700];
const RESOLVE_ORDER = ['s1', 's2', 's0'];

const h = useHarness();

/** Asserts each section appeared within its window after the request. */
function assertOnTime(ready, delays) {
  delays.forEach((delay, i) => {
    const at = ready[`s${i}`];
    assert.ok(at !== undefined, `s${i} never got its content`);
    assert.ok(at >= delay - EARLY_MS, `s${i}, due at ${delay} ms, was visible at ${at.toFixed(0)} ms`);
    assert.ok(at <= delay + LATE_MS, `s${i}, due at ${delay} ms, was visible only at ${at.toFixed(0)} ms`);
  });
}

describe('/bench out-of-order', () => {
  let bench;
  let timeline;
  let errors;

  before(async () => {
    const page = await h.browser.newPage();
    errors = watchErrors(page);
    bench = new BenchPage(page, h.server.url);
    const response = await bench.open(`delays=${DELAYS.join(',')}&bytes=512`);
    assert.equal(response.status(), 200);
    timeline = await bench.timeline();
  });
  after(async () => {
    await bench?.page.close();
  });

  test('placeholders are painted before the first section arrives', () => {
    const firstReady = Math.min(...Object.values(timeline.ready));
    for (const id of ['s0', 's1', 's2']) {
      assert.ok(timeline.loading[id] !== undefined, `${id} never showed its fallback`);
      assert.ok(timeline.loading[id] < firstReady, `${id}'s fallback came after a section`);
    }
    assert.ok(timeline.firstPaint !== null, 'a first contentful paint');
    assert.ok(
      timeline.firstPaint < firstReady,
      `first paint at ${timeline.firstPaint} ms, first section at ${firstReady} ms`,
    );
  });

  test('sections become visible in the order they resolve', () => {
    assert.deepEqual(timeline.order, RESOLVE_ORDER);
    assertOnTime(timeline.ready, DELAYS);
    // The slowest section (1200 ms) was still loading at 500 ms.
    assert.ok(timeline.ready.s0 > 500);
  });

  test('the final DOM keeps document order', async () => {
    await bench.assertFilledInDocumentOrder(DELAYS.length);
  });

  test('no loading text or staging markup is left', async () => {
    assert.deepEqual(await bench.leftovers(), { templates: 0, calls: 0, loadingText: false });
  });

  test('no console error or uncaught exception', () => {
    assert.deepEqual(errors, []);
  });
});

describe('/bench with JavaScript disabled', () => {
  let context;
  before(async () => {
    context = await h.browser.newContext({ javaScriptEnabled: false });
  });
  after(async () => {
    await context?.close();
  });

  for (const mode of ['in-order', 'buffered']) {
    test(`${mode} fills every slot in document order without a script`, async () => {
      const page = await context.newPage();
      const response = await page.goto(h.url(`/bench?delays=600,100,300&mode=${mode}`), {
        waitUntil: 'load',
        timeout: 30_000,
      });
      assert.equal(response.status(), 200);
      await new BenchPage(page, h.server.url).assertFilledInDocumentOrder(3);
      assert.equal(await page.locator('template, script').count(), 0, 'no script or template at all');
      await page.close();
    });
  }

  test('out-of-order fills every slot natively, the browser applying <template for>', async () => {
    const page = await context.newPage();
    await page.goto(h.url('/bench?delays=600,100,300'), { waitUntil: 'load', timeout: 30_000 });
    await new BenchPage(page, h.server.url).assertFilledInDocumentOrder(3);
    assert.equal(await page.locator('template').count(), 0, 'every late template was applied');
    await page.close();
  });

  test('in-order shows the first section before the later ones resolve', async () => {
    const page = await context.newPage();
    await page.goto(h.url('/bench?delays=100,2500&mode=in-order'), { waitUntil: 'commit' });
    await page.locator('#s0 .ready').waitFor({ timeout: 100 + LATE_MS + 2_000 });
    assert.equal(await page.locator('#s1 .ready').count(), 0, 'section 1 (2500 ms) is not there yet');
    await page.locator('#s1 .ready').waitFor({ timeout: 2_500 + LATE_MS + 2_000 });
    await page.close();
  });
});

describe('sections in place and the shell budget', () => {
  /** The text of every slot once the page has loaded, with no leftovers. */
  async function finalSlots(query) {
    const page = await h.browser.newPage();
    const errors = watchErrors(page);
    const bench = new BenchPage(page, h.server.url);
    const response = await bench.open(query);
    assert.equal(response.status(), 200);
    const slots = await page.evaluate(() =>
      [...document.querySelectorAll('pp-slot')].map((slot) => [slot.id, slot.textContent.trim()]),
    );
    assert.deepEqual(await bench.leftovers(), { templates: 0, calls: 0, loadingText: false });
    assert.deepEqual(errors, []);
    await page.close();
    return slots;
  }

  test('ready, budgeted and streamed sections end in the same DOM in every mode', async () => {
    const base = 'delays=0,40,300&bytes=64&wait=100';
    const outOfOrder = await finalSlots(`${base}&mode=out-of-order`);
    assert.equal(outOfOrder.length, 3);
    for (const [id, text] of outOfOrder) assert.ok(text.startsWith(`section ${id.slice(1)} ready`), `${id}: ${text}`);
    assert.deepEqual(await finalSlots(`${base}&mode=in-order`), outOfOrder);
    assert.deepEqual(await finalSlots(`${base}&mode=buffered`), outOfOrder);
    assert.deepEqual(await finalSlots('delays=0,40,300&bytes=64'), outOfOrder, 'without a budget too');
  });

  test('a page whose sections are all ready paints with no script at all', async () => {
    const page = await h.browser.newPage();
    const bench = new BenchPage(page, h.server.url);
    await bench.open('delays=0,0,0&bytes=64');
    const scripts = await page.evaluate(() => document.querySelectorAll('script').length);
    assert.equal(scripts, 0);
    const texts = await page.evaluate(() => [...document.querySelectorAll('pp-slot')].map((s) => s.textContent));
    assert.equal(texts.length, 3);
    texts.forEach((text, i) => assert.ok(text.includes(`section ${i} ready`), text));
    await page.close();
  });
});
