// The showcase `/stream-html` fills every placeholder, with screenshots at
// first paint and at completion, and no demo page logs an error.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';

import { BenchPage, ShowcasePage, StreamsApiPage, useHarness, watchErrors } from './helpers.mjs';

const h = useHarness();

describe('/stream-html', () => {
  test('completes with every placeholder filled, screenshots at first paint and at the end', async () => {
    const page = await h.browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = watchErrors(page);
    const showcase = new ShowcasePage(page, h.server.url);
    const response = await showcase.start();
    assert.equal(response.status(), 200);

    await showcase.shellShown();
    const firstPaint = await showcase.screenshotNow('stream-html-first-paint');
    const early = await showcase.slots();
    assert.ok(
      early.some((slot) => slot.skeleton),
      'the shell is shown while sections are still loading',
    );

    await showcase.finished();
    const slots = await showcase.slots();
    assert.ok(slots.length >= 5, `at least five placeholders, got ${slots.length}`);
    for (const slot of slots) {
      assert.ok(!slot.skeleton, `${slot.id} still shows its skeleton`);
      assert.ok(!slot.empty, `${slot.id} is empty`);
    }
    assert.equal(await page.locator('.skeleton').count(), 0, 'no skeleton anywhere');
    assert.equal(await page.locator('template[data-pp], template[for]').count(), 0);
    const done = await showcase.screenshot('stream-html-complete');

    assert.ok(existsSync(firstPaint) && existsSync(done));
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('every demo page', () => {
  // Each page is loaded to its end: the stream finished, its scripts ran.
  const pages = {
    '/': async (page) => {
      await page.goto(h.url('/'), { waitUntil: 'load' });
    },
    '/bench': async (page) => {
      await new BenchPage(page, h.server.url).open('delays=100,600,300&bytes=2048');
    },
    '/bench in-order': async (page) => {
      await new BenchPage(page, h.server.url).open('delays=100,300&mode=in-order');
    },
    '/stream-html': async (page) => {
      const showcase = new ShowcasePage(page, h.server.url);
      await showcase.start();
      await showcase.finished();
    },
    '/streams-api': async (page) => {
      const demo = new StreamsApiPage(page, h.server.url);
      await demo.open('n=5&delay_ms=50');
      await demo.waitForState(['done', 'error']);
      assert.equal(await demo.state(), 'done');
    },
  };

  for (const [name, load] of Object.entries(pages)) {
    test(`${name} logs no console error and throws no uncaught exception`, async () => {
      const page = await h.browser.newPage();
      const errors = watchErrors(page);
      await load(page);
      // Let late work (observers, timers) run before judging.
      await page.waitForTimeout(200);
      assert.deepEqual(errors, []);
      await page.close();
    });
  }
});
