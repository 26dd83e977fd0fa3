// Benchmarks of the web UI, Narthex beside Debian's Prometheus in the same run (`npm run bench`):
//
// 1. Compressed size of the UI code a cold load of the query page fetches (wasm, JS, CSS;
//    gzip -9 of each body as the browser received it, so both are measured the same way).
// 2. Time to first result for `up` on a cold load: a fresh browser context (empty cache)
//    opens the page with `up` in its URL; the clock stops when the result table shows
//    `up{...job="prometheus"...}`. Median of ROUNDS.
// 3. The targets page with 5,000 targets (all on closed ports) in one pool: time from opening
//    the page to the first hundred rows shown, both servers on the same configuration.
// 4. Narthex alone: a graph of 500 series x 11,000 points (load, draw, hover frame time).
//    Prometheus 2.42's classic UI is not run on it.
//
// Needs target/release/narthex, dist/ built into it, Debian's prometheus and chromium.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

import { launchChromium, sleep } from '../tests/browser.mjs';
import { startNarthex } from '../tests/narthex-server.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const PROMETHEUS_PORT = 19_391;

const selfScrape = (port) =>
  `global:\n  scrape_interval: 5s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:${port}']\n`;

// 5,000 targets nobody listens on, scraped every minute, beside the self-scrape.
const manyTargets = (port) =>
  `${selfScrape(port)}  - job_name: many\n    scrape_interval: 60s\n    static_configs:\n      - targets: [${Array.from(
    { length: 5000 },
    (_, i) => `'127.0.0.1:${20000 + i}'`,
  ).join(', ')}]\n`;

async function startPrometheus(configText = selfScrape) {
  const dir = await mkdtemp(path.join(tmpdir(), 'prom-ui-bench-'));
  const config = path.join(dir, 'prometheus.yml');
  await writeFile(config, configText(PROMETHEUS_PORT));
  const child = spawn('prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
  ], { stdio: 'ignore' });
  return {
    baseUrl: `http://127.0.0.1:${PROMETHEUS_PORT}`,
    async stop() {
      child.kill('SIGTERM');
      await sleep(500);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForUp(baseUrl) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    try {
      const answer = await (await fetch(`${baseUrl}/api/v1/query?query=up`)).json();
      if (answer.data?.result?.length > 0) return;
    } catch {
      // not up yet
    }
    await sleep(500);
  }
  throw new Error(`${baseUrl} has no up series after 60 s`);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

// One cold load: milliseconds to the first `up` row, and the gzip -9 bytes of the code fetched.
async function coldLoad(browser, url) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const bodies = [];
  page.on('response', async (response) => {
    const type = response.headers()['content-type'] ?? '';
    if (/javascript|wasm|css/.test(type)) {
      try {
        bodies.push(await response.body());
      } catch {
        // redirects have no body
      }
    }
  });
  const started = Date.now();
  await page.goto(url);
  await page.waitForFunction(() => /up\{[^}]*job="prometheus"/.test(document.body.innerText), null, {
    timeout: 30_000,
  });
  const elapsed = Date.now() - started;
  await sleep(200);
  const gzipped = bodies.reduce((sum, body) => sum + gzipSync(body, { level: 9 }).length, 0);
  const raw = bodies.reduce((sum, body) => sum + body.length, 0);
  await context.close();
  return { elapsed, gzipped, raw };
}

