// The operations pages (targets, service discovery, alerts, rules, status) in Debian's Chromium
// against the real binary, with real targets: Narthex itself, a small HTTP exporter this test
// runs and then stops (the target goes down and the page shows the error), a port nobody
// listens on, a target relabeling drops, and 250 targets for paging; and rules with an alert
// that fires (its annotation templated from its value), one pending and one inactive.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { launchChromium, sleep } from './browser.mjs';
import { resultsDir, startNarthex } from './narthex-server.mjs';

const UI_TIMEOUT_MS = 15_000;
const MANY = 250;

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const rules = `groups:
  - name: demo
    interval: 1s
    rules:
      - alert: AlwaysFiring
        expr: vector(42)
        labels:
          severity: page
        annotations:
          summary: "The answer is {{ $value }}"
      - alert: SlowToFire
        expr: vector(1)
        for: 1h
      - alert: NeverFires
        expr: vector(1) == 2
      - record: job:up:sum
        expr: sum by (job) (up)
`;

function config(exporterPort) {
  return (port) => {
    const many = Array.from({ length: MANY }, (_, i) => `'127.0.0.1:${30000 + i}'`).join(', ');
    return `global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yml
scrape_configs:
  - job_name: narthex
    static_configs:
      - targets: ['127.0.0.1:${port}']
  - job_name: exporter
    static_configs:
      - targets: ['127.0.0.1:${exporterPort}']
  - job_name: relabeled
    static_configs:
      - targets: ['127.0.0.1:9', '127.0.0.1:7']
        labels:
          team: infra
    relabel_configs:
      - source_labels: [__address__]
        regex: '127\\.0\\.0\\.1:7'
        action: drop
  - job_name: secured
    basic_auth:
      username: monitor
      password: hunter2-do-not-show
    static_configs:
      - targets: ['127.0.0.1:11']
  - job_name: many
    scrape_interval: 30s
    static_configs:
      - targets: [${many}]
`;
  };
}

