import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { RpcClient, RpcError, RpcTransportError } from '../../src/chain/rpc.js';
import { TemplateSource, type TemplateUpdate } from '../../src/chain/template-source.js';
import { isAcceptedResult, submitBlock } from '../../src/chain/block-submitter.js';

let node: RegtestNode;
let rpc: RpcClient;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  node = await startRegtest();
  rpc = new RpcClient({ url: node.rpcUrl });
});

afterAll(async () => {
  for (const c of cleanups.splice(0)) c();
  rpc?.close();
  await node?.stop();
});

function nextTemplate(source: TemplateSource, timeoutMs: number): Promise<TemplateUpdate> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { source.off('template', on); reject(new Error(`no template event within ${timeoutMs} ms`)); }, timeoutMs);
    const on = (u: TemplateUpdate): void => {
      if (!u.newBlock) return;
      clearTimeout(timer);
      source.off('template', on);
      resolve(u);
    };
    source.on('template', on);
  });
}

describe('RpcClient against litecoind regtest', () => {
  it('calls methods and maps node errors (HTTP 500 + JSON) to RpcError', async () => {
    const count = await rpc.call<number>('getblockcount');
    expect(count).toBeGreaterThanOrEqual(101);
    const e = await rpc.call('getblocktemplate', [{ rules: ['segwit'] }]).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RpcError);
    expect((e as RpcError).code).toBe(-8);
    expect((e as RpcError).message).toMatch(/mweb/);
  });

  it('wrong password is a transport error (HTTP 401) without the password in it', async () => {
    const bad = new RpcClient({ url: `http://${node.rpcUser}:wrong-Secret@127.0.0.1:${node.rpcPort}` });
    cleanups.push(() => bad.close());
    const e = await bad.call('getblockcount').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as RpcTransportError).status).toBe(401);
    expect((e as Error).message).toMatch(/check rpc credentials/);
    expect((e as Error).message).not.toContain('wrong-Secret');
  });
});

describe('TemplateSource against litecoind regtest', () => {
  it('start() fetches a template on the current tip', async () => {
    const source = new TemplateSource({ rpc, longpoll: false, pollIntervalMs: 60_000 });
    cleanups.push(() => source.stop());
    await source.start();
    const tip = await rpc.call<string>('getbestblockhash');
    const height = await rpc.call<number>('getblockcount');
    expect(source.current).toMatchObject({ previousblockhash: tip, height: height + 1 });
    expect(source.current?.longpollid).toMatch(/^[0-9a-f]{64}\d+$/);
    expect(source.current?.coinbasevalue).toBeGreaterThan(0);
    source.stop();
  });

  it('long poll: a mined block arrives as newBlock=true within 2 s (polling effectively off)', async () => {
    const source = new TemplateSource({ rpc, longpoll: true, pollIntervalMs: 60_000 });
    cleanups.push(() => source.stop());
    await source.start();
    await new Promise((r) => setTimeout(r, 300)); // let the long poll reach the node
    const event = nextTemplate(source, 5000);
    const t0 = Date.now();
    const [blockHash] = await node.mine(1);
    const update = await event;
    const elapsed = Date.now() - t0;
    expect(update.template.previousblockhash).toBe(blockHash);
    expect(update.newBlock).toBe(true);
    expect(elapsed).toBeLessThan(2000);
    source.stop();
  });

  it('polling fallback: with long poll disabled a mined block is caught by getbestblockhash', async () => {
    const source = new TemplateSource({ rpc, longpoll: false, pollIntervalMs: 200 });
    cleanups.push(() => source.stop());
    await source.start();
    const event = nextTemplate(source, 5000);
    const t0 = Date.now();
    const [blockHash] = await node.mine(1);
    const update = await event;
    expect(update.template.previousblockhash).toBe(blockHash);
    expect(Date.now() - t0).toBeLessThan(2000);
    source.stop();
  });

  it('stop() ends an in-flight long poll so nothing keeps running', async () => {
    const source = new TemplateSource({ rpc, longpoll: true, pollIntervalMs: 100 });
    await source.start();
    await new Promise((r) => setTimeout(r, 200));
    source.stop();
    const events: TemplateUpdate[] = [];
    source.on('template', (u: TemplateUpdate) => events.push(u));
    await node.mine(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(events).toHaveLength(0);
  });
});

describe('submitBlock against litecoind regtest', () => {
  it('garbage hex -> accepted:false, reason rpc -22: Block decode failed (not retried)', async () => {
    let calls = 0;
    const counting = new RpcClient({ url: node.rpcUrl, onCall: (m) => { if (m === 'submitblock') calls++; } });
    cleanups.push(() => counting.close());
    await expect(submitBlock(counting, '00')).resolves.toEqual({ accepted: false, reason: 'rpc -22: Block decode failed' });
    await expect(submitBlock(counting, 'zz')).resolves.toEqual({ accepted: false, reason: 'rpc -22: Block decode failed' });
    expect(calls).toBe(2);
  });

  it('an existing block -> duplicate, which isAcceptedResult counts as known', async () => {
    const tip = await rpc.call<string>('getbestblockhash');
    const hex = await rpc.call<string>('getblock', [tip, 0]);
    const r = await submitBlock(rpc, hex);
    expect(r).toEqual({ accepted: false, reason: 'duplicate' });
    expect(isAcceptedResult(r)).toBe(true);
  });

  it('closed port: retries transport failures, then throws RpcTransportError (ECONNREFUSED)', async () => {
    const port = await freePort();
    let calls = 0;
    const dead = new RpcClient({ url: `http://u:p@127.0.0.1:${port}`, onCall: () => calls++ });
    cleanups.push(() => dead.close());
    const t0 = Date.now();
    const e = await submitBlock(dead, '00', { retries: 3, retryDelayMs: 50 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as RpcTransportError).code).toBe('ECONNREFUSED');
    expect((e as Error).message).toMatch(/gave up after 4 attempts: connection refused/);
    expect(calls).toBe(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50 + 100 + 200 - 10);
  });
});
