// Starts the real narthex binary on a free loopback port with a fresh
// storage directory, and tears both down again, so the browser tests exercise
// exactly what ships (embedded UI, API, self-scrape) without touching anything
// outside this machine.

import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, access, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const end2endDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const resultsDir = path.join(end2endDir, 'test-results');

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

function narthexBinary() {
  return path.resolve(end2endDir, process.env.NARTHEX_BIN ?? '../target/release/narthex');
}

// The kernel picks a free port; it is released just before narthex binds it,
// which is racy in theory but reliable on a machine running one suite at a time.
function freeLoopbackPort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Starts narthex with `args` added to its command line; `openMetrics`, when given, is
// backfilled into the fresh storage first (`narthex tool tsdb create-blocks-from openmetrics`),
// so a test can graph series whose every sample it knows. `files` are written into a fresh
// directory first (name -> text, or a function of the port narthex will listen on) and
// `prometheus.yml` among them is loaded as the configuration.
export async function startNarthex({ args = [], openMetrics = null, files = {} } = {}) {
  const binary = narthexBinary();
  try {
    await access(binary);
  } catch {
    throw new Error(`narthex binary not found at ${binary}; build it or set NARTHEX_BIN`);
  }
  const port = await freeLoopbackPort();
  const storageDir = await mkdtemp(path.join(tmpdir(), 'narthex-e2e-'));
  const listenAddress = `127.0.0.1:${port}`;
  const extraArgs = [...args];
  for (const [name, content] of Object.entries(files)) {
    const text = typeof content === 'function' ? content(port) : content;
    await writeFile(path.join(storageDir, name), text);
    if (name === 'prometheus.yml') extraArgs.push(`--config.file=${path.join(storageDir, name)}`);
  }
  if (openMetrics !== null) {
    const dataFile = path.join(storageDir, 'backfill.om');
    await writeFile(dataFile, openMetrics);
    const tsdbDir = path.join(storageDir, 'data');
    const result = spawnSync(
      binary,
      ['tool', 'tsdb', 'create-blocks-from', 'openmetrics', dataFile, tsdbDir],
      { encoding: 'utf8' },
    );
    if (result.status !== 0) {
      throw new Error(`backfill failed (${result.status}): ${result.stderr}`);
    }
  }
  const logPath = path.join(resultsDir, 'narthex.log');
  const log = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(
    binary,
    [
      `--web.listen-address=${listenAddress}`,
      `--storage.tsdb.path=${path.join(storageDir, 'data')}`,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
  });
  // If the test process dies without running `after`, don't leave narthex behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const server = {
    baseUrl: `http://${listenAddress}`,
    logPath,
    async stop() {
      process.off('exit', killOnExit);
      if (exited === null) {
        child.kill('SIGTERM');
        const stopped = await Promise.race([exitPromise, sleep(STOP_TIMEOUT_MS)]);
        if (!stopped) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      log.end();
      await rm(storageDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited !== null) {
      await server.stop();
      throw new Error(
        `narthex exited before becoming ready (${JSON.stringify(exited)}); see ${logPath}`,
      );
    }
    try {
      const response = await fetch(`${server.baseUrl}/-/ready`);
      if (response.status === 200) return server;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`narthex was not ready within ${READY_TIMEOUT_MS} ms; see ${logPath}`);
    }
    await sleep(200);
  }
}