describe('Operations pages', () => {
  let server;
  let exporter;
  let browser;
  let page;
  const pageErrors = [];
  const shot = (name) => page.screenshot({ path: path.join(resultsDir, `${name}.png`) });
  const poolSection = (name) => page.getByTestId('pool').filter({ has: page.getByTestId('pool-name').getByText(name, { exact: true }) });

  before(async () => {
    await mkdir(resultsDir, { recursive: true });
    exporter = createServer((request, response) => {
      response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      response.end('# TYPE demo_up gauge\ndemo_up 1\n');
    });
    const exporterPort = await listen(exporter);
    server = await startNarthex({ files: { 'prometheus.yml': config(exporterPort), 'rules.yml': rules } });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) pageErrors.push(message.text());
    });
    // The first scrapes and rule evaluations (every second) before anything is asserted.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const targets = await (await fetch(`${server.baseUrl}/api/v1/targets?state=active`)).json();
      const rulesNow = await (await fetch(`${server.baseUrl}/api/v1/rules`)).json();
      const up = (job) => targets.data.activeTargets.some((t) => t.labels.job === job && t.health === 'up');
      const evaluated = rulesNow.data.groups[0]?.rules.every((r) => r.health === 'ok' && !r.lastEvaluation.startsWith('0001'));
      const firing = rulesNow.data.groups[0]?.rules.some((r) => r.name === 'AlwaysFiring' && r.state === 'firing');
      const downs = targets.data.activeTargets.filter((t) => t.labels.job === 'relabeled' && t.health === 'down');
      if (up('narthex') && up('exporter') && evaluated && firing && downs.length === 1) break;
      assert.ok(Date.now() < deadline, 'targets and rules not ready after 30 s');
      await sleep(250);
    }
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    exporter?.close();
    assert.deepEqual(pageErrors, [], 'the page threw uncaught errors');
  });

  it('lists targets by pool with counts, and shows a target going down with its error', async () => {
    await page.goto(`${server.baseUrl}/targets`);
    await poolSection('exporter').waitFor();
    assert.deepEqual(await page.getByTestId('pool-name').allInnerTexts(), ['exporter', 'many', 'narthex', 'relabeled', 'secured']);
    assert.equal(await poolSection('narthex').getByTestId('pool-count').innerText(), '1/1 up');
    const exporterRow = poolSection('exporter').getByTestId('target-row');
    assert.match(await exporterRow.getByTestId('state-badge').innerText(), /UP/);
    assert.match(await exporterRow.getByTestId('last-scrape').innerText(), /s ago$/);
    assert.match(await exporterRow.getByTestId('target-endpoint').getAttribute('href'), /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    // The exporter stops; with auto-refresh on, the page turns it down with the error.
    await page.getByTestId('auto-refresh').selectOption('5');
    await page.waitForURL((url) => url.searchParams.get('refresh') === '5');
    await new Promise((resolve) => exporter.close(resolve));
    exporter.closeAllConnections?.();
    await exporterRow.getByTestId('state-badge').getByText('DOWN').waitFor({ timeout: 20_000 });
    assert.match(await exporterRow.getByTestId('target-error').innerText(), /refused|connect/i);
    assert.equal(await poolSection('exporter').getByTestId('pool-count').innerText(), '0/1 up');
    await shot('targets-down');
  });

  it('filters by health and text, in the URL', async () => {
    await page.goto(`${server.baseUrl}/targets`);
    await poolSection('narthex').waitFor();
    await page.getByTestId('health-up').check();
    await page.waitForURL((url) => url.searchParams.get('health') === 'up');
    const states = await page.getByTestId('target-row').getByTestId('state-badge').allInnerTexts();
    assert.ok(states.length >= 1 && states.every((s) => s === 'UP'), JSON.stringify(states));
    // A deep link: down targets on port 9 only.
    await page.goto(`${server.baseUrl}/targets?health=down&search=${encodeURIComponent('127.0.0.1:9/')}`);
    await page.getByTestId('target-row').first().waitFor();
    assert.equal(await page.getByTestId('target-row').count(), 1);
    assert.equal(await page.getByTestId('health-down').isChecked(), true);
    assert.equal(await page.getByTestId('targets-search').inputValue(), '127.0.0.1:9/');
    assert.match(await page.getByTestId('target-error').innerText(), /refused/i);
  });

  it('keeps relative times moving between refreshes', async () => {
    await page.goto(`${server.baseUrl}/targets?search=narthex`);
    const lastScrape = poolSection('narthex').getByTestId('last-scrape');
    await lastScrape.waitFor();
    const seconds = async () => {
      const text = await lastScrape.innerText();
      const match = /^(\d+(?:\.\d)?)s ago$/.exec(text);
      assert.ok(match, text);
      return Number(match[1]);
    };
    const first = await seconds();
    await sleep(2_200);
    // No refresh is on: the data is the same, only the clock moved.
    assert.ok((await seconds()) >= first + 2, 'the relative time did not move');
  });

  it('pages a large pool', async () => {
    await page.goto(`${server.baseUrl}/targets?search=30`);
    const many = poolSection('many');
    await many.waitFor();
    assert.equal(await many.getByTestId('target-row').count(), 100);
    assert.equal(await many.getByTestId('show-more').innerText(), `Show 100 more of ${MANY - 100}`);
    await many.getByTestId('show-more').click();
    assert.equal(await many.getByTestId('target-row').count(), 200);
    await many.getByTestId('show-more').click();
    assert.equal(await many.getByTestId('target-row').count(), MANY);
    assert.equal(await many.getByTestId('show-more').count(), 0);
  });

  it('shows discovered labels beside target labels, and dropped targets with the reason', async () => {
    await page.goto(`${server.baseUrl}/service-discovery?pool=relabeled`);
    const section = page.getByTestId('sd-pool-section');
    await section.first().waitFor();
    assert.equal(await section.count(), 1);
    assert.equal(await section.getByTestId('sd-count').innerText(), '1 active / 2 discovered');
    const rows = section.getByTestId('sd-row');
    assert.equal(await rows.count(), 2);
    const texts = await rows.allInnerTexts();
    assert.ok(texts.some((t) => t.includes('__address__="127.0.0.1:9"') && t.includes('instance="127.0.0.1:9"') && t.includes('team="infra"')), JSON.stringify(texts));
    assert.ok(texts.some((t) => t.includes('__address__="127.0.0.1:7"') && /Dropped by relabeling/.test(t)), JSON.stringify(texts));
    await shot('service-discovery');
  });

  it('shows the firing alert with its annotations, counts per state, and filters by state', async () => {
    await page.goto(`${server.baseUrl}/alerts`);
    await page.getByTestId('alert-rule').first().waitFor();
    assert.equal(await page.getByTestId('count-firing').innerText(), '1');
    assert.equal(await page.getByTestId('count-pending').innerText(), '1');
    assert.equal(await page.getByTestId('count-inactive').innerText(), '1');
    const firing = page.getByTestId('alert-rule').filter({ hasText: 'AlwaysFiring' });
    assert.match(await firing.getByTestId('state-badge').first().innerText(), /FIRING/);
    const instance = firing.getByTestId('alert-instance');
    assert.equal(await instance.getByTestId('alert-value').innerText(), '4.2e+01');
    assert.match(await instance.getByTestId('alert-annotations').innerText(), /summary: The answer is 42/);
    assert.match(await instance.innerText(), /severity="page"/);
    await shot('alerts');

    await page.getByTestId('state-firing').check();
    await page.waitForURL((url) => url.searchParams.get('state') === 'firing');
    assert.deepEqual(await page.getByTestId('alert-name').allInnerTexts(), ['AlwaysFiring']);
    await page.goto(`${server.baseUrl}/alerts?state=pending,inactive`);
    await page.getByTestId('alert-rule').first().waitFor();
    assert.deepEqual((await page.getByTestId('alert-name').allInnerTexts()).sort(), ['NeverFires', 'SlowToFire']);

    // The expression opens in the expression browser.
    await page.goto(`${server.baseUrl}/alerts?state=firing`);
    await page.getByTestId('alert-expr').click();
    await page.waitForURL((url) => url.pathname === '/query' && url.searchParams.get('g0.expr') === 'vector(42)');
    await page.getByTestId('result-table').waitFor();
  });

  it('lists rule groups with interval, evaluation, health and links', async () => {
    await page.goto(`${server.baseUrl}/rules`);
    await page.getByTestId('rule-group').first().waitFor();
    assert.equal(await page.getByTestId('group-name').innerText(), 'demo');
    assert.equal(await page.getByTestId('group-interval').innerText(), 'Interval: 1s');
    assert.deepEqual(await page.getByTestId('rule-name').allInnerTexts(), ['AlwaysFiring', 'SlowToFire', 'NeverFires', 'job:up:sum']);
    const health = await page.getByTestId('rule-row').getByTestId('state-badge').allInnerTexts();
    assert.deepEqual(health, ['OK', 'OK', 'OK', 'OK']);
    assert.equal(
      await page.getByTestId('rule-expr').last().getAttribute('href'),
      `/query?g0.expr=${encodeURIComponent('sum by (job) (up)')}&g0.tab=table`,
    );
    await shot('rules');
  });

  it('shows runtime, build, flags, configuration and TSDB status', async () => {
    await page.goto(`${server.baseUrl}/status`);
    await page.getByTestId('runtime-info').waitFor();
    assert.match(await page.getByTestId('runtime-info').innerText(), /reloadConfigSuccess\s+true/);
    assert.match(await page.getByTestId('build-info').innerText(), /version/);

    await page.goto(`${server.baseUrl}/flags?search=listen`);
    await page.getByTestId('flag-row').first().waitFor();
    assert.match(await page.getByTestId('flags').innerText(), /--web\.listen-address\s+127\.0\.0\.1:\d+/);

    await page.goto(`${server.baseUrl}/config`);
    const yaml = await page.getByTestId('config-yaml').innerText();
    assert.match(yaml, /job_name: relabeled/);
    assert.match(yaml, /scrape_interval: 1s/);
    // Secrets are masked by the server; the page shows what it gives.
    assert.match(yaml, /password: <secret>/);
    assert.doesNotMatch(yaml, /hunter2/);

    await page.goto(`${server.baseUrl}/tsdb-status`);
    await page.getByTestId('head-stats').waitFor();
    assert.ok(Number(await page.getByTestId('head-series').innerText()) > 10);
    assert.match(await page.getByTestId('series-by-metric').innerText(), /up\s+\d+/);
    await shot('tsdb-status');
  });

  it('reaches every page from the navigation bar', async () => {
    await page.goto(`${server.baseUrl}/query`);
    for (const [name, path, testid] of [
      ['Alerts', '/alerts', 'alerts-page'],
      ['Targets', '/targets', 'targets-page'],
      ['Rules', '/rules', 'rules-page'],
    ]) {
      await page.getByRole('navigation').getByRole('link', { name, exact: true }).click();
      await page.waitForURL((url) => url.pathname === path);
      await page.getByTestId(testid).waitFor();
    }
    for (const [name, path, testid] of [
      ['TSDB status', '/tsdb-status', 'tsdb-page'],
      ['Command-line flags', '/flags', 'flags-page'],
      ['Configuration', '/config', 'config-page'],
      ['Service discovery', '/service-discovery', 'sd-page'],
      ['Runtime & build information', '/status', 'status-page'],
    ]) {
      await page.getByTestId('status-menu').locator('summary').click();
      await page.getByRole('link', { name, exact: true }).click();
      await page.waitForURL((url) => url.pathname === path);
      await page.getByTestId(testid).waitFor();
      assert.equal(await page.getByTestId('status-menu').getAttribute('open'), null);
    }
  });
});
