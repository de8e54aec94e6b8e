import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner, type SubmittedShare } from '../../src/miner/miner.js';
import { RpcError } from '../../src/chain/rpc.js';
import { bitsToTarget } from '../../src/work/difficulty.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import type { TestDatabase } from '../harness/postgres.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';
import { startTestbed, type Testbed } from '../support/testbed.js';
import { waitFor } from '../support/pool.js';

/**
 * A found block is never lost: kill -9 of the pool right after block shares were acknowledged, with the
 * database taking writes, with the `blocks` table locked (a database that does not take the block), with the
 * server down (stopped) and with the server hung (SIGSTOP), at several moments after the block. Checked on
 * litecoind itself: every acknowledged block share is in the chain, or was out-raced there by a sibling on the
 * same parent, and it is in `blocks` once the database is back (after the pool restarted and replayed).
 * Which shares are blocks is told by their hashes (the miner's own record), not by the pool's tables.
 */

const minerAddresses = ['rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg', 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw'];
let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;
/** Regtest never retargets: one network target for every block share of the test. */
let networkTarget: bigint;

let testbed: Testbed | undefined;

beforeAll(async () => {
  testbed = await startTestbed({ tmpPrefix: 'ltcpool-blocks-', dbConnections: 3, privateDatabase: true });
  ({ node, database, db, tmp } = testbed);
  const tip = await node.rpc<{ bits: string }>('getblockheader', [await node.rpc<string>('getbestblockhash'), true]);
  networkTarget = bitsToTarget(tip.bits);
}, 180_000);

afterAll(() => testbed?.stop());

type Place = 'chain' | 'out-raced' | 'unknown to the node' | 'not in blocks';
interface Verdict { shareId: string; hash: string | null; place: Place }

/** Where each acknowledged block share ended up: in the blocks table, and on litecoind. */
async function judgeBlockShares(shareIds: string[]): Promise<Verdict[]> {
  const rows = await db.query<{ share_id: string; hash: string; height: number; prev_hash: string }>(
    'SELECT share_id, hash, height, prev_hash FROM blocks WHERE share_id = ANY($1::text[])', [shareIds]);
  const byShare = new Map(rows.rows.map((r) => [r.share_id, r]));
  const verdicts: Verdict[] = [];
  for (const shareId of shareIds) {
    const row = byShare.get(shareId);
    if (!row) {
      verdicts.push({ shareId, hash: null, place: 'not in blocks' });
      continue;
    }
    const { hash, height, prev_hash: prevHash } = row;
    let place: Place;
    try {
      const header = await node.rpc<{ confirmations: number }>('getblockheader', [hash, true]);
      place = header.confirmations >= 0 ? 'chain' : 'out-raced';
    } catch (error) {
      if (!(error instanceof RpcError && error.code === -5) && !/-5|not found/i.test((error as Error).message)) throw error;
      // Never submitted. Acceptable only when a sibling on the same parent holds its height (it could never win).
      const count = await node.rpc<number>('getblockcount');
      const mainHash = count >= height ? await node.rpc<string>('getblockhash', [height]) : null;
      const mainPrev = mainHash ? (await node.rpc<{ previousblockhash: string }>('getblockheader', [mainHash, true])).previousblockhash : null;
      place = mainPrev === prevHash ? 'out-raced' : 'unknown to the node';
    }
    verdicts.push({ shareId, hash, place });
  }
  return verdicts;
}

function shareIdOf(s: SubmittedShare): string {
  return `0:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;
}

/** What the database does while the block is found and the pool killed. */
type DatabaseState = 'free' | 'locked' | 'down' | 'hung';
/** `restartFirst`: the pool is started again while the database is still down or hung, which comes back later. */
interface Round { db: DatabaseState; delayMs: number; restartFirst?: boolean }

async function setDatabase(state: DatabaseState, locker: pg.PoolClient): Promise<void> {
  if (state === 'locked') {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE');
  } else if (state === 'down') await database.stopServer!();
  else if (state === 'hung') database.pauseServer!();
}

async function restoreDatabase(state: DatabaseState, locker: pg.PoolClient): Promise<void> {
  if (state === 'locked') await locker.query('ROLLBACK').catch(() => undefined);
  else if (state === 'down') await database.startServer!();
  else if (state === 'hung') database.resumeServer!();
}

describe('found blocks survive kill -9', () => {
  it('every acknowledged block share is in the chain (or out-raced) and in blocks, with the database free, locked, down or hung', async () => {
    const stratumPort = await freePort();
    const configFile = writeJson(path.join(tmp, 'blocks.json'), {
      network: 'regtest',
      pool: { address: await node.newAddress('bech32') },
      node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
      stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.00001 }], vardiff: { enabled: false }, staleGraceMs: 5000 },
      database: { url: database.url, spoolDir: path.join(tmp, 'spool') },
      http: { enabled: false },
      log: { level: 'info' },
    });
    const allMiners: TestMiner[] = [];
    let pool: PoolProcess = await spawnPool(configFile, stratumPort);
    const rounds: Round[] = [
      { db: 'locked', delayMs: 0 },
      { db: 'locked', delayMs: 800 },
      { db: 'free', delayMs: 300 },
      { db: 'down', delayMs: 0 },
      { db: 'down', delayMs: 300 },
      { db: 'down', delayMs: 800, restartFirst: true },
      { db: 'hung', delayMs: 0 },
      { db: 'hung', delayMs: 300, restartFirst: true },
      { db: 'hung', delayMs: 800 },
    ];
    const acknowledgedBlockShares = () =>
      allMiners.flatMap((m) => m.submitted).filter((s) => s.accepted && BigInt(`0x${s.hash}`) <= networkTarget).map(shareIdOf);
    const summary: string[] = [];
    let judged = 0;
    try {
      for (const round of rounds) {
        const miners = minerAddresses.map(
          (address, i) => new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${address}.b${i}`, hashrate: 8 }),
        );
        allMiners.push(...miners);
        const locker = await db.connect();
        try {
          await setDatabase(round.db, locker);
          for (const miner of miners) {
            await miner.start();
            miner.startMining();
          }
          // The kill comes `delayMs` after the miners were told `true` for a block share (they go on mining meanwhile).
          const before = acknowledgedBlockShares().length;
          await waitFor('a block share acknowledged this round', () => acknowledgedBlockShares().length > before, 30_000);
          await new Promise((r) => setTimeout(r, round.delayMs));
          await pool.kill('SIGKILL');
          for (const miner of miners) await miner.close();
          // No miner mines on the restarted pool until the check: the tip stays where the kill left it.
          if (round.restartFirst) {
            pool = await spawnPool(configFile, stratumPort);
            await new Promise((r) => setTimeout(r, 500));
          }
        } finally {
          await restoreDatabase(round.db, locker);
          locker.release(round.db === 'down' || round.db === 'hung');
        }
        if (!round.restartFirst) pool = await spawnPool(configFile, stratumPort);
        const acknowledged = acknowledgedBlockShares();
        let verdicts: Verdict[] = [];
        await waitFor(
          'every acknowledged block share in blocks and on the node',
          async () => {
            verdicts = await judgeBlockShares(acknowledged);
            return verdicts.every((v) => v.place === 'chain' || v.place === 'out-raced');
          },
          20_000,
          250,
        ).catch(() => undefined);
        const lost = verdicts.filter((v) => v.place !== 'chain' && v.place !== 'out-raced');
        expect(lost, `round ${JSON.stringify(round)}: ${verdicts.length} block shares acknowledged; pool log:\n${pool.output().slice(-3000)}`).toEqual([]);
        const chain = verdicts.filter((v) => v.place === 'chain').length;
        summary.push(`${round.db}, kill ${round.delayMs} ms after an acknowledged block${round.restartFirst ? ', restarted before the database was back' : ''}: ` +
          `${acknowledged.length - judged} acknowledged this round; so far ${chain} in the chain, ${verdicts.length - chain} out-raced`);
        judged = acknowledged.length;
      }
      const verdicts = await judgeBlockShares(acknowledgedBlockShares());
      const inChain = verdicts.filter((v) => v.place === 'chain').length;
      console.log(`${rounds.length} kill -9 rounds:\n  ${summary.join('\n  ')}\nblock shares acknowledged: ${verdicts.length}, in the chain: ${inChain}, out-raced: ${verdicts.length - inChain}; all in blocks`);
      expect(inChain).toBeGreaterThanOrEqual(rounds.length);
    } finally {
      for (const miner of allMiners) await miner.close();
      await pool.kill('SIGTERM');
    }
  }, 300_000);
});
