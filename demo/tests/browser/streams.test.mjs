// The Streams API demo: `/streams-api` reads `/stream-data` through a
// ReadableStream pipe and renders each record as it arrives.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { StreamsApiPage, useHarness, watchErrors } from './helpers.mjs';

const N = 8;
const GAP_MS = 300;

const h = useHarness();

describe('/streams-api', () => {
  test('shows the first record before the last one arrives, then reports done', async () => {
    const page = await h.browser.newPage();
    const errors = watchErrors(page);
    const feed = page.waitForResponse((r) => new URL(r.url()).pathname === '/stream-data');
    const demo = new StreamsApiPage(page, h.server.url);
    await demo.open(`n=${N}&delay_ms=${GAP_MS}`);

    // The last record is due (N - 1) × 300 = 2100 ms after the first.
    await demo.row(0).waitFor({ timeout: 10_000 });
    assert.equal(await demo.row(N - 1).count(), 0, 'the last record has not arrived yet');
    assert.equal(await demo.state(), 'streaming');
    const early = await demo.progress();
    assert.ok(early.records >= 1 && early.records < N, `records so far: ${early.records}`);
    assert.ok(early.bytes > 0, 'bytes so far are counted');

    await demo.waitForState(['done', 'error'], 20_000);
    assert.equal(await demo.state(), 'done', (await demo.progress()).status);
    const done = await demo.progress();
    assert.equal(done.records, N);
    assert.equal(done.rows, N);
    const response = await feed;
    assert.equal(response.status(), 200);
    const received = await page.evaluate(
      (url) => performance.getEntriesByName(url)[0]?.decodedBodySize,
      response.url(),
    );
    assert.equal(done.bytes, received, 'every byte of the feed was counted');
    // Newest first: the last record heads the table.
    assert.equal(await page.locator('#rows tr').first().getAttribute('data-seq'), String(N - 1));
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a stream that breaks midway shows an error and what arrived before it', async () => {
    const page = await h.browser.newPage();
    const demo = new StreamsApiPage(page, h.server.url);
    await demo.open('n=10&delay_ms=100&fail_after=3');
    await demo.waitForState(['done', 'error'], 20_000);
    assert.equal(await demo.state(), 'error');
    const progress = await demo.progress();
    assert.equal(progress.records, 3);
    assert.match(progress.status, /broke after 3 records/);
    await page.close();
  });

  test('stop cancels the request midway', async () => {
    const page = await h.browser.newPage();
    const errors = watchErrors(page);
    const demo = new StreamsApiPage(page, h.server.url);
    await demo.open('n=50&delay_ms=200');
    await demo.row(1).waitFor({ timeout: 10_000 });
    await page.locator('#stop').click();
    await demo.waitForState(['stopped'], 5_000);
    const progress = await demo.progress();
    assert.ok(progress.records < 50, `stopped at ${progress.records}`);
    await page.waitForTimeout(500);
    assert.equal((await demo.progress()).records, progress.records, 'nothing arrives after stop');
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('a bad parameter is a 400 naming it', async () => {
    const page = await h.browser.newPage();
    const response = await page.goto(h.url('/streams-api?n=0'));
    assert.equal(response.status(), 400);
    assert.match(await page.locator('body').textContent(), /`n`/);
    await page.close();
  });
});
