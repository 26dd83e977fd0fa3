// The expression browser in Debian's Chromium against the real binary, one group per item of
// its specification: the editor (highlighting, completion, error markers, format, keys,
// history), panels and their tabs, the graph (hover values, zoom, legend, stacking, gaps),
// shareable URLs, the metrics explorer, and time zone, themes and a phone-sized screen.
//
// The data is backfilled before the server starts, so every value the page shows is known:
// demo_value{instance="a"} is i and {instance="b"} is 2i at START + 15 s * i.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchChromium, parseDuration, sleep } from './browser.mjs';
import { resultsDir, startNarthex } from './narthex-server.mjs';

const UI_TIMEOUT_MS = 15_000;
const STEP_S = 15;
const SAMPLES = 481; // two hours
// Aligned to the minute, a minute ago, so "now" queries see all of it.
const END_S = Math.floor(Date.now() / 60_000) * 60 - 60;
const START_S = END_S - (SAMPLES - 1) * STEP_S;
const GIB = 1024 ** 3;

function backfill() {
  const lines = [];
  const family = (name, type, help, value) => {
    lines.push(`# TYPE ${name} ${type}`, `# HELP ${name} ${help}`);
    for (let i = 0; i < SAMPLES; i++) {
      for (const [labels, v] of value(i)) lines.push(`${name}{${labels}} ${v} ${START_S + i * STEP_S}`);
    }
  };
  family('demo_value', 'gauge', 'Index of the sample.', (i) => [
    ['instance="a"', i],
    ['instance="b"', 2 * i],
  ]);
  // Every 20th sample is NaN and the 15th of each 20 +Inf: gaps in the line.
  family('demo_gaps', 'gauge', 'A series with holes.', (i) => [
    ['kind="holes"', i % 20 === 10 ? 'NaN' : i % 20 === 15 ? '+Inf' : i],
  ]);
  family('demo_memory_bytes', 'gauge', 'Memory.', () => [['instance="a"', 1.5 * GIB]]);
  lines.push('# EOF', '');
  return lines.join('\n');
}

const utcText = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
// What Chromium's datetime-local input gives back: seconds left out when zero.
const inputTime = (seconds) => utcText(seconds).replace(' ', 'T').replace(/:00$/, '');

function graphUrl(server, expr, extra = '') {
  const params = new URLSearchParams({
    'g0.expr': expr,
    'g0.tab': 'graph',
    'g0.range_input': '1h',
    'g0.end_input': utcText(END_S),
    'g0.res_type': 'fixed',
    'g0.res_step': String(STEP_S),
  });
  return `${server.baseUrl}/query?${params}${extra}`;
}

