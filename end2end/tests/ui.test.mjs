// Drives Narthex's web UI in headless Chromium against the real server:
// landing page, a query that needs the first self-scrape, a PromQL error,
// a shared URL and an unknown route.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchChromium, sleep } from './browser.mjs';
import { resultsDir, startNarthex } from './narthex-server.mjs';

// The first scrape runs at start-up but must land before `up` has a sample.
const FIRST_SCRAPE_TIMEOUT_MS = 30_000;
const UI_TIMEOUT_MS = 15_000;

describe('Narthex web UI', () => {
  let server;
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    await mkdir(resultsDir, { recursive: true });
    server = await startNarthex();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    // A Rust panic in the app surfaces here; the tests fail on any.
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    assert.deepEqual(pageErrors, [], 'the page threw uncaught errors');
  });

  it('lands on /query and shows up{job="prometheus"} = 1 once scraped', async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.waitForURL((url) => url.pathname === '/query');
    await page.getByTestId('expr-input').fill('up');
    await page.getByTestId('execute').click();
    await page.waitForURL((url) => url.searchParams.get('g0.expr') === 'up');

    const deadline = Date.now() + FIRST_SCRAPE_TIMEOUT_MS;
    let rows = [];
    for (;;) {
      const table = page.getByTestId('result-table');
      await table.waitFor();
      rows = await table.locator('tbody tr').evaluateAll((trs) =>
        trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.innerText.trim())),
      );
      const scraped = rows.some(
        ([series, value]) =>
          series?.startsWith('up{') && series.includes('job="prometheus"') && value === '1',
      );
      if (scraped) break;
      assert.ok(
        Date.now() < deadline,
        `no up{job="prometheus"} = 1 row after ${FIRST_SCRAPE_TIMEOUT_MS} ms; rows: ${JSON.stringify(rows)}`,
      );
      await sleep(1_000);
      await page.getByTestId('execute').click();
    }
    assert.match(await page.getByTestId('result-type').innerText(), /vector/);
    await page.screenshot({ path: path.join(resultsDir, 'query-up.png'), fullPage: true });
  });

  it('shows the server error for an invalid expression', async () => {
    await page.goto(`${server.baseUrl}/query`);
    await page.getByTestId('expr-input').fill('up{');
    await page.getByTestId('execute').click();
    const error = page.getByTestId('query-error');
    await error.waitFor();
    const message = (await page.getByTestId('query-error-message').innerText()).trim();
    assert.ok(message.length > 0, 'the error box has no message');
    assert.equal(await page.getByTestId('result-table').count(), 0);
  });

  it('re-runs the query from a shared URL', async () => {
    await page.goto(`${server.baseUrl}/query?g0.expr=up&g0.tab=table`);
    const table = page.getByTestId('result-table');
    await table.waitFor();
    assert.equal(await page.getByTestId('expr-input').inputValue(), 'up');
    assert.ok((await table.locator('tbody tr').count()) >= 1);
  });

  it('shows the not-found page for an unknown route', async () => {
    await page.goto(`${server.baseUrl}/no/such/page`);
    const notFound = page.getByTestId('not-found');
    await notFound.waitFor();
    assert.match(await notFound.innerText(), /not found/i);
    assert.match(await notFound.innerText(), /\/no\/such\/page/);
  });
});
