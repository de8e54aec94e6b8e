import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuxBlockSubmitter } from '../../src/chain/aux-blocks.js';
import { RpcClient } from '../../src/chain/rpc.js';
import { findDogecoind, startDogecoinRegtest, type DogecoinNode } from '../../src/devnet/dogecoind.js';
import { TestMiner } from '../../src/miner/miner.js';
import { parseConfig } from '../../src/ops/config.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { ltcToLitoshis } from '../../src/payouts/amounts.js';
import { createPayoutContext, formatSummary, runAllChains, runPayoutOnce } from '../../src/payouts/cli.js';
import { migrate } from '../../src/store/migrations.js';
import { auxCommitment, buildAuxTree, parseAuxBlock, serializeAuxPow } from '../../src/work/auxpow.js';
import { leToBigInt, sha256d } from '../../src/work/bytes.js';
import { resolveAuxChain } from '../../src/work/chains.js';
import { buildCoinbaseParts } from '../../src/work/coinbase.js';
import { serializeHeader } from '../../src/work/header.js';
import { NodeScryptHasher } from '../../src/work/scrypt.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { metricValue, startTestPool, waitFor, type TestPool } from '../support/pool.js';

const found = findDogecoind();
const skipReason = 'missing' in found ? found.missing : undefined;
if (skipReason) console.warn(`merged-mining integration tests SKIPPED: ${skipReason}`);

const minerAddress = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';

