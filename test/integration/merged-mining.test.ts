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
import { creditTotals, expectedPplnsCredits } from '../support/payouts.js';
import { metricValue, startTestPool, waitFor, type TestPool } from '../support/pool.js';

const found = findDogecoind();
const skipReason = 'missing' in found ? found.missing : undefined;
if (skipReason) console.warn(`merged-mining integration tests SKIPPED: ${skipReason}`);

const minerAddress = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg';
// A second miner who gives no Dogecoin address at first: its DOGE credit waits on this Litecoin address
// (hash160 of 'ltcpool quiet miner', in no wallet).
const quietMinerAddress = 'rltc1qk9czs7endxwlwed268thdg4nsvqyqq5zfzt63z';
const WINDOW_FACTOR = 20;
// The pool fee's recipient (hash160 of 'ltcpool fee'): a Litecoin address; its DOGE share goes to the pool's DOGE address.
const feeAddress = 'rltc1q97ez3dg5e9cs3vdhgm4e6n82k9hw38v2vgdmgk';
const FEE_BPS = 100n;

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
    const quiet = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${quietMinerAddress}.rig1`, password: 'd=0.00001', hashrate: 3 });
    expect((await miner.start()).result).toBe(true);
    expect((await quiet.start()).result).toBe(true);
    miner.startMining();
    quiet.startMining();
    await waitFor('3 LTC and 3 DOGE blocks', () => ltcAccepted().length >= 3 && auxAccepted().length >= 3 && quiet.accepted > 0, 90_000);
    await Promise.all([miner.close(), quiet.close()]);
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
    const blocksMetric = (chain: string, status: string) => metricValue(pool.metrics, 'ltcpool_blocks_total', { chain, status });
    expect(await blocksMetric('dogecoin', 'accepted'), 'ltcpool_blocks_total carries the aux chain').toBe(auxAccepted().length);
    expect(await blocksMetric('dogecoin', 'found')).toBe(await m('found'));
    expect(await blocksMetric('litecoin', 'accepted')).toBe(ltcAccepted().length);
    const remembered = await db.query(`SELECT address, aux_address FROM miner_aux_addresses WHERE chain = 'dogecoin'`);
    expect(remembered.rows, 'the quiet miner gave no address').toEqual([{ address: minerAddress, aux_address: minerDogeAddress }]);
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

  it('payouts: two miners share the blocks of both chains as an independent computation from the shares table says; a crash after sendmany pays nobody twice; the miner without a DOGE address waits, then is paid at the last address given', async () => {
    await pool.aux.blocks.drain();
    const shareAddresses = await db.query<{ address: string }>('SELECT DISTINCT address FROM shares');
    expect(shareAddresses.rows.map((r) => r.address).sort()).toEqual([minerAddress, quietMinerAddress].sort());
    await doge.mine(61);
    await node.mine(101);
    // Independent of the pool's tables: the coinbase values of the accepted blocks, read from each node.
    let dogeMined = 0n;
    for (const { hash } of auxAccepted()) {
      const block = await doge.rpc<{ tx: string[] }>('getblock', [hash]);
      const coinbase = await doge.rpc<{ vout: Array<{ value: number }> }>('getrawtransaction', [block.tx[0], 1]);
      dogeMined += ltcToLitoshis(coinbase.vout[0].value);
    }
    let ltcMined = 0n;
    for (const { hash } of ltcAccepted()) {
      const block = await node.rpc<{ tx: Array<{ vout: Array<{ value: number }> }> }>('getblock', [hash, 2]);
      ltcMined += ltcToLitoshis(block.tx[0].vout[0].value);
    }

    const config = parseConfig({
      network: 'regtest',
      pool: { address: pool.config.pool.address },
      node: { rpcUrl: node.rpcUrl },
      database: { url: database.url },
      merged: [{ chain: 'dogecoin', rpcUrl: doge.rpcUrl, address: poolDogeAddress }],
      payouts: { pplnsWindowFactor: WINDOW_FACTOR, feePercent: 1, feeAddresses: [{ address: feeAddress }] },
      http: { enabled: false },
    });
    const payoutMetrics = createMetrics({ defaultMetrics: false });
    const context = await createPayoutContext(config, { logger: pino({ level: 'silent' }), metrics: payoutMetrics });
    try {
      // The DOGE run dies right after sendmany, before the database learns the txid.
      context.auxDeps[0].afterSend = () => {
        throw new Error('simulated crash after sendmany');
      };
      await expect(runPayoutOnce(context.auxDeps[0])).rejects.toThrow(/simulated crash/);
      context.auxDeps[0].afterSend = undefined;
      const pending = await db.query(`SELECT address, payee, status FROM payments WHERE chain = 'dogecoin' ORDER BY address`);
      expect(pending.rows, 'the fee is paid to the pool\'s DOGE address').toEqual([
        { address: minerAddress, payee: minerDogeAddress, status: 'pending' },
        { address: feeAddress, payee: poolDogeAddress, status: 'pending' },
      ].sort((a, b) => a.address.localeCompare(b.address)));

      const results = await runAllChains(context);
      expect(results.map((r) => [r.chain, r.summary?.ok])).toEqual([['litecoin', true], ['dogecoin', true]]);
      const [ltc, dogeRun] = results.map((r) => r.summary!);

      // PPLNS over the same shares on both chains, each block's window sized by its own chain's difficulty.
      const expected = async (chain: string) => creditTotals(await expectedPplnsCredits(db, { chain, windowFactor: WINDOW_FACTOR, feeBps: FEE_BPS, feeAddress }));
      const ltcOwed = await expected('litecoin');
      const dogeOwed = await expected('dogecoin');
      expect([...ltcOwed.values()].reduce((a, b) => a + b, 0n), 'every LTC block credited in full').toBe(ltcMined);
      expect([...dogeOwed.values()].reduce((a, b) => a + b, 0n), 'every DOGE block credited in full').toBe(dogeMined);
      for (const owed of [ltcOwed, dogeOwed]) expect([...owed.keys()].sort()).toEqual([minerAddress, quietMinerAddress, feeAddress].sort());
      const sharedDogeBlocks = [...(await expectedPplnsCredits(db, { chain: 'dogecoin', windowFactor: WINDOW_FACTOR, feeBps: FEE_BPS, feeAddress })).values()]
        .filter((credits) => credits.has(minerAddress) && credits.has(quietMinerAddress));
      expect(sharedDogeBlocks.length, 'DOGE blocks split between both miners').toBeGreaterThan(0);

      const byAddress = (lines: Array<{ address: string; amount: bigint; status: string }>) =>
        lines.map((p) => [p.address, p.amount, p.status]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));
      expect(byAddress(ltc.payments)).toEqual(byAddress([
        { address: minerAddress, amount: ltcOwed.get(minerAddress)!, status: 'sent' },
        { address: quietMinerAddress, amount: ltcOwed.get(quietMinerAddress)!, status: 'sent' },
        { address: feeAddress, amount: ltcOwed.get(feeAddress)!, status: 'sent' },
      ]));
      expect(dogeRun.payments, 'DOGE: the crashed batch is reconciled, not paid again; the quiet miner waits').toEqual([]);
      expect(dogeRun.reconciled).toEqual([expect.objectContaining({ action: 'sent' })]);
      expect(dogeRun.awaitingAddress).toBe(1);
      expect(formatSummary(dogeRun, 'DOGE')).toContain('1 balance(s) wait for their miner to give an address on this chain');
      const waiting = await db.query(`SELECT balance::text FROM chain_balances WHERE chain = 'dogecoin' AND address = $1`, [quietMinerAddress]);
      expect(waiting.rows).toEqual([{ balance: dogeOwed.get(quietMinerAddress)!.toString() }]);

      // The quiet miner gives an address, then another: the last one given is the one paid.
      const firstGiven = await doge.newAddress();
      const lastGiven = await doge.newAddress();
      for (const given of [firstGiven, lastGiven]) {
        const m = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${quietMinerAddress}.rig1`, password: `d=1000,doge=${given}` });
        expect((await m.start()).result).toBe(true);
        await waitFor(`${given} remembered`, async () => (await db.query(
          `SELECT 1 FROM miner_aux_addresses WHERE address = $1 AND chain = 'dogecoin' AND aux_address = $2`, [quietMinerAddress, given])).rows.length === 1, 5_000);
        await m.close();
      }
      const [, dogeLater] = (await runAllChains(context)).map((r) => r.summary!);
      expect(dogeLater.ok).toBe(true);
      expect(dogeLater.awaitingAddress).toBe(0);
      expect(byAddress(dogeLater.payments)).toEqual([[quietMinerAddress, dogeOwed.get(quietMinerAddress)!, 'sent']]);

      const paid = await db.query<{ chain: string; address: string; payee: string | null; amount: string; status: string }>(
        'SELECT chain, address, payee, amount::text, status FROM payments ORDER BY chain, address');
      expect(paid.rows).toEqual([
        { chain: 'dogecoin', address: minerAddress, payee: minerDogeAddress, amount: dogeOwed.get(minerAddress)!.toString(), status: 'sent' },
        { chain: 'dogecoin', address: quietMinerAddress, payee: lastGiven, amount: dogeOwed.get(quietMinerAddress)!.toString(), status: 'sent' },
        { chain: 'dogecoin', address: feeAddress, payee: poolDogeAddress, amount: dogeOwed.get(feeAddress)!.toString(), status: 'sent' },
        { chain: 'litecoin', address: minerAddress, payee: null, amount: ltcOwed.get(minerAddress)!.toString(), status: 'sent' },
        { chain: 'litecoin', address: quietMinerAddress, payee: null, amount: ltcOwed.get(quietMinerAddress)!.toString(), status: 'sent' },
        { chain: 'litecoin', address: feeAddress, payee: null, amount: ltcOwed.get(feeAddress)!.toString(), status: 'sent' },
      ].sort((a, b) => (a.chain + a.address).localeCompare(b.chain + b.address)));
      // Once more: nothing left to pay on either chain, and each DOGE address received its amount exactly once.
      const again = await runAllChains(context);
      expect(again.map((r) => r.summary?.payments.length)).toEqual([0, 0]);
      await doge.mine(1);
      const received = async (address: string) => ltcToLitoshis(await doge.rpc<number>('getreceivedbyaddress', [address, 1]));
      expect(await received(minerDogeAddress)).toBe(dogeOwed.get(minerAddress));
      expect(await received(lastGiven)).toBe(dogeOwed.get(quietMinerAddress));
      expect(await received(firstGiven)).toBe(0n);
      // Payout and block metrics per chain.
      const paidMetric = (chain: string) => metricValue(payoutMetrics, 'ltcpool_payouts_paid_litoshis_total', { chain });
      expect(await paidMetric('dogecoin')).toBe(Number(dogeMined));
      expect(await paidMetric('litecoin')).toBe(Number(ltcMined));
      expect(await metricValue(payoutMetrics, 'ltcpool_payouts_pending_litoshis', { chain: 'dogecoin' })).toBe(0);
      const confirmed = await db.query<{ chain: string; n: number }>(`SELECT chain, count(*)::int AS n FROM blocks WHERE status = 'confirmed' GROUP BY chain`);
      for (const { chain, n } of confirmed.rows) expect(await metricValue(payoutMetrics, 'ltcpool_blocks_total', { chain, status: 'confirmed' }), chain).toBe(n);
      expect(confirmed.rows.map((r) => r.chain).sort()).toEqual(['dogecoin', 'litecoin']);

      // The API per chain: the miner's DOGE ledger and address, payments and blocks of one chain with their unit.
      const api = async (path: string) => (await fetch(`${pool.httpUrl}${path}`)).json() as Promise<any>;
      const quietPage = await api(`/api/miners/${quietMinerAddress}`);
      expect(quietPage.auxChains).toEqual([{ chain: 'dogecoin', unit: 'DOGE', balanceLitoshis: '0', immatureLitoshis: '0', pendingLitoshis: '0',
        paidLitoshis: dogeOwed.get(quietMinerAddress)!.toString(), payTo: lastGiven }]);
      expect(quietPage.paidLitoshis, 'the Litecoin ledger apart').toBe(ltcOwed.get(quietMinerAddress)!.toString());
      const dogePayments = (await api('/api/payments?chain=dogecoin')).payments as Array<{ chain: string; unit: string; payee: string }>;
      expect(dogePayments).toHaveLength(3);
      expect(dogePayments.every((p) => p.chain === 'dogecoin' && p.unit === 'DOGE')).toBe(true);
      const dogeBlocks = (await api('/api/blocks?chain=dogecoin&limit=500')).blocks as Array<{ chain: string; unit: string }>;
      expect(dogeBlocks.length).toBe(Number((await db.query(`SELECT count(*) AS n FROM blocks WHERE chain = 'dogecoin'`)).rows[0].n));
      expect(dogeBlocks.every((b) => b.chain === 'dogecoin' && b.unit === 'DOGE')).toBe(true);
      expect((await api('/api/pool')).blocks.countsByChain.dogecoin.confirmed).toBe(confirmed.rows.find((r) => r.chain === 'dogecoin')!.n);
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
