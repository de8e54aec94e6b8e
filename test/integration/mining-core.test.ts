import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { TestMiner } from '../../src/miner/miner.js';
import { difficultyToTarget } from '../../src/work/difficulty.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { metricValue, startTestPool, waitFor, type TestPool } from '../support/pool.js';
import { onLines } from '../support/stratum-lines.js';

interface GetBlock {
  hash: string;
  height: number;
  nTx: number;
  tx: Array<{ txid: string; vin: Array<{ coinbase?: string }>; vout: Array<{ value: number; scriptPubKey: { hex: string; addresses?: string[]; address?: string } }> }>;
  mweb?: { num_kernels: number; num_txos: number };
}

let node: RegtestNode;
let pool: TestPool;
let payoutAddress: string;
let mempoolTxids: string[];
const minerAddress = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';

function minerFor(options: Partial<ConstructorParameters<typeof TestMiner>[0]> = {}): TestMiner {
  return new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.rig1`, ...options });
}

beforeAll(async () => {
  node = await startRegtest({ mweb: true });
  payoutAddress = await node.newAddress('bech32');
  const filled = await node.fillMempool({ segwit: 3, mwebPegIns: 1 });
  mempoolTxids = [...filled.segwit, ...filled.mwebPegIns];
  // litecoind reuses a template for 5 s after the mempool changes: wait until one carries every send.
  await waitFor('a template with every mempool transaction', async () => {
    const template = await node.rpc<{ transactions: Array<{ txid: string }> }>('getblocktemplate', [{ rules: ['mweb', 'segwit'] }]);
    return mempoolTxids.every((txid) => template.transactions.some((t) => t.txid === txid));
  }, 20_000, 500);
  pool = await startTestPool(node, payoutAddress);
}, 180_000);

afterAll(async () => {
  await pool?.stop();
  await node?.stop();
});

describe('mining core against a real litecoind regtest', () => {
  it('the test miner finds blocks through the pool that litecoind accepts, paying the pool address', async () => {
    const startHeight = await node.rpc<number>('getblockcount');
    const miner = minerFor({ hashrate: 6 });
    const auth = await miner.start();
    expect(auth.result).toBe(true);
    miner.startMining();
    await waitFor('3 accepted blocks', () => pool.blocks.outcomes.filter((o) => o.accepted).length >= 3, 90_000);
    await miner.close();

    const accepted = pool.blocks.outcomes.filter((o) => o.accepted);
    const blocks: GetBlock[] = [];
    for (const outcome of accepted) blocks.push(await node.rpc<GetBlock>('getblock', [outcome.hash, 2]));
    for (const block of blocks) {
      const coinbase = block.tx[0];
      expect(coinbase.vin[0].coinbase).toBeDefined();
      const paid = coinbase.vout[0].scriptPubKey;
      expect(paid.address ?? paid.addresses?.[0]).toBe(payoutAddress);
      expect(block.height).toBeGreaterThan(startHeight);
      // the pool tag sits in the coinbase scriptSig
      expect(Buffer.from(coinbase.vin[0].coinbase!, 'hex').toString('latin1')).toContain('/ltcpool-test/');
    }
    const withMempool = blocks.find((b) => mempoolTxids.every((txid) => b.tx.some((t) => t.txid === txid)));
    expect(withMempool, 'a block carrying the mempool segwit sends and the MWEB peg-in').toBeDefined();
    expect(withMempool!.mweb, 'MWEB extension data in the block').toBeDefined();
    expect(withMempool!.mweb!.num_kernels, 'the peg-in kernel').toBeGreaterThan(0);
    expect(await node.rpc<unknown[]>('getrawmempool')).toEqual([]);
    expect(miner.accepted).toBeGreaterThan(0);
    expect(await metricValue(pool.metrics, 'ltcpool_blocks_total', { status: 'accepted' })).toBeGreaterThanOrEqual(3);
  });

  it('answers configure + subscribe + authorize sent in one packet, in order, then difficulty before work', async () => {
    const lines = await rawExchange(
      [
        { id: 1, method: 'mining.configure', params: [['version-rolling'], { 'version-rolling.mask': 'ffffffff', 'version-rolling.min-bit-count': 2 }] },
        { id: 2, method: 'mining.subscribe', params: ['bmminer/2.0.0'] },
        { id: 3, method: 'mining.authorize', params: [`${minerAddress}.x`, 'x'] },
      ],
      5,
    );
    expect(lines.slice(0, 3).map((l) => l.id)).toEqual([1, 2, 3]);
    expect(lines[0].result).toEqual({ 'version-rolling': true, 'version-rolling.mask': '1fffe000' });
    const subscribe = lines[1].result as [unknown, string, number];
    expect(subscribe[1]).toMatch(/^[0-9a-f]{8}$/);
    expect(subscribe[2]).toBe(4);
    expect(lines[2].result).toBe(true);
    expect(lines[3].method).toBe('mining.set_difficulty');
    expect(lines[4].method).toBe('mining.notify');
    expect((lines[4].params as unknown[]).length).toBe(9);
  });

  it('answers every reject reason with its code over TCP', async () => {
    const rejectReasons = ['not-subscribed', 'unauthorized', 'job-not-found', 'bad-extranonce2', 'bad-ntime', 'bad-nonce', 'bad-version', 'malformed', 'duplicate', 'low-difficulty'];
    const rejectsBefore = new Map<string, number>();
    for (const reason of rejectReasons) rejectsBefore.set(reason, await metricValue(pool.metrics, 'ltcpool_share_rejects_total', { reason }));
    const rejectedBefore = await metricValue(pool.metrics, 'ltcpool_shares_total', { result: 'rejected' });
    const miner = minerFor();
    // 25: submit before subscribing
    await miner.connect();
    const early = await miner.request('mining.submit', [`${minerAddress}.rig1`, '1', '00000000', '00000000', '00000000']);
    expect(early.error?.[0]).toBe(25);
    await miner.subscribe();
    // 24: bad address, and a worker that never authorized
    const badAuth = await miner.authorize('Lnotanaddress.rig', 'x');
    expect(badAuth.result).toBe(false);
    expect(badAuth.error?.[0]).toBe(24);
    const mweb = await miner.authorize('tmweb1qq04yl4kuaeds98rsm27xt0ng52nrvvaccfxzlrxnp5h3n3qdnxyykqum63hk6xv8dk0y0ku29s3q9ylyecgfma0k5j8d2zsqey43ng6c7y8kn32n', 'x');
    expect(mweb.error?.[0]).toBe(24);
    expect(mweb.error?.[1]).toMatch(/MWEB/);
    expect((await miner.authorize()).result).toBe(true);
    const job = await miner.waitForJob();
    const unauthorized = await miner.request('mining.submit', [`${minerAddress}.other`, job.id, '00000001', job.curtime.toString(16), '00000000']);
    expect(unauthorized.error?.[0]).toBe(24);
    // 21: unknown job
    const unknown = await miner.submit({ jobId: 'nosuchjob', extranonce2: '00000001', ntime: job.curtime.toString(16), nonce: '00000000' });
    expect(unknown.error?.[0]).toBe(21);
    // 20: bad extranonce2 size, bad ntime, bad nonce, bad version bits, wrong param count; each says which field
    const ntime = job.curtime.toString(16).padStart(8, '0');
    expect((await miner.submit({ jobId: job.id, extranonce2: '01', ntime, nonce: '00000000' })).error).toEqual([20, 'extranonce2 must be 8 hex characters', null]);
    expect((await miner.submit({ jobId: job.id, extranonce2: '00000002', ntime: '00000001', nonce: '00000000' })).error).toEqual([20, 'ntime is before the template mintime', null]);
    expect((await miner.submit({ jobId: job.id, extranonce2: '00000002', ntime, nonce: 'xyz' })).error).toEqual([20, 'nonce must be 8 hex characters', null]);
    const versionBits = await miner.request('mining.submit', [`${minerAddress}.rig1`, job.id, '00000002', ntime, '00000000', '00002000']);
    expect(versionBits.error).toEqual([20, 'version bits outside the negotiated mask', null]);
    expect((await miner.request('mining.submit', [`${minerAddress}.rig1`, job.id])).error).toEqual([
      20,
      'mining.submit takes 5 or 6 string params: worker, job_id, extranonce2, ntime, nonce[, version_bits]',
      null,
    ]);
    // 22: the same share twice
    const share = await miner.findShare(miner.difficulty, job);
    expect((await miner.submit(share)).result).toBe(true);
    const duplicate = await miner.submit(share);
    expect(duplicate.error?.[0]).toBe(22);
    // 23: a hash above both the share target (d=1) and the network target
    const hard = minerFor({ password: 'd=1' });
    await hard.start();
    expect(hard.difficulty).toBe(1);
    const hardJob = await hard.waitForJob();
    const networkTarget = 0x7fffffn << 232n;
    let low: { extranonce2: string; ntime: string; nonce: string } | undefined;
    for (let n = 0; !low; n++) {
      const nonce = n.toString(16).padStart(8, '0');
      const value = await hard.hashFor(hardJob, '000000aa', hardJob.curtime.toString(16).padStart(8, '0'), nonce);
      if (value > networkTarget && value > difficultyToTarget(1)) low = { extranonce2: '000000aa', ntime: hardJob.curtime.toString(16).padStart(8, '0'), nonce };
    }
    const lowAnswer = await hard.submit({ jobId: hardJob.id, ...low });
    expect(lowAnswer.error?.[0]).toBe(23);
    // unknown methods are answered, the connection stays up
    const unknownMethod = await miner.request('mining.fly_to_the_moon', []);
    expect(unknownMethod.error?.[0]).toBe(20);
    expect((await miner.request('mining.extranonce.subscribe', [])).result).toBe(true);
    expect((await miner.request('mining.multi_version', [1])).result).toBe(true);
    expect((await miner.request('client.get_version', [])).result).toMatch(/^ltcpool/);
    await miner.close();
    await hard.close();
    // The share processor counted each reject once, under its reason and as a rejected share.
    for (const reason of rejectReasons) {
      expect(await metricValue(pool.metrics, 'ltcpool_share_rejects_total', { reason }), reason).toBe(rejectsBefore.get(reason)! + 1);
    }
    expect(await metricValue(pool.metrics, 'ltcpool_shares_total', { result: 'rejected' })).toBe(rejectedBefore + rejectReasons.length);
  });

  it('a share on the previous block counts during the grace, and is stale after it', async () => {
    const miner = minerFor();
    await miner.start();
    const oldJob = await miner.waitForJob();
    const share = await miner.findShare(miner.difficulty, oldJob);
    const share2 = await miner.findShare(miner.difficulty, oldJob);
    const staleBefore = await metricValue(pool.metrics, 'ltcpool_shares_total', { result: 'stale' });
    await node.mine(1);
    await waitFor('a clean job for the new block', () => miner.job && miner.job.id !== oldJob.id && miner.job.cleanJobs, 10_000);
    expect((await miner.submit(share)).result).toBe(true);
    await new Promise((r) => setTimeout(r, pool.config.stratum.staleGraceMs + 100));
    const stale = await miner.submit(share2);
    expect(stale.error?.[0]).toBe(21);
    expect(stale.error?.[1]).toMatch(/stale/i);
    expect(await metricValue(pool.metrics, 'ltcpool_shares_total', { result: 'stale' })).toBe(staleBefore + 1);
    await miner.close();
  });

  it('version rolling: a 6-param submit within the negotiated mask is accepted', async () => {
    const miner = minerFor();
    await miner.connect();
    const configure = await miner.request('mining.configure', [['version-rolling'], { 'version-rolling.mask': '00ffe000' }]);
    expect(configure.result).toEqual({ 'version-rolling': true, 'version-rolling.mask': '00ffe000' });
    await miner.subscribe();
    await miner.authorize();
    const job = await miner.waitForJob();
    const ntime = job.curtime.toString(16).padStart(8, '0');
    const rolled = { ...job, version: (job.version | 0x00004000) >>> 0 };
    const target = difficultyToTarget(miner.difficulty);
    let nonce = '';
    for (let n = 0; !nonce; n++) {
      const candidate = n.toString(16).padStart(8, '0');
      if ((await miner.hashFor(rolled, '0000abcd', ntime, candidate)) <= target) nonce = candidate;
    }
    const answer = await miner.request('mining.submit', [`${minerAddress}.rig1`, job.id, '0000abcd', ntime, nonce, '00004000']);
    expect(answer.result).toBe(true);
    await miner.close();
  });

  it('difficulty: port start, d= password, suggest_difficulty; fractional and ASIC-sized values', async () => {
    const fixed = minerFor({ password: 'd=2400000' });
    await fixed.start();
    await waitFor('set_difficulty', () => fixed.notifications.some((n) => n.method === 'mining.set_difficulty'));
    expect(fixed.difficulty).toBe(2400000);
    await fixed.close();
    const suggesting = minerFor();
    await suggesting.connect();
    await suggesting.subscribe();
    expect((await suggesting.request('mining.suggest_difficulty', [0.0005])).result).toBe(true);
    await suggesting.authorize();
    await waitFor('set_difficulty', () => suggesting.notifications.some((n) => n.method === 'mining.set_difficulty'));
    expect(suggesting.difficulty).toBe(0.0005);
    const share = await suggesting.findShare(0.0005);
    expect((await suggesting.submit(share)).result).toBe(true);
    await suggesting.close();
  });

  it('keeps serving the last good job while litecoind cannot build a template, and says so in metrics', async () => {
    const errorsBefore = await metricValue(pool.metrics, 'ltcpool_template_errors_total');
    await node.rpc('setnetworkactive', [false]);
    try {
      await waitFor('a template error', async () => (await metricValue(pool.metrics, 'ltcpool_template_errors_total')) > errorsBefore, 20_000);
      const miner = minerFor();
      await miner.start();
      const job = await miner.waitForJob();
      const share = await miner.findShare(miner.difficulty, job);
      expect((await miner.submit(share)).result).toBe(true);
      await miner.close();
    } finally {
      await node.rpc('setnetworkactive', [true]);
    }
  });

  it('sends client.reconnect to connected miners on shutdown', async () => {
    const own = await startTestPool(node, payoutAddress);
    const miner = new TestMiner({ host: '127.0.0.1', port: own.stratumPort, username: minerAddress });
    await miner.start();
    await miner.waitForJob();
    const reconnect = new Promise((resolve) => miner.once('reconnect-request', resolve));
    await own.stop();
    await expect(reconnect).resolves.toEqual([]);
    await miner.close();
  });
});

/** Writes all requests in one TCP packet and collects `count` JSON lines. */
async function rawExchange(requests: object[], count: number): Promise<Array<Record<string, unknown>>> {
  const socket = connect({ host: '127.0.0.1', port: pool.stratumPort });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const lines: Array<Record<string, unknown>> = [];
  const done = new Promise<void>((resolve) => {
    onLines(
      socket,
      (line) => lines.push(JSON.parse(line)),
      () => lines.length >= count && resolve(),
    );
  });
  socket.write(requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`got ${lines.length} lines`)), 10_000))]);
  socket.destroy();
  return lines;
}
