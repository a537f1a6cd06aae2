// Pages under a nonce Content-Security-Policy raise no violation, and
// compressed pages still paint progressively.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { BenchPage, ShowcasePage, StreamsApiPage, useHarness, watchErrors } from './helpers.mjs';

// As in bench.test.mjs: never early, and late by at most this much.
const LATE_MS = 800;
const EARLY_MS = 25;

const h = useHarness();

/** Records every CSP violation the page reports, from its first byte. */
function violationRecorder() {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (event) => {
    window.__violations.push(`${event.violatedDirective}: ${event.blockedURI || 'inline'} ${event.sample}`);
  });
}

const cspPages = {
  '/bench': async (page) => {
    const bench = new BenchPage(page, h.server.url);
    return bench.open('delays=100,400,200&bytes=512');
  },
  '/stream-html': async (page) => {
    const showcase = new ShowcasePage(page, h.server.url);
    const response = await showcase.start();
    await showcase.finished();
    return response;
  },
  '/streams-api': async (page) => {
    const demo = new StreamsApiPage(page, h.server.url);
    const response = await demo.open('n=5&delay_ms=50');
    await demo.waitForState(['done', 'error']);
    assert.equal(await demo.state(), 'done');
    return response;
  },
};

describe('with a nonce CSP', () => {
  for (const [name, load] of Object.entries(cspPages)) {
    test(`${name} raises no securitypolicyviolation`, async () => {
      const page = await h.browser.newPage();
      const errors = watchErrors(page);
      await page.addInitScript(violationRecorder);
      const response = await load(page);
      const policy = (await response.allHeaders())['content-security-policy'] ?? '';
      assert.match(policy, /script-src[^;]*'nonce-[A-Za-z0-9+/_=-]+'/, `the policy: ${policy}`);
      await page.waitForTimeout(200);
      assert.deepEqual(await page.evaluate(() => window.__violations), []);
      assert.deepEqual(errors, []);

      // The check can fail: an inline script without the nonce is reported.
      await page.evaluate(() => {
        const script = document.createElement('script');
        script.textContent = 'window.__ran = true';
        document.body.append(script);
      });
      await page.waitForFunction(() => window.__violations.length > 0, null, { timeout: 5_000 });
      assert.equal(await page.evaluate(() => window.__ran), undefined, 'the stray script was blocked');
      await page.close();
    });
  }
});

describe('with compression', () => {
  // Each coding forced alone, then Chromium's own list (zstd wins).
  for (const acceptEncoding of ['gzip', 'br', 'zstd', 'gzip, deflate, br, zstd']) {
    test(`Accept-Encoding: ${acceptEncoding} still paints sections in resolve order`, async () => {
      const context = await h.browser.newContext({
        extraHTTPHeaders: { 'accept-encoding': acceptEncoding },
      });
      const page = await context.newPage();
      const errors = watchErrors(page);
      const bench = new BenchPage(page, h.server.url);
      const delays = [1200, 300, 700];
      const response = await bench.open(`delays=${delays.join(',')}&bytes=4096`);
      const headers = await response.allHeaders();
      const accepted = acceptEncoding.split(',').map((e) => e.trim());
      assert.ok(
        accepted.includes(headers['content-encoding']),
        `content-encoding ${headers['content-encoding']} for ${acceptEncoding}`,
      );
      const timeline = await bench.timeline();
      assert.deepEqual(timeline.order, ['s1', 's2', 's0']);
      const firstReady = Math.min(...Object.values(timeline.ready));
      for (const id of ['s0', 's1', 's2']) assert.ok(timeline.loading[id] < firstReady, `${id}'s fallback came first`);
      delays.forEach((delay, i) => {
        const at = timeline.ready[`s${i}`];
        assert.ok(at >= delay - EARLY_MS && at <= delay + LATE_MS, `s${i}, due at ${delay} ms, at ${at} ms`);
      });
      assert.deepEqual(await bench.leftovers(), { templates: 0, calls: 0, loadingText: false });
      assert.deepEqual(errors, [], 'no console error');
      await context.close();
    });
  }
});
