// Media through the streaming responder, as Chromium's media stack uses it:
// the video plays and seeks with byte ranges, the image decodes.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { fixturePage, useHarness, watchErrors } from './helpers.mjs';

const HAVE_CURRENT_DATA = 2;

const h = useHarness();

describe('<video src=/stream-video>', () => {
  test('reaches HAVE_CURRENT_DATA, seeks to the middle, and was served with 206', async () => {
    const page = await h.browser.newPage();
    const errors = watchErrors(page);
    const videoResponses = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/stream-video') {
        videoResponses.push({
          status: response.status(),
          range: response.request().headers().range ?? null,
          contentRange: response.headers()['content-range'] ?? null,
        });
      }
    });
    await fixturePage(
      page,
      h.server.url,
      '/__browser-test/video',
      '<!doctype html><title>video</title><video id="v" src="/stream-video" muted preload="auto" playsinline></video>',
    );
    const video = page.locator('#v');
    await page.waitForFunction(
      (state) => document.getElementById('v').readyState >= state,
      HAVE_CURRENT_DATA,
      { timeout: 20_000 },
    );
    const seeked = await video.evaluate(
      (v) =>
        new Promise((done, fail) => {
          const timer = setTimeout(() => fail(new Error('no seeked event within 15 s')), 15_000);
          v.addEventListener(
            'seeked',
            () => {
              clearTimeout(timer);
              done({ currentTime: v.currentTime, duration: v.duration, readyState: v.readyState });
            },
            { once: true },
          );
          v.currentTime = v.duration / 2;
        }),
    );
    assert.ok(seeked.duration > 0, `a duration, got ${seeked.duration}`);
    assert.ok(
      Math.abs(seeked.currentTime - seeked.duration / 2) < 1,
      `seeked to ${seeked.currentTime} of ${seeked.duration}`,
    );
    const partial = videoResponses.filter((r) => r.status === 206);
    assert.ok(partial.length > 0, `a 206 among ${JSON.stringify(videoResponses)}`);
    for (const r of partial) assert.match(r.contentRange ?? '', /^bytes \d+-\d+\/\d+$/);
    assert.ok(
      videoResponses.every((r) => r.status === 206 || r.range === null),
      `every range request got a 206: ${JSON.stringify(videoResponses)}`,
    );
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('<img src=/stream-image>', () => {
  test('decodes', async () => {
    const page = await h.browser.newPage();
    const errors = watchErrors(page);
    await fixturePage(
      page,
      h.server.url,
      '/__browser-test/image',
      '<!doctype html><title>image</title><img id="i" src="/stream-image" alt="">',
    );
    const size = await page.locator('#i').evaluate(async (img) => {
      await img.decode();
      return { width: img.naturalWidth, height: img.naturalHeight, complete: img.complete };
    });
    assert.ok(size.complete);
    assert.ok(size.width > 0 && size.height > 0, `decoded ${size.width}×${size.height}`);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
