import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { formatHashrate, formatLtc, formatPercent } from '../../src/ops/format.js';
import { startPoolTestbed, waitFor, type PoolTestbed, type TestPool } from '../support/pool.js';

/**
 * The miners' dashboard in a real headless Chromium (Debian's package, driven by playwright-core; no browser
 * download) against a regtest pool with two test miners. Screenshots go to test-artifacts/dashboard/.
 */

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p): p is string => !!p && existsSync(p));
if (!CHROMIUM) console.warn('web-dashboard.test.ts: SKIPPED, no Chromium found (apt-get install chromium, or set CHROMIUM_PATH)');

const MINER = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';
export const SCREENSHOT_DIR = path.resolve(process.env.LTCPOOL_SCREENSHOT_DIR ?? 'test-artifacts/dashboard');

describe.skipIf(!CHROMIUM)('dashboard in headless Chromium', () => {
  let testbed: PoolTestbed;
  let pool: TestPool;
  let browser: Browser;
  let page: Page;
  let rigA: TestMiner;
  let rigB: TestMiner;

  beforeAll(async () => {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    testbed = await startPoolTestbed({ history: { intervalSeconds: 5, effortSettleSeconds: 0 } });
    pool = testbed.pool;
    rigA = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${MINER}.rig-a`, hashrate: 3 });
    rigB = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${MINER}.rig-b`, hashrate: 3 });
    await Promise.all([rigA.start(), rigB.start()]);
    rigA.startMining();
    rigB.startMining();
    await waitFor('an accepted block and shares from both rigs', () => pool.blocks.outcomes.some((o) => o.accepted) && rigA.accepted >= 3 && rigB.accepted >= 3, 90_000);
    // rig-a stays connected (idle, so the numbers hold still); rig-b is stopped.
    await rigA.stopMining();
    await rigB.close();
    await waitFor('rig-b gone from the pool', () => !pool.server.connectedWorkers(MINER).some((w) => w.worker === 'rig-b'), 10_000);
    await new Promise((r) => setTimeout(r, 500)); // the last shares commit
    await pool.history!.tick();
    // The overview's figures are pool-wide, from the database (written within a second, read through a cache of a few seconds).
    await waitFor('rig-b gone from the pool-wide figures', async () => ((await (await fetch(`${pool.httpUrl}/api/pool`)).json()) as { workers: number }).workers === 1, 15_000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
    page.on('pageerror', (error) => console.error('page error:', error));
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await rigA?.close();
    await rigB?.close();
    await testbed?.stop();
  });

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function apiGet(p: string): Promise<any> {
    const response = await fetch(pool.httpUrl + p);
    expect(response.status, p).toBe(200);
    return response.json();
  }

  async function open(p: string): Promise<void> {
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pool.httpUrl + p);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    page.removeAllListeners('request');
    // everything the page loaded came from the pool
    expect(requests.filter((u) => !u.startsWith(pool.httpUrl!))).toEqual([]);
  }

  const text = (selector: string) => page.locator(selector).first().textContent().then((t) => t ?? '');

  it('overview: renders, the chart holds data, the numbers equal the API', async () => {
    await open('/');
    const api = await apiGet('/api/pool');
    expect(await text('[data-field="pool-miners"]')).toBe(String(api.miners));
    expect(await text('[data-field="pool-workers"]')).toBe(String(api.workers));
    expect(api.miners).toBe(1);
    expect(api.workers).toBe(1);
    expect(await text('[data-field="network-height"]')).toBe(String(api.network.height));
    expect(await text('[data-field="network-hashrate"]')).toBe(formatHashrate(api.network.hashrate));
    expect(await text('[data-field="pool-scheme"]')).toBe(api.scheme);
    const rows = await page.locator('table.blocks tbody tr').evaluateAll((trs) => trs.map((tr) => [
      tr.querySelector('[data-field="height"]')!.textContent, tr.querySelector('[data-field="status"]')!.textContent, tr.querySelector('[data-field="effort"]')!.textContent]));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows).toEqual(api.blocks.last.map((b: { height: number; status: string; effort: number | null }) => [String(b.height), b.status, formatPercent(b.effort)]));
    expect(api.blocks.last.some((b: { effort: number | null }) => b.effort !== null)).toBe(true);

    const chart = page.locator('#pool-chart .chart');
    await expect.poll(() => chart.locator('canvas').count()).toBeGreaterThan(0);
    const history = await apiGet('/api/pool/history?range=24h');
    const withShares = history.points.filter((p: { shares: number }) => p.shares > 0).length;
    expect(withShares).toBeGreaterThan(0);
    expect(await chart.getAttribute('data-points')).toBe(String(withShares));
    expect(await chart.getAttribute('data-shares')).toBe(String(history.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0)));
    expect(await page.locator('.connect').textContent()).toContain(`:${pool.stratumPort}`);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'overview.png'), fullPage: true });
  });

  it('miner page: workers online/offline, balances and the chart equal the API', async () => {
    await open(`/miners/${MINER}`);
    const api = await apiGet(`/api/miners/${MINER}`);
    expect(await text('[data-field="address"]')).toBe(MINER);
    expect(await text('[data-field="miner-shares"]')).toBe(String(api.shares));
    expect(await text('[data-field="miner-hashrate"]')).toBe(formatHashrate(api.hashrate));
    expect(await text('[data-field="miner-immature"]')).toBe(formatLtc(api.immatureLitoshis));
    expect(await text('[data-field="miner-paid"]')).toBe(formatLtc(api.paidLitoshis));
    const status = (worker: string) => text(`tr[data-worker="${worker}"] [data-field="status"]`);
    expect(await status('rig-a')).toBe('online');
    expect(await status('rig-b')).toBe('offline');
    for (const w of api.workers as { name: string; shares: number; online: boolean }[]) {
      expect(await text(`tr[data-worker="${w.name}"] [data-field="shares"]`)).toBe(String(w.shares));
      expect(await status(w.name)).toBe(w.online ? 'online' : 'offline');
    }
    expect(api.workers.find((w: { name: string }) => w.name === 'rig-b').shares).toBeGreaterThanOrEqual(3);

    const chart = page.locator('#miner-chart .chart');
    await expect.poll(() => chart.locator('canvas').count()).toBeGreaterThan(0);
    const history = await apiGet(`/api/miners/${MINER}/history?range=24h`);
    expect(Number(await chart.getAttribute('data-shares'))).toBe(history.points.reduce((s: number, p: { shares: number }) => s + p.shares, 0));
    expect(Number(await chart.getAttribute('data-shares'))).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'miner.png'), fullPage: true });

    // range buttons redraw from the API
    await page.click('#miner-chart button[data-range="1h"]');
    await expect.poll(async () => page.locator('#miner-chart button.on').getAttribute('data-range')).toBe('1h');
  });

  it('settings form: saved from the IP of a connected worker, the API then has them', async () => {
    await open(`/miners/${MINER}`);
    await page.fill('#settings-form input[name="threshold"]', '0.5');
    await page.fill('#settings-form input[name="webhookUrl"]', 'https://hooks.example.com/rigs');
    await page.check('#settings-form input[name="blockFound"]');
    await page.click('#settings-form button[type="submit"]');
    await expect.poll(() => text('[data-field="settings-result"]')).toBe('saved');
    const settings = await apiGet(`/api/miners/${MINER}/settings`);
    expect(settings).toMatchObject({ payoutThreshold: '50000000', webhookUrl: 'https://hooks.example.com/rigs', notify: { blockFound: true } });

    await page.fill('#settings-form input[name="webhookUrl"]', 'http://10.0.0.1/x');
    await page.click('#settings-form button[type="submit"]');
    await expect.poll(() => text('[data-field="settings-result"]')).toMatch(/^not saved: webhookUrl: 10\.0\.0\.1 is a local or private address/);
    await page.fill('#settings-form input[name="threshold"]', '0.123456789');
    await page.click('#settings-form button[type="submit"]');
    await expect.poll(() => text('[data-field="settings-result"]')).toMatch(/^threshold: /);
    await page.locator('#settings').screenshot({ path: path.join(SCREENSHOT_DIR, 'settings.png') });
  });

  it('blocks page and a phone-sized viewport render; an unknown miner shows the API error', async () => {
    await open('/blocks');
    const api = await apiGet('/api/blocks?limit=100');
    expect(await page.locator('table.blocks tbody tr').count()).toBe(api.blocks.length);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'blocks.png'), fullPage: true });

    await page.setViewportSize({ width: 390, height: 844 });
    await open(`/miners/${MINER}`);
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'miner-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 1400 });

    await page.goto(`${pool.httpUrl}/miners/rltc1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqc6h8ge`);
    await page.waitForSelector('[data-field="error"]');
    expect(await text('[data-field="error"]')).toMatch(/unknown miner/);
  });
});
