// Debian's Chromium as the end-to-end tests launch it: headless, as root in a container, and
// without any of its calls home (the machine has no network beyond the package registries).

import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Prometheus durations (`1h30m`, `2d`, `500ms`) in milliseconds.
export function parseDuration(text) {
  const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const match = /^(\d+)(ms|s|m|h|d|w|y)/.exec(rest);
    if (!match) throw new Error(`not a duration: ${text}`);
    total += Number(match[1]) * units[match[2]];
    rest = rest.slice(match[0].length);
  }
  return total;
}
