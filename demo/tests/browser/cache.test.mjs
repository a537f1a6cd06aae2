// A cached `/bench` page in Chromium: the first visit streams its sections,
// the next one is complete at once, every section in place, no script.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { useHarness, watchErrors } from './helpers.mjs';

const h = useHarness();

/** Each section's text as the reader sees it, in document order. */
async function sections(page) {
  return page.evaluate(() => [...document.querySelectorAll('pp-slot')].map((s) => [s.id, s.querySelector('.ready')?.textContent ?? null, s.textContent.includes('loading')]));
}

describe('cached sections', () => {
  test('a cached page arrives complete, every section in place', async (t) => {
    const path = `/bench?delays=400,200,300&bytes=64&cache=60&key=browser${Date.now()}`;
    const context = await h.browser.newContext();
    const page = await context.newPage();
    const errors = watchErrors(page);
    await page.goto(h.url(path), { waitUntil: 'load' });
    const expected = [0, 1, 2].map((i) => [`s${i}`, `section ${i} ready`, false]);
    assert.deepEqual(await sections(page), expected, 'the first visit streams every section');

    const started = Date.now();
    const response = await page.goto(h.url(path), { waitUntil: 'load' });
    const took = Date.now() - started;
    const html = await response.text();
    assert.ok(!html.includes('<template') && !html.includes('<script'), 'in place: no late chunk, no script');
    assert.deepEqual(await sections(page), expected, 'every section in place');
    // The markup proves it came at once (no late chunk); the time is
    // reported, not bounded, since a busy machine moves it.
    t.diagnostic(`the cached page loaded in ${took} ms; its slowest section takes 400 ms`);
    assert.deepEqual(errors, []);
    await context.close();
  });
});