describe.skipIf(skipReason !== undefined)(`merged mining: real litecoind (MWEB) + real dogecoind${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  let node: RegtestNode;
  let doge: DogecoinNode;
  let database: TestDatabase;
  let db: pg.Pool;
  let pool: TestPool;
  let poolDogeAddress: string;
  let minerDogeAddress: string;

  beforeAll(async () => {
    [node, doge, database] = await Promise.all([startRegtest({ mweb: true }), startDogecoinRegtest(), startPostgres()]);
    db = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(db);
    poolDogeAddress = await doge.newAddress();
    minerDogeAddress = await doge.newAddress();
    pool = await startTestPool(node, await node.newAddress('bech32'), {
      database: { url: database.url },
      merged: [{ chain: 'dogecoin', rpcUrl: doge.rpcUrl, address: poolDogeAddress, pollIntervalMs: 100 }],
    });
    await waitFor('aux work in the current job', () => (pool.jobs.current?.aux.length ?? 0) === 1, 15_000);
  }, 240_000);

  afterAll(async () => {
    await pool?.stop();
    await db?.end();
    await Promise.all([node?.stop(), doge?.stop(), database?.stop()]);
  });

  const auxAccepted = () => pool.aux.blocks.outcomes.filter((o) => o.accepted);
  const ltcAccepted = () => pool.blocks.outcomes.filter((o) => o.accepted);

  it('one share stream makes >= 3 Litecoin blocks and >= 3 Dogecoin blocks on dogecoind best chain, paying the configured address', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.rig1`, password: `d=0.00001,doge=${minerDogeAddress}`, hashrate: 6 });
    expect((await miner.start()).result).toBe(true);
    miner.startMining();
    await waitFor('3 LTC and 3 DOGE blocks', () => ltcAccepted().length >= 3 && auxAccepted().length >= 3, 90_000);
    await miner.close();
    await pool.aux.blocks.drain();

    for (const outcome of auxAccepted()) {
      const block = await doge.rpc<{ confirmations: number; tx: string[]; auxpow: { tx: { vin: Array<{ coinbase: string }> } } }>('getblock', [outcome.hash]);
      expect(block.confirmations, 'on the best chain').toBeGreaterThanOrEqual(1);
      expect(block.auxpow.tx.vin[0].coinbase).toContain(`fabe6d6d${outcome.hash}`);
      const coinbase = await doge.rpc<{ vout: Array<{ scriptPubKey: { addresses?: string[] } }> }>('getrawtransaction', [block.tx[0], 1]);
      expect(coinbase.vout[0].scriptPubKey.addresses).toEqual([poolDogeAddress]);
    }
    for (const outcome of ltcAccepted()) expect((await node.rpc<{ confirmations: number }>('getblockheader', [outcome.hash])).confirmations).toBeGreaterThanOrEqual(1);

    const rows = await db.query<{ chain: string; status: string; n: number }>(`SELECT chain, status, count(*)::int AS n FROM blocks GROUP BY chain, status`);
    const count = (chain: string, status: string) => rows.rows.find((r) => r.chain === chain && r.status === status)?.n ?? 0;
    expect(count('dogecoin', 'accepted')).toBe(auxAccepted().length);
    expect(count('litecoin', 'accepted')).toBeGreaterThanOrEqual(3);
    // Found = submitted: a share on replaced aux work is counted as stale, never as a found block.
    const m = (status: string) => metricValue(pool.metrics, 'ltcpool_aux_blocks_total', { chain: 'dogecoin', status });
    expect(await m('found')).toBe((await m('accepted')) + (await m('rejected')));
    expect(await m('accepted')).toBe(auxAccepted().length);
    const remembered = await db.query(`SELECT aux_address FROM miner_aux_addresses WHERE address = $1 AND chain = 'dogecoin'`, [minerAddress]);
    expect(remembered.rows).toEqual([{ aux_address: minerDogeAddress }]);
  }, 120_000);

  it('an aux tip change reaches miners as a new job (clean_jobs=false) within a second', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.watch`, password: 'd=1000' });
    await miner.start();
    await waitFor('first job', () => miner.job);
    const before = pool.aux.sources[0].current!.hash;
    const notified: Array<{ coinb1: string; clean: boolean; at: number }> = [];
    miner.on('notify', (job: { coinb1: Buffer; cleanJobs: boolean }) => notified.push({ coinb1: job.coinb1.toString('hex'), clean: job.cleanJobs, at: Date.now() }));
    const minedAt = Date.now();
    await doge.mine(1);
    const job = await waitFor('a notify carrying the new aux block', () => {
      const now = pool.aux.sources[0].current;
      return now && now.hash !== before && notified.find((n) => n.coinb1.includes(`fabe6d6d${now.hash}`));
    }, 5_000, 10);
    expect(job.clean).toBe(false);
    expect(job.at - minedAt).toBeLessThan(1000);
    await miner.close();
  });

  it('dogecoind stopped mid-mining: Litecoin mining never pauses; restarted: aux mining resumes', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${minerAddress}.rig2`, password: `d=0.00001,doge=${minerDogeAddress}`, hashrate: 6 });
    await miner.start();
    miner.startMining();
    await doge.halt();
    await waitFor('aux work dropped from new jobs', () => pool.jobs.current?.aux.length === 0, 10_000);
    const ltcBefore = ltcAccepted().length;
    const auxBefore = auxAccepted().length;
    await waitFor('2 LTC blocks while dogecoind is down', () => ltcAccepted().length >= ltcBefore + 2, 60_000);
    const response = await fetch(`${pool.httpUrl}/readyz`);
    expect(response.status).toBe(200);
    const ready = (await response.json()) as { status: string; checks: Array<{ name: string; ok: boolean; detail?: string }> };
    expect(ready.status).toBe('ready');
    expect(ready.checks.find((c) => c.name === 'aux:dogecoin')?.detail).toMatch(/failing since .*Litecoin mining continues/);
    expect(await metricValue(pool.metrics, 'ltcpool_aux_work_age_seconds', { chain: 'dogecoin' })).toBe(-1);
    expect(await metricValue(pool.metrics, 'ltcpool_aux_rpc_errors_total', { chain: 'dogecoin', method: 'getbestblockhash' })).toBeGreaterThan(0);

    await doge.restart();
    await waitFor('aux work back in jobs', () => pool.jobs.current?.aux.length === 1, 15_000);
    await waitFor('a DOGE block after the restart', () => auxAccepted().length > auxBefore, 60_000);
    await miner.close();
  }, 150_000);

  it('payouts: blocks mature on each chain, one run pays LTC and DOGE; a crash after sendmany pays nobody twice', async () => {
    await pool.aux.blocks.drain();
    // Every share came from one miner address and the fee is 0: each matured block's whole reward is that miner's.
    const shareAddresses = await db.query<{ address: string }>('SELECT DISTINCT address FROM shares');
    expect(shareAddresses.rows).toEqual([{ address: minerAddress }]);
    await doge.mine(61);
    await node.mine(101);
    // Independent of the pool's tables: the coinbase values of the accepted blocks, read from each node.
    let expectedDoge = 0n;
    for (const { hash } of auxAccepted()) {
      const block = await doge.rpc<{ tx: string[] }>('getblock', [hash]);
      const coinbase = await doge.rpc<{ vout: Array<{ value: number }> }>('getrawtransaction', [block.tx[0], 1]);
      expectedDoge += ltcToLitoshis(coinbase.vout[0].value);
    }
    let expectedLtc = 0n;
    for (const { hash } of ltcAccepted()) {
      const block = await node.rpc<{ tx: Array<{ vout: Array<{ value: number }> }> }>('getblock', [hash, 2]);
      expectedLtc += ltcToLitoshis(block.tx[0].vout[0].value);
    }

    const config = parseConfig({
      network: 'regtest',
      pool: { address: pool.config.pool.address },
      node: { rpcUrl: node.rpcUrl },
      database: { url: database.url },
      merged: [{ chain: 'dogecoin', rpcUrl: doge.rpcUrl, address: poolDogeAddress }],
      http: { enabled: false },
    });
    const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    try {
      // The DOGE run dies right after sendmany, before the database learns the txid.
      context.auxDeps[0].afterSend = () => {
        throw new Error('simulated crash after sendmany');
      };
      await expect(runPayoutOnce(context.auxDeps[0])).rejects.toThrow(/simulated crash/);
      context.auxDeps[0].afterSend = undefined;
      const pending = await db.query(`SELECT status FROM payments WHERE chain = 'dogecoin'`);
      expect(pending.rows).toEqual([{ status: 'pending' }]);

      const results = await runAllChains(context);
      expect(results.map((r) => [r.chain, r.summary?.ok])).toEqual([['litecoin', true], ['dogecoin', true]]);
      const [ltc, dogeRun] = results.map((r) => r.summary!);
      expect(ltc.payments.map((p) => [p.address, p.amount, p.status])).toEqual([[minerAddress, expectedLtc, 'sent']]);
      expect(dogeRun.payments, 'DOGE: the crashed batch is reconciled, not paid again').toEqual([]);
      expect(dogeRun.reconciled).toEqual([expect.objectContaining({ action: 'sent' })]);
      expect(formatSummary(dogeRun, 'DOGE')).toMatch(/owed 0\.0+ DOGE/);

      const paid = await db.query<{ chain: string; address: string; payee: string | null; amount: string; status: string }>(
        'SELECT chain, address, payee, amount::text, status FROM payments ORDER BY chain');
      expect(paid.rows).toEqual([
        { chain: 'dogecoin', address: minerAddress, payee: minerDogeAddress, amount: expectedDoge.toString(), status: 'sent' },
        { chain: 'litecoin', address: minerAddress, payee: null, amount: expectedLtc.toString(), status: 'sent' },
      ]);
      // Once more: nothing left to pay on either chain, and the DOGE address received the amount exactly once.
      const again = await runAllChains(context);
      expect(again.map((r) => r.summary?.payments.length)).toEqual([0, 0]);
      await doge.mine(1);
      expect(ltcToLitoshis(await doge.rpc<number>('getreceivedbyaddress', [minerDogeAddress, 1]))).toBe(expectedDoge);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('submitauxblock answering true for a replaced aux block is not trusted: not on the best chain, recorded rejected', async () => {
    pool.aux.sources[0].stop(); // no createauxblock from the pool in between (it would make the node forget the hash)
    const chain = resolveAuxChain('dogecoin', 'regtest');
    const address = await doge.newAddress();
    const aux = parseAuxBlock(await doge.rpc('createauxblock', [address]));
    await doge.mine(1); // the tip moves: `aux` is now stale
    const tree = buildAuxTree([{ chainId: chain.chainId, hash: aux.hash }]);
    const { coinb1, coinb2 } = buildCoinbaseParts({ height: 1000, extranonceSize: 8, poolTag: Buffer.alloc(0), outputs: [{ value: 1n, script: Buffer.from([0x51]) }], auxCommitment: auxCommitment(tree) });
    const coinbase = Buffer.concat([coinb1, Buffer.alloc(8), coinb2]);
    const hasher = new NodeScryptHasher();
    let header: Buffer;
    for (let nonce = 0; ; nonce++) {
      header = serializeHeader({ version: 0x20000000, prevHashInternal: Buffer.alloc(32, 1), merkleRootInternal: sha256d(coinbase), ntime: 1_800_000_000, nbits: 0x207fffff, nonce });
      if (leToBigInt(await hasher.hash(header)) <= aux.target) break;
    }
    const rpc = new RpcClient({ url: doge.rpcUrl });
    const submitter = new AuxBlockSubmitter({ chains: new Map([['dogecoin', { rpc, onAccepted: () => undefined }]]), metrics: createMetrics({ defaultMetrics: false }), logger: pino({ level: 'silent' }) });
    const auxpowHex = serializeAuxPow({ coinbase, coinbaseBranch: [], auxBranch: [], auxIndex: 0, parentHeader: header! }).toString('hex');
    expect(await doge.rpc('submitauxblock', [aux.hash, auxpowHex]), 'the node says true').toBe(true);
    submitter.onAuxBlockFound({
      job: pool.jobs.current!,
      aux: { chain, block: aux, slot: 0, branch: [] },
      auxpowHex,
      address: minerAddress,
      worker: 'stale',
      shareDifficulty: 1,
      shareId: 'stale-test',
    });
    await submitter.drain();
    expect(submitter.outcomes).toEqual([expect.objectContaining({ accepted: false, reason: expect.stringMatching(/^stale/) })]);
    rpc.close();
  });
});