describe('Expression browser', () => {
  let server;
  let browser;
  let context;
  let page;
  const pageErrors = [];

  const shot = (name) => page.screenshot({ path: path.join(resultsDir, `${name}.png`), fullPage: true });
  const input = () => page.getByTestId('expr-input').first();
  const urlParam = (name) => new URL(page.url()).searchParams.get(name);
  const graphDrawn = async () => {
    await page.getByTestId('graph-canvas').waitFor();
    await page.waitForFunction(() => {
      const canvas = document.querySelector('[data-testid=graph-canvas]');
      return canvas && canvas.width > 0 && canvas.dataset.drawMs !== undefined;
    });
  };

  before(async () => {
    await mkdir(resultsDir, { recursive: true });
    server = await startNarthex({ openMetrics: backfill() });
    browser = await launchChromium();
    // A zone away from UTC, so local and UTC times differ (by 5 h 30 min).
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, timezoneId: 'Asia/Kolkata' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.baseUrl });
    page = await context.newPage();
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // A Rust panic is logged (with its message and place) before the wasm trap.
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    // Times in the tooltip and inputs are compared in UTC.
    await page.goto(`${server.baseUrl}/query`);
    await page.evaluate(() => localStorage.setItem('narthex.utc', '1'));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    assert.deepEqual(pageErrors, [], 'the page threw uncaught errors');
  });

  describe('1. query editor', () => {
    it('highlights PromQL by what each token is', async () => {
      await page.goto(`${server.baseUrl}/query`);
      await input().fill('sum by (instance) (rate(demo_value{instance="a"}[5m])) # per host');
      const tokens = await page.locator('.editor-highlight span[class^="tok-"]').evaluateAll((spans) =>
        spans.map((span) => [span.className, span.textContent]),
      );
      for (const expected of [
        ['tok-aggregation', 'sum'],
        ['tok-keyword', 'by'],
        ['tok-label', 'instance'],
        ['tok-function', 'rate'],
        ['tok-metric', 'demo_value'],
        ['tok-string', '"a"'],
        ['tok-duration', '5m'],
        ['tok-comment', '# per host'],
      ]) {
        assert.ok(tokens.some(([c, t]) => c === expected[0] && t === expected[1]), `${expected} in ${JSON.stringify(tokens)}`);
      }
      // The highlighted copy lies exactly under the text: same box, same first glyph position.
      const [area, layer] = await Promise.all([
        page.locator('textarea.expression').boundingBox(),
        page.locator('.editor-highlight').boundingBox(),
      ]);
      assert.deepEqual([area.x, area.y, area.width], [layer.x, layer.y, layer.width]);
      await shot('editor-highlighting');
    });

    it('completes metric names, label names and values, and functions with their signature', async () => {
      await page.goto(`${server.baseUrl}/query`);
      await input().click();
      await input().pressSequentially('demo_va');
      const first = page.getByTestId('completion').first();
      await first.waitFor();
      assert.match(await first.innerText(), /demo_value/);
      await shot('editor-completion-metric');
      // Enter runs what was typed; Tab (or Enter after moving through the list) completes.
      await input().press('Enter');
      await page.waitForURL((url) => url.searchParams.get('g0.expr') === 'demo_va');
      assert.equal(await input().inputValue(), 'demo_va');
      await input().pressSequentially('l');
      await page.getByTestId('completion').first().waitFor();
      await input().press('Tab');
      assert.equal(await input().inputValue(), 'demo_value');

      await input().pressSequentially('{');
      await page.getByTestId('completion').filter({ hasText: 'instance' }).waitFor();
      await input().press('Tab');
      assert.equal(await input().inputValue(), 'demo_value{instance');
      await input().pressSequentially('=');
      const values = page.getByTestId('completion');
      await values.filter({ hasText: 'b' }).first().waitFor();
      assert.deepEqual(
        await page.locator('[data-testid=completion] .completion-label').allInnerTexts(),
        ['a', 'b'],
      );
      await input().press('ArrowDown');
      await input().press('Enter');
      assert.equal(await input().inputValue(), 'demo_value{instance="b"');

      await input().fill('');
      await input().pressSequentially('histogram_q');
      const fn = page.getByTestId('completion').filter({ hasText: 'histogram_quantile' }).first();
      await fn.waitFor();
      assert.match(
        await fn.locator('.completion-detail').innerText(),
        /^histogram_quantile\(scalar, instant-vector\) instant-vector — .+/,
      );
      await shot('editor-completion-function');
      await input().press('Tab');
      assert.equal(await input().inputValue(), 'histogram_quantile(');

      // Inside brackets: durations; in a by (...) list: label names.
      await input().fill('');
      await input().pressSequentially('rate(demo_value[');
      await page.getByTestId('completion').filter({ hasText: '5m' }).first().waitFor();
      await input().press('Escape');
      assert.equal(await page.getByTestId('completions').count(), 0);
      await input().fill('');
      await input().pressSequentially('sum by (inst');
      await page.getByTestId('completion').filter({ hasText: 'instance' }).first().waitFor();
    });

    it('marks a parse error at its position while typing', async () => {
      await page.goto(`${server.baseUrl}/query`);
      const text = 'sum(rate(demo_value[5m]) by (instance)';
      await input().fill(text);
      const message = page.getByTestId('parse-error');
      const at = text.indexOf(' by') + 1;
      assert.equal(await message.innerText(), `1:${at + 1}: parse error: unexpected <by> in aggregation`);
      const marker = page.locator('.editor-highlight .error-marker');
      assert.equal(await marker.innerText(), 'by');
      // Under those characters: the monospace advance times their offset from the first glyph.
      const sum = await page.locator('.editor-highlight .tok-aggregation').boundingBox();
      const advance = sum.width / 3;
      const box = await marker.boundingBox();
      assert.ok(Math.abs(box.x - (sum.x + at * advance)) < 1.5, `marker at ${box.x}, expected ${sum.x + at * advance}`);
      assert.ok(Math.abs(box.width - 2 * advance) < 1.5);
      await shot('editor-error-marker');
      await input().fill('sum(rate(demo_value[5m])) by (instance)');
      assert.equal(await message.count(), 0);
    });

    it('formats, runs on Enter, adds lines on Shift+Enter and keeps a history', async () => {
      await page.goto(`${server.baseUrl}/query`);
      await input().fill('sum(rate(demo_value[5m]))by(instance)');
      await page.getByTestId('format').click();
      assert.equal(await input().inputValue(), 'sum by (instance) (rate(demo_value[5m]))');

      await input().fill('');
      await input().pressSequentially('demo_value');
      await input().press('Escape');
      await input().press('Shift+Enter');
      await input().pressSequentially('* 2');
      assert.equal(await input().inputValue(), 'demo_value\n* 2');
      await input().press('Enter');
      await page.waitForURL((url) => url.searchParams.get('g0.expr') === 'demo_value\n* 2');
      await page.getByTestId('result-table').waitFor();

      await page.getByTestId('history-button').click();
      const entries = await page.locator('[data-testid=history-list] button').allInnerTexts();
      assert.equal(entries[0], 'demo_value\n* 2');
    });
  });

  describe('2. panels', () => {
    it('shows the table with result type, series count, query time and samples read', async () => {
      await page.goto(`${server.baseUrl}/query?g0.expr=demo_value&g0.tab=table&g0.moment_input=${encodeURIComponent(utcText(END_S))}`);
      await page.getByTestId('result-table').waitFor();
      assert.equal(await page.getByTestId('result-type').innerText(), 'vector');
      assert.equal(await page.getByTestId('series-count').innerText(), 'Series: 2');
      // An instant selector reads each series' newest sample in the lookback window, one a
      // series, as Prometheus counts it.
      assert.equal(await page.getByTestId('samples-read').innerText(), 'Samples read: 2');
      assert.match(await page.getByTestId('query-time').innerText(), /^Query time: \d+\.\d ms$/);
      const rows = await page.getByTestId('result-row').evaluateAll((trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, ' ').trim()));
      assert.deepEqual(rows, [`demo_value{instance="a"} ${SAMPLES - 1}`, `demo_value{instance="b"} ${2 * (SAMPLES - 1)}`]);
      assert.equal(await page.getByTestId('moment-input').inputValue(), inputTime(END_S));
      await shot('panel-table');
    });

    it('adds, duplicates, reorders and removes panels, each in the URL', async () => {
      await page.goto(`${server.baseUrl}/query?g0.expr=demo_value&g0.tab=table`);
      await page.getByTestId('add-panel').click();
      assert.equal(await page.getByTestId('panel').count(), 2);
      await page.waitForURL((url) => url.searchParams.has('g1.expr'));
      const second = page.getByTestId('panel').nth(1);
      await second.getByTestId('expr-input').fill('demo_gaps');
      await second.getByTestId('execute').click();
      await page.waitForURL((url) => url.searchParams.get('g1.expr') === 'demo_gaps');

      await second.getByTestId('panel-duplicate').click();
      await page.waitForURL((url) => url.searchParams.get('g2.expr') === 'demo_gaps');
      assert.equal(await page.getByTestId('panel').count(), 3);

      await page.getByTestId('panel').nth(1).getByTestId('panel-up').click();
      await page.waitForURL((url) => url.searchParams.get('g0.expr') === 'demo_gaps' && url.searchParams.get('g1.expr') === 'demo_value');
      assert.equal(await page.getByTestId('panel').first().getByTestId('expr-input').inputValue(), 'demo_gaps');

      await page.getByTestId('panel').first().getByTestId('panel-remove').click();
      await page.waitForURL((url) => !url.searchParams.has('g2.expr'));
      assert.equal(await page.getByTestId('panel').count(), 2);
      assert.equal(urlParam('g0.expr'), 'demo_value');
      await shot('panels');
    });

    it('explains a query as a tree whose nodes run on their own', async () => {
      await page.goto(
        `${server.baseUrl}/query?g0.expr=${encodeURIComponent('sum by (instance) (rate(demo_value[5m]))')}&g0.tab=explain&g0.moment_input=${encodeURIComponent(utcText(END_S))}`,
      );
      const titles = await page.getByTestId('explain-title').allInnerTexts();
      assert.deepEqual(titles, ['aggregation: sum by (instance)', 'function: rate()', 'range selector [5m]']);
      const rateNode = page.getByTestId('explain-node').nth(1);
      await rateNode.getByTestId('explain-run').first().click();
      const result = rateNode.getByTestId('explain-result').first();
      await result.waitFor();
      assert.match(await result.innerText(), /vector result, series: 2/);
      await shot('panel-explain');
    });
  });

  describe('3. graph', () => {
    it('draws the series and the tooltip shows the value under the cursor', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      assert.equal(await page.getByTestId('legend-item').count(), 2);
      const box = await page.getByTestId('graph-canvas').boundingBox();
      for (const fraction of [0.3, 0.5, 0.8]) {
        await page.mouse.move(box.x + 80 + (box.width - 100) * fraction, box.y + 150);
        const tooltip = page.getByTestId('graph-tooltip');
        await tooltip.waitFor();
        const time = await page.getByTestId('tooltip-time').innerText();
        assert.match(time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
        const seconds = Date.parse(`${time.replace(' UTC', '').replace(' ', 'T')}Z`) / 1000;
        const i = (seconds - START_S) / STEP_S;
        assert.ok(Number.isInteger(i) && i > 0, `tooltip time ${time} is not a sample time`);
        const rows = await page.getByTestId('tooltip-row').evaluateAll((divs) =>
          Object.fromEntries(divs.map((d) => [d.querySelector('.tooltip-series').textContent, d.querySelector('.tooltip-value').textContent])),
        );
        assert.deepEqual(rows, { 'demo_value{instance="a"}': String(i), 'demo_value{instance="b"}': String(2 * i) });
      }
      await shot('graph-hover');
    });

    it('zooms into a dragged range, out on double click, and keeps both in the URL', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      const box = await page.getByTestId('graph-canvas').boundingBox();
      const left = box.x + 80 + (box.width - 100) * 0.25;
      const right = box.x + 80 + (box.width - 100) * 0.75;
      await page.mouse.move(left, box.y + 100);
      await page.mouse.down();
      await page.mouse.move((left + right) / 2, box.y + 120, { steps: 4 });
      await page.getByTestId('zoom-selection').waitFor();
      await page.mouse.move(right, box.y + 120, { steps: 4 });
      await page.mouse.up();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') !== '1h');
      const zoomed = parseDuration(urlParam('g0.range_input'));
      assert.ok(zoomed > 25 * 60_000 && zoomed < 35 * 60_000, `zoomed range ${urlParam('g0.range_input')}`);
      const zoomedEnd = Date.parse(`${urlParam('g0.end_input').replace(' ', 'T')}Z`);
      assert.ok(zoomedEnd < END_S * 1000 && zoomedEnd > (END_S - 1800) * 1000, urlParam('g0.end_input'));
      await graphDrawn();
      await shot('graph-zoomed');

      await page.mouse.dblclick(box.x + box.width / 2, box.y + 150);
      await page.waitForURL((url) => parseDuration(url.searchParams.get('g0.range_input')) === 2 * zoomed);
      // Back undoes the zoom out.
      await page.goBack();
      await page.waitForURL((url) => parseDuration(url.searchParams.get('g0.range_input')) === zoomed);
      assert.equal(await page.getByTestId('range-input').inputValue(), urlParam('g0.range_input'));
    });

    it('isolates a series on click and toggles it on Ctrl+click in the legend', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      const items = page.getByTestId('legend-item');
      const hidden = () => items.evaluateAll((lis) => lis.map((li) => li.classList.contains('hidden')));
      await items.first().click();
      assert.deepEqual(await hidden(), [false, true]);
      const box = await page.getByTestId('graph-canvas').boundingBox();
      await page.mouse.move(box.x + box.width / 2, box.y + 150);
      await page.getByTestId('tooltip-row').first().waitFor();
      assert.equal(await page.getByTestId('tooltip-row').count(), 1);
      await items.first().click();
      assert.deepEqual(await hidden(), [false, false]);
      await items.nth(1).click({ modifiers: ['Control'] });
      assert.deepEqual(await hidden(), [false, true]);
      await items.nth(1).click({ modifiers: ['Control'] });
      assert.deepEqual(await hidden(), [false, false]);
      // Colours stay with the series, not with their position: b keeps its colour when it is
      // the only series of another query.
      const swatchOf = async (name) =>
        page.getByTestId('legend-item').filter({ hasText: name }).locator('.swatch').evaluate((e) => e.style.background);
      const colourOfB = await swatchOf('instance="b"');
      assert.notEqual(await swatchOf('instance="a"'), colourOfB);
      await page.goto(graphUrl(server, 'demo_value{instance="b"}'));
      await graphDrawn();
      assert.equal(await page.getByTestId('legend-item').count(), 1);
      assert.equal(await swatchOf('instance="b"'), colourOfB);
    });

    it('keeps text not yet executed when the range changes', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      await input().fill('demo_value * 3');
      await page.getByTestId('range-longer').click();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '3h');
      assert.equal(await input().inputValue(), 'demo_value * 3');
      assert.equal(urlParam('g0.expr'), 'demo_value');
    });

    it('stacks series, changes range and resolution, and survives NaN and Inf', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      await page.getByTestId('display-mode').selectOption('stacked');
      await page.waitForURL((url) => url.searchParams.get('g0.display_mode') === 'stacked' && url.searchParams.get('g0.stacked') === '1');
      await graphDrawn();
      await shot('graph-stacked');

      await page.getByTestId('range-longer').click();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '3h');
      await page.getByTestId('range-shorter').click();
      await page.getByTestId('range-shorter').click();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '30m');
      await page.getByTestId('range-input').fill('2h');
      await page.getByTestId('range-input').press('Enter');
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '2h');
      await page.getByTestId('step-input').fill('1m');
      await page.getByTestId('step-input').press('Enter');
      await page.waitForURL((url) => url.searchParams.get('g0.res_step') === '60' && url.searchParams.get('g0.step_input') === '60');
      await page.getByTestId('step-input').fill('');
      await page.getByTestId('step-input').press('Enter');
      await page.waitForURL((url) => url.searchParams.get('g0.res_type') === 'auto');

      await page.goto(graphUrl(server, 'demo_gaps'));
      await graphDrawn();
      // Find a NaN and an Inf sample under the cursor by walking across the plot.
      const box = await page.getByTestId('graph-canvas').boundingBox();
      const seen = new Set();
      for (let x = box.x + 80; x < box.x + box.width - 20 && seen.size < 2; x += 3) {
        await page.mouse.move(x, box.y + 150);
        const value = await page.getByTestId('tooltip-value').first().innerText().catch(() => '');
        if (value === 'NaN' || value === '+Inf') seen.add(value);
      }
      assert.deepEqual([...seen].sort(), ['+Inf', 'NaN']);
      await shot('graph-gaps');

      await page.goto(graphUrl(server, 'demo_memory_bytes'));
      await graphDrawn();
      await page.mouse.move(box.x + box.width / 2, box.y + 150);
      assert.equal(await page.getByTestId('tooltip-value').innerText(), '1.5 GiB');
    });

    it('refreshes a graph that ends now at the chosen interval, keeping the legend choice', async () => {
      await page.goto(`${server.baseUrl}/query?g0.expr=demo_value&g0.tab=graph&g0.range_input=1h`);
      await graphDrawn();
      await page.getByTestId('legend-item').first().click();
      let queries = 0;
      const count = (request) => {
        if (request.url().includes('/api/v1/query_range')) queries += 1;
      };
      page.on('request', count);
      await page.getByTestId('refresh').selectOption('5');
      await sleep(11_500);
      page.off('request', count);
      assert.ok(queries >= 2 && queries <= 3, `${queries} range queries in 11.5 s at a 5 s refresh`);
      const hidden = await page.getByTestId('legend-item').evaluateAll((lis) => lis.map((li) => li.classList.contains('hidden')));
      assert.deepEqual(hidden, [false, true]);
      await page.getByTestId('refresh').selectOption('0');
    });
  });

  describe('4. shareable URLs', () => {
    const shared = () => {
      const params = new URLSearchParams({
        'g0.expr': 'demo_value',
        'g0.tab': 'graph',
        'g0.range_input': '2h',
        'g0.end_input': utcText(END_S - 600),
        'g0.res_type': 'fixed',
        'g0.res_step': '30',
        'g0.display_mode': 'stacked',
        'g1.expr': 'demo_gaps',
        'g1.tab': 'table',
        'g1.moment_input': utcText(END_S - 1200),
      });
      return `${server.baseUrl}/query?${params}`;
    };

    const assertRestored = async () => {
      assert.equal(await page.getByTestId('panel').count(), 2);
      const [graphPanel, tablePanel] = [page.getByTestId('panel').first(), page.getByTestId('panel').nth(1)];
      assert.equal(await graphPanel.getByTestId('expr-input').inputValue(), 'demo_value');
      assert.equal(await graphPanel.getByTestId('range-input').inputValue(), '2h');
      assert.equal(await graphPanel.getByTestId('step-input').inputValue(), '30s');
      assert.equal(await graphPanel.getByTestId('display-mode').inputValue(), 'stacked');
      assert.equal(await graphPanel.getByTestId('end-input').inputValue(), inputTime(END_S - 600));
      assert.equal(await tablePanel.getByTestId('expr-input').inputValue(), 'demo_gaps');
      assert.equal(await tablePanel.getByTestId('moment-input').inputValue(), inputTime(END_S - 1200));
      await tablePanel.getByTestId('result-table').waitFor();
      const i = (END_S - 1200 - START_S) / STEP_S;
      assert.match(await tablePanel.getByTestId('result-row').innerText(), new RegExp(`${i}$`));
    };

    it('restores every panel from a shared link and after a reload', async () => {
      await page.goto(shared());
      await graphDrawn();
      await assertRestored();
      await page.reload();
      await graphDrawn();
      await assertRestored();
      await shot('shared-url');
    });

    it('opens Prometheus 2 links and writes links both Prometheus versions read', async () => {
      await page.goto(`${server.baseUrl}/graph?g0.expr=demo_value&g0.tab=0&g0.stacked=1&g0.range_input=30m&g0.step_input=60`);
      await graphDrawn();
      assert.equal(await page.getByTestId('display-mode').inputValue(), 'stacked');
      assert.equal(await page.getByTestId('step-input').inputValue(), '1m');
      assert.equal(await page.getByTestId('range-input').inputValue(), '30m');
      assert.equal(new URL(page.url()).pathname, '/graph');
      for (const [name, value] of [['g0.tab', 'graph'], ['g0.display_mode', 'stacked'], ['g0.stacked', '1'], ['g0.res_type', 'fixed'], ['g0.res_step', '60'], ['g0.step_input', '60']]) {
        assert.equal(urlParam(name), value, name);
      }
    });

    it('keeps the query in the history when leaving for another page', async () => {
      await page.goto(`${server.baseUrl}/query?g0.expr=demo_value&g0.tab=table`);
      await page.getByTestId('result-table').waitFor();
      await page.getByRole('navigation').getByRole('link', { name: 'Alerts', exact: true }).click();
      await page.waitForURL((url) => url.pathname === '/alerts');
      await page.getByTestId('alerts-page').waitFor();
      assert.equal(new URL(page.url()).search, '');
      await page.goBack();
      await page.waitForURL((url) => url.pathname === '/query' && url.searchParams.get('g0.expr') === 'demo_value');
      assert.equal(await input().inputValue(), 'demo_value');
    });

    it('copies the link, and back and forward restore the state', async () => {
      await page.goto(shared());
      await graphDrawn();
      await page.getByTestId('copy-link').click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), page.url());
      const first = page.getByTestId('panel').first();
      await first.getByTestId('range-longer').click();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '3h');
      await first.getByTestId('tab-table').click();
      await page.waitForURL((url) => url.searchParams.get('g0.tab') === 'table');
      await page.goBack();
      await page.waitForURL((url) => url.searchParams.get('g0.tab') === 'graph');
      assert.equal(await first.getByTestId('range-input').inputValue(), '3h');
      await page.goBack();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '2h');
      assert.equal(await first.getByTestId('range-input').inputValue(), '2h');
      await page.goForward();
      await page.waitForURL((url) => url.searchParams.get('g0.range_input') === '3h');
      assert.equal(await first.getByTestId('range-input').inputValue(), '3h');
    });
  });

  describe('5. metrics explorer', () => {
    it('lists metrics with TYPE and HELP, searches them, and picks one into the editor', async () => {
      // Metadata comes from scrapes: wait for the server's scrape of itself.
      const deadline = Date.now() + 40_000;
      for (;;) {
        await page.goto(`${server.baseUrl}/query`);
        await page.getByTestId('explore-metrics').click();
        await page.getByTestId('metrics-explorer').waitFor();
        await page.getByTestId('explorer-search').fill('resident memory');
        await sleep(500);
        const rows = await page.getByTestId('explorer-row').allInnerTexts();
        if (rows.some((row) => row.startsWith('process_resident_memory_bytes'))) break;
        assert.ok(Date.now() < deadline, `no process_resident_memory_bytes with its help: ${JSON.stringify(rows)}`);
        await sleep(2_000);
      }
      const row = page.getByTestId('explorer-row').filter({ hasText: 'process_resident_memory_bytes' }).first();
      assert.equal(await row.locator('.metric-type').innerText(), 'gauge');
      assert.match(await row.locator('.metric-help').innerText(), /[Rr]esident memory/);
      await shot('metrics-explorer');
      await row.click();
      assert.equal(await page.getByTestId('metrics-explorer').count(), 0);
      assert.equal(await input().inputValue(), 'process_resident_memory_bytes');
    });
  });

  describe('6. time zone, themes and small screens', () => {
    it('shows times in UTC or local time as chosen', async () => {
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      assert.equal(await page.getByTestId('utc-toggle').innerText(), 'UTC');
      assert.equal(await page.getByTestId('end-input').inputValue(), inputTime(END_S));
      await page.getByTestId('utc-toggle').click();
      assert.equal(await page.getByTestId('utc-toggle').innerText(), 'Local time');
      const local = await page.evaluate((s) => {
        const d = new Date(s * 1000);
        const pad = (n) => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
      }, END_S);
      assert.equal(await page.getByTestId('end-input').inputValue(), local.replace(/:00$/, ''));
      await page.getByTestId('utc-toggle').click();
    });

    it('follows the system theme unless one is chosen', async () => {
      const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const isDark = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((a, b) => a + b) < 200;
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.goto(graphUrl(server, 'demo_value'));
      await graphDrawn();
      assert.equal(await page.getByTestId('theme-toggle').innerText(), 'Theme: system');
      assert.ok(isDark(await background()));
      await shot('theme-dark');
      await page.getByTestId('theme-toggle').click();
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
      assert.ok(!isDark(await background()));
      await page.emulateMedia({ colorScheme: 'light' });
      await page.getByTestId('theme-toggle').click();
      assert.ok(isDark(await background()));
      // Back to following the system.
      await page.getByTestId('theme-toggle').click();
      assert.ok(!isDark(await background()));
    });

    it('fits a phone screen', async () => {
      const phone = await context.newPage();
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(graphUrl(server, 'demo_value'));
      await phone.getByTestId('graph-canvas').waitFor();
      await phone.waitForFunction(() => document.querySelector('[data-testid=graph-canvas]')?.dataset.drawMs !== undefined);
      const widths = await phone.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        canvas: document.querySelector('[data-testid=graph-canvas]').getBoundingClientRect().width,
      }));
      assert.ok(widths.page <= 390, `page is ${widths.page}px wide`);
      assert.ok(widths.canvas > 250 && widths.canvas <= 390, `canvas is ${widths.canvas}px wide`);
      await phone.screenshot({ path: path.join(resultsDir, 'phone.png'), fullPage: true });
      await phone.close();
    });
  });
});