async function bigGraph(browser) {
  const seriesCount = 500;
  const stepSeconds = 55;
  const rangeSeconds = 7 * 86_400; // 10,997 points at 55 s
  const now = Math.floor(Date.now() / 1000);
  const end = now - 60;
  // One sample per series, before the range; last_over_time carries it across every step.
  let openMetrics = '# TYPE bench_series gauge\n';
  for (let i = 0; i < seriesCount; i++) openMetrics += `bench_series{i="${i}"} ${i} ${now - 8 * 86_400}\n`;
  openMetrics += '# EOF\n';
  const narthex = await startNarthex({ openMetrics });
  try {
    const expr = 'last_over_time(bench_series[10d]) + 10 * scalar(sin(vector(time() / 3600)))';
    const params = new URLSearchParams({
      'g0.expr': expr,
      'g0.tab': 'graph',
      'g0.range_input': '1w',
      'g0.end_input': new Date(end * 1000).toISOString().slice(0, 19).replace('T', ' '),
      'g0.res_type': 'fixed',
      'g0.res_step': String(stepSeconds),
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(`${narthex.baseUrl}/query?${params}`);
    await page.waitForFunction(() => document.querySelector('[data-testid=graph-canvas]')?.dataset.drawMs !== undefined, null, { timeout: 300_000 });
    const shown = Date.now() - started;
    const drawMs = Number(await page.getByTestId('graph-canvas').getAttribute('data-draw-ms'));
    const legend = await page.getByTestId('legend-item').count();
    const points = rangeSeconds / stepSeconds;
    // Hover: time from a mouse move to the next painted frame, over 30 positions.
    const frames = await page.evaluate(async () => {
      const frame = document.querySelector('[data-testid=graph]');
      const box = frame.getBoundingClientRect();
      const times = [];
      for (let k = 0; k < 30; k++) {
        const x = box.left + 90 + ((box.width - 110) * k) / 29;
        const t0 = performance.now();
        frame.dispatchEvent(new MouseEvent('mousemove', { clientX: x, clientY: box.top + 150, bubbles: true }));
        await new Promise((resolve) => requestAnimationFrame(() => resolve()));
        times.push(performance.now() - t0);
      }
      return times;
    });
    await context.close();
    return { legend, points, shown, drawMs, hoverMedian: median(frames), hoverMax: Math.max(...frames) };
  } finally {
    await narthex.stop();
  }
}

// Milliseconds from opening `url` until `selector` matches at least `count` elements; median.
async function timeToRows(browser, url, selector, count) {
  const times = [];
  for (let round = 0; round < 5; round++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const started = Date.now();
    await page.goto(url);
    await page.waitForFunction(([s, n]) => document.querySelectorAll(s).length >= n, [selector, count], { timeout: 60_000 });
    times.push(Date.now() - started);
    await context.close();
  }
  return median(times);
}

async function manyTargetsPage(browser) {
  const narthex = await startNarthex({ files: { 'prometheus.yml': manyTargets } });
  const prometheus = await startPrometheus(manyTargets);
  try {
    await Promise.all([waitForUp(narthex.baseUrl), waitForUp(prometheus.baseUrl)]);
    const narthexMs = await timeToRows(browser, `${narthex.baseUrl}/targets`, '[data-testid=target-row]', 100);
    const prometheusMs = await timeToRows(browser, `${prometheus.baseUrl}/classic/targets`, 'table tbody tr', 100);
    return { narthexMs, prometheusMs, ratio: Number((narthexMs / prometheusMs).toFixed(2)) };
  } finally {
    await narthex.stop();
    await prometheus.stop();
  }
}

const browser = await launchChromium();
const narthex = await startNarthex();
const prometheus = await startPrometheus();
try {
  await Promise.all([waitForUp(narthex.baseUrl), waitForUp(prometheus.baseUrl)]);
  const targets = {
    narthex: `${narthex.baseUrl}/query?g0.expr=up&g0.tab=table`,
    prometheus: `${prometheus.baseUrl}/classic/graph?g0.expr=up&g0.tab=1`,
  };
  const results = { narthex: [], prometheus: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(targets)) results[name].push(await coldLoad(browser, targets[name]));
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([name, loads]) => [
      name,
      { firstResultMs: median(loads.map((l) => l.elapsed)), codeGzipBytes: loads[0].gzipped, codeRawBytes: loads[0].raw },
    ]),
  );
  console.log(JSON.stringify(summary, null, 2));
  console.log(
    `ratios narthex/prometheus: first result ${(summary.narthex.firstResultMs / summary.prometheus.firstResultMs).toFixed(2)}, ` +
      `code gzip ${(summary.narthex.codeGzipBytes / summary.prometheus.codeGzipBytes).toFixed(2)}`,
  );
} finally {
  await narthex.stop();
  await prometheus.stop();
}
try {
  console.log(JSON.stringify({ targets5000: await manyTargetsPage(browser) }, null, 2));
  console.log(JSON.stringify({ bigGraph: await bigGraph(browser) }, null, 2));
} finally {
  await browser.close();
}
