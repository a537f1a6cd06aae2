// The demo over HTTPS with HTTP/2 (`--tls-cert`, `--tls-key`, a certificate
// made by openssl for the test): Chromium loads `/stream-html` over h2 and
// every placeholder is filled, as over HTTP/1.1.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ShowcasePage, launchBrowser, selfSignedCertificate, startServer, watchErrors } from './helpers.mjs';

let server;
let browser;

before(async () => {
  const { cert, key } = selfSignedCertificate();
  server = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
  browser = await launchBrowser({ args: ['--ignore-certificate-errors'] });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

describe('/stream-html over HTTP/2', () => {
  test('streams over h2 and ends with every placeholder filled', async () => {
    assert.match(server.url, /^https:\/\//);
    const page = await browser.newPage();
    const errors = watchErrors(page);
    const showcase = new ShowcasePage(page, server.url);
    const response = await showcase.start();
    assert.equal(response.status(), 200);
    await showcase.shellShown();
    const early = await showcase.slots();
    assert.ok(early.some((slot) => slot.skeleton), 'the shell is shown while sections load');
    await showcase.finished();
    const protocol = await page.evaluate(
      () => performance.getEntriesByType('navigation')[0].nextHopProtocol,
    );
    assert.equal(protocol, 'h2');
    for (const slot of await showcase.slots()) {
      assert.ok(!slot.skeleton && !slot.empty, `${slot.id} is filled`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  });
});
