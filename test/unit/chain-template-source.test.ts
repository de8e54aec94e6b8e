import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient, RpcError } from '../../src/chain/rpc.js';
import { TemplateSource, validateTemplate, type TemplateUpdate } from '../../src/chain/template-source.js';

const hash = (n: number): string => n.toString(16).padStart(64, '0');

/**
 * A scripted litecoind: getbestblockhash, getblocktemplate (with long polling that answers when the tip moves).
 * `fail` makes every call answer with an RPC error (e.g. -9 not connected) or a transport-level failure.
 */
class FakeLitecoind {
  tip = 1;
  mempoolVersion = 0;
  fail: { code: number; message: string } | 'http500' | undefined;
  failLongpoll = false;
  garbage = false;
  gbtDelayMs = 0;
  calls: { method: string; longpoll: boolean; at: number }[] = [];
  gbtInFlight = 0;
  maxGbtInFlight = 0;
  longpollsOpen = 0;
  private waiting: (() => void)[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  port = 0;

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  mineBlock(): void {
    this.tip++;
    for (const wake of this.waiting.splice(0)) wake();
  }

  template(): Record<string, unknown> {
    if (this.garbage) return { height: 'tall', bits: 'zz' };
    return {
      version: 0x20000000, previousblockhash: hash(this.tip), transactions: [], coinbasevalue: 5_000_000_000,
      longpollid: `${hash(this.tip)}${this.mempoolVersion}`, target: '7fffff' + '0'.repeat(58), mintime: 1, curtime: 2,
      bits: '207fffff', height: this.tip + 1, rules: ['csv', '!segwit', 'taproot', '!mweb'],
    };
  }

  count(method: string, longpoll = false): number {
    return this.calls.filter((c) => c.method === method && c.longpoll === longpoll).length;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', async () => {
      const { method, params } = JSON.parse(raw) as { method: string; params: { rules?: string[]; longpollid?: string }[] };
      const longpoll = method === 'getblocktemplate' && params[0]?.longpollid !== undefined;
      this.calls.push({ method, longpoll, at: Date.now() });
      const send = (status: number, body: unknown): void => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      if (method === 'getblocktemplate' && JSON.stringify(params[0]?.rules) !== '["mweb","segwit"]') {
        send(500, { result: null, error: { code: -8, message: 'getblocktemplate must be called with the segwit & mweb rule sets' } });
        return;
      }
      if (this.fail === 'http500' || (longpoll && this.failLongpoll)) { send(500, 'internal'); return; }
      if (this.fail) { send(500, { result: null, error: this.fail }); return; }
      if (method === 'getbestblockhash') { send(200, { result: hash(this.tip), error: null }); return; }
      if (method !== 'getblocktemplate') { send(404, { result: null, error: { code: -32601, message: 'Method not found' } }); return; }
      if (longpoll) {
        this.longpollsOpen++;
        res.on('close', () => this.longpollsOpen--);
        if (params[0].longpollid === `${hash(this.tip)}${this.mempoolVersion}`) {
          await new Promise<void>((resolve) => this.waiting.push(resolve));
        }
        send(200, { result: this.template(), error: null });
        return;
      }
      this.gbtInFlight++;
      this.maxGbtInFlight = Math.max(this.maxGbtInFlight, this.gbtInFlight);
      if (this.gbtDelayMs) await new Promise((r) => setTimeout(r, this.gbtDelayMs));
      this.gbtInFlight--;
      send(200, { result: this.template(), error: null });
    });
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(o: Partial<ConstructorParameters<typeof TemplateSource>[0]> = {}) {
  const node = new FakeLitecoind();
  await node.listen();
  const rpc = new RpcClient({ url: `http://u:p@127.0.0.1:${node.port}`, timeoutMs: 2000 });
  const source = new TemplateSource({ rpc, pollIntervalMs: 60_000, refreshIntervalMs: 60_000, ...o });
  const updates: TemplateUpdate[] = [];
  const errors: Error[] = [];
  source.on('template', (u: TemplateUpdate) => updates.push(u));
  source.on('error', (e: Error) => errors.push(e));
  cleanups.push(() => node.close(), () => rpc.close(), () => source.stop());
  return { node, rpc, source, updates, errors };
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('validateTemplate', () => {
  const good = new FakeLitecoind().template();
  const rows: [string, unknown, RegExp | null][] = [
    ['valid', good, null],
    ['null', null, /expected an object, got null/],
    ['array', [], /expected an object, got array/],
    ['missing height', { ...good, height: undefined }, /height must be a non-negative integer/],
    ['bad prevhash', { ...good, previousblockhash: 'abc' }, /previousblockhash must be 64 hex chars/],
    ['missing bits', { ...good, bits: undefined }, /bits must be 8 hex chars/],
    ['missing coinbasevalue', { ...good, coinbasevalue: undefined }, /coinbasevalue must be a non-negative integer/],
    ['fractional coinbasevalue', { ...good, coinbasevalue: 1.5 }, /coinbasevalue/],
    ['transactions not array', { ...good, transactions: {} }, /transactions must be an array/],
  ];
  for (const [name, input, error] of rows) {
    it(name, () => {
      if (error) expect(() => validateTemplate(input)).toThrow(error);
      else expect(validateTemplate(input)).toBe(input);
    });
  }
});

describe('TemplateSource', () => {
  // Issue 10: long polls park litecoind RPC threads past the pool's life; the default is the getbestblockhash poll.
  it('by default holds no long poll open and polls getbestblockhash every 250 ms', async () => {
    const node = new FakeLitecoind();
    await node.listen();
    const rpc = new RpcClient({ url: `http://u:p@127.0.0.1:${node.port}`, timeoutMs: 2000 });
    const source = new TemplateSource({ rpc });
    cleanups.push(() => node.close(), () => rpc.close(), () => source.stop());
    await source.start();
    const started = Date.now();
    await until('four tip polls', () => node.count('getbestblockhash') >= 4);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(2000);
    expect(node.count('getblocktemplate', true)).toBe(0);
    expect(node.longpollsOpen).toBe(0);
  });

  it('start() resolves with the first template (newBlock=true), always asking with the mweb+segwit rules', async () => {
    const { node, source, updates } = await setup({ longpoll: false });
    await source.start();
    expect(source.current?.previousblockhash).toBe(hash(1));
    expect(source.lastSuccessAt).toBeGreaterThan(0);
    expect(source.lastErrorAt).toBe(0);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ newBlock: true, template: { height: 2 } });
    expect(node.count('getblocktemplate')).toBe(1);
  });

  it('long poll delivers a new block at once (newBlock=true) even when polling is slow', async () => {
    const { node, source, updates } = await setup({ longpoll: true, pollIntervalMs: 60_000 });
    await source.start();
    await until('long poll open', () => node.longpollsOpen === 1);
    const t0 = Date.now();
    node.mineBlock();
    await until('template for the new tip', () => updates.length === 2);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(updates[1]).toMatchObject({ newBlock: true, template: { previousblockhash: hash(2), height: 3 } });
    expect(node.count('getblocktemplate', true)).toBeGreaterThanOrEqual(1);
    expect(node.count('getbestblockhash')).toBe(0);
    // the loop re-arms with the new longpollid
    await until('second long poll open', () => node.count('getblocktemplate', true) === 2 && node.longpollsOpen === 1);
  });

  it('long poll answer with the same prevhash (mempool change) gives newBlock=false', async () => {
    const { node, source, updates } = await setup({ longpoll: true });
    await source.start();
    await until('long poll open', () => node.longpollsOpen === 1);
    node.mempoolVersion++;
    node['waiting'].splice(0).forEach((w) => w());
    await until('mempool template', () => updates.length === 2);
    expect(updates[1].newBlock).toBe(false);
  });

  it('polling fallback catches a new tip with getbestblockhash when long poll is off', async () => {
    const { node, source, updates } = await setup({ longpoll: false, pollIntervalMs: 50 });
    await source.start();
    await until('a few polls', () => node.count('getbestblockhash') >= 3);
    expect(node.count('getblocktemplate')).toBe(1); // unchanged tip -> no template fetch
    node.mineBlock();
    await until('new template', () => updates.length === 2, 1000);
    expect(updates[1]).toMatchObject({ newBlock: true, template: { previousblockhash: hash(2) } });
    expect(node.count('getblocktemplate', true)).toBe(0);
  });

  it('refreshes every refreshIntervalMs with newBlock=false', async () => {
    const { source, updates } = await setup({ longpoll: false, pollIntervalMs: 20, refreshIntervalMs: 150 });
    await source.start();
    await until('two refreshes', () => updates.length >= 3, 2000);
    expect(updates.slice(1).every((u) => !u.newBlock)).toBe(true);
    const gaps = updates.slice(1).map((u, i) => u.receivedAt - updates[i].receivedAt);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(140);
  });

  it('coalesces concurrent fetches: never two getblocktemplate at once, refresh() during one queues one follow-up', async () => {
    const { node, source } = await setup({ longpoll: false });
    node.gbtDelayMs = 100;
    await source.start();
    const before = node.count('getblocktemplate');
    await Promise.all([source.refresh(), source.refresh(), source.refresh(), source.refresh()]);
    expect(node.maxGbtInFlight).toBe(1);
    expect(node.count('getblocktemplate') - before).toBe(2); // the one in flight + one shared follow-up
  });

  it('a newer tip seen while a fetch is in flight still gets its own fetch', async () => {
    const { node, source, updates } = await setup({ longpoll: false, pollIntervalMs: 30 });
    await source.start();
    node.gbtDelayMs = 150;
    const refreshing = source.refresh(); // in flight with tip 1
    await new Promise((r) => setTimeout(r, 20));
    node.mineBlock(); // poll sees tip 2, joins the in-flight fetch, whose result is still on tip 1...
    await refreshing;
    await until('template on tip 2', () => source.current?.previousblockhash === hash(2), 2000);
    expect(updates.at(-1)?.newBlock).toBe(true);
    expect(node.maxGbtInFlight).toBe(1);
  });

  it('errors are events, counted, keep the last good template, and polling recovers', async () => {
    let counted = 0;
    const { node, source, errors } = await setup({ longpoll: false, pollIntervalMs: 20, maxBackoffMs: 50, errorCounter: { inc: () => counted++ } });
    await source.start();
    const good = source.current;
    node.fail = { code: -9, message: 'Litecoin Core is not connected!' };
    await until('errors', () => errors.length >= 2);
    expect(errors[0]).toBeInstanceOf(RpcError);
    expect((errors[0] as RpcError).code).toBe(-9);
    expect(source.lastErrorAt).toBeGreaterThan(0);
    expect(counted).toBeGreaterThanOrEqual(2);
    expect(source.current).toBe(good);
    node.fail = undefined;
    node.mineBlock();
    await until('recovered', () => source.current?.previousblockhash === hash(2), 3000);
  });

  it('rejects garbage templates with a clear error and keeps the previous one', async () => {
    const { node, source, errors } = await setup({ longpoll: false });
    await source.start();
    const good = source.current;
    node.garbage = true;
    await source.refresh();
    expect(errors.at(-1)?.message).toMatch(/invalid getblocktemplate result: height/);
    expect(source.current).toBe(good);
  });

  it('start() rejects with a clear error when the node never gives a template', async () => {
    const { node, source, errors } = await setup({ longpoll: false, startTimeoutMs: 300 });
    node.fail = { code: -10, message: 'Litecoin Core is in initial sync and waiting for blocks...' };
    // Issue 10: the error names the state the node is in and what to wait for.
    await expect(source.start()).rejects.toThrow(/no block template from litecoind within 300 ms: litecoind is still in initial block download \(.*initial sync.*\); the pool serves work once the node has synced/);
    expect(errors.length).toBeGreaterThanOrEqual(1);
    const calls = node.calls.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(node.calls.length).toBe(calls); // stopped: no more retries
  });

  it('errors never throw out when nobody listens for them', async () => {
    const node = new FakeLitecoind();
    await node.listen();
    const rpc = new RpcClient({ url: `http://u:p@127.0.0.1:${node.port}` });
    const source = new TemplateSource({ rpc, longpoll: false });
    cleanups.push(() => node.close(), () => rpc.close(), () => source.stop());
    await source.start();
    node.fail = 'http500';
    await expect(source.refresh()).resolves.toBeUndefined();
    expect(source.lastErrorAt).toBeGreaterThan(0);
  });

  it('falls back to polling when long polling fails, and resumes long polling later', async () => {
    const { node, source, updates, errors } = await setup({ longpoll: true, pollIntervalMs: 30, maxBackoffMs: 100 });
    node.failLongpoll = true;
    await source.start();
    await until('long poll failures', () => node.count('getblocktemplate', true) >= 2, 3000);
    expect(errors.some((e) => /HTTP 500/.test(e.message))).toBe(true);
    node.mineBlock();
    await until('polling caught the block', () => updates.length === 2, 1000);
    expect(updates[1].newBlock).toBe(true);
    node.failLongpoll = false;
    await until('long poll open again', () => node.longpollsOpen === 1, 3000);
    node.mineBlock();
    await until('third template', () => source.current?.previousblockhash === hash(3), 1000);
  });

  it('a timed-out long poll is not stacked again until polling sees a new tip (litecoind keeps its thread parked)', async () => {
    const { node, source, errors, updates } = await setup({ longpoll: true, pollIntervalMs: 30, longpollTimeoutMs: 100 });
    await source.start();
    await until('long poll timed out', () => node.count('getblocktemplate', true) === 1 && node.longpollsOpen === 0, 2000);
    await new Promise((r) => setTimeout(r, 300));
    expect(node.count('getblocktemplate', true)).toBe(1);
    expect(errors).toHaveLength(0); // a quiet chain is not an error
    node.mineBlock(); // wakes the parked long poll on the node side, and polling sees the new tip
    await until('polling caught the block', () => updates.length === 2, 1000);
    await until('long polling resumed', () => node.count('getblocktemplate', true) === 2, 1000);
  });

  it('stop() aborts the in-flight long poll and ends all activity', async () => {
    const { node, source } = await setup({ longpoll: true, pollIntervalMs: 20 });
    await source.start();
    await until('long poll open', () => node.longpollsOpen === 1);
    source.stop();
    await until('long poll closed', () => node.longpollsOpen === 0, 1000);
    const calls = node.calls.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(node.calls.length).toBe(calls);
  });
});
