import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { RpcError } from '../../src/chain/rpc.js';
import type { RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import type { TestDatabase } from '../harness/postgres.js';
import { spawnPool, startProcessTestbed, writeJson, type PoolProcess, type ProcessTestbed } from '../support/pool-process.js';
import { waitFor } from '../support/pool.js';

/**
 * A found block is never lost: kill -9 of the pool right after block shares were acknowledged, with the
 * `blocks` table locked (a database that does not take the block) or free. Checked on litecoind itself:
 * every acknowledged block share is in the chain, or was out-raced there by a sibling on the same parent,
 * and it is in `blocks`.
 */

const minerAddresses = ['rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg', 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw'];
let node: RegtestNode;
let database: TestDatabase;
let db: pg.Pool;
let tmp: string;

let testbed: ProcessTestbed | undefined;

beforeAll(async () => {
  testbed = await startProcessTestbed({ tmpPrefix: 'ltcpool-blocks-', dbConnections: 3 });
  ({ node, database, db, tmp } = testbed);
}, 180_000);

afterAll(() => testbed?.stop());

interface Verdict { shareId: string; hash: string | null; height: number | null; place: 'chain' | 'out-raced' | 'unknown to the node' | 'not in blocks' }

/** Where each acknowledged block share ended up: on litecoind and in the blocks table. */
async function judgeBlockShares(shareIds: string[]): Promise<Verdict[]> {
  const shares = await db.query<{ share_id: string }>('SELECT share_id FROM shares WHERE is_block AND share_id = ANY($1::text[])', [shareIds]);
  const verdicts: Verdict[] = [];
  for (const { share_id: shareId } of shares.rows) {
    const row = await db.query<{ hash: string; height: number; prev_hash: string }>('SELECT hash, height, prev_hash FROM blocks WHERE share_id = $1', [shareId]);
    if (row.rows.length === 0) {
      verdicts.push({ shareId, hash: null, height: null, place: 'not in blocks' });
      continue;
    }
    const { hash, height, prev_hash: prevHash } = row.rows[0];
    let place: Verdict['place'];
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
    verdicts.push({ shareId, hash, height, place });
  }
  return verdicts;
}

function shareIdOf(s: { extranonce1: string; jobId: string; extranonce2: string; ntime: string; nonce: string }): string {
  return `0:${s.extranonce1}:${s.jobId}:${s.extranonce2}${s.ntime}${s.nonce}`;
}

describe('found blocks survive kill -9', () => {
  it('every acknowledged block share is in the chain (or out-raced) and in blocks, with the blocks table locked or free', async () => {
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
    const blocksFound = () => pool.output().split('"block found"').length - 1;
    const rounds: Array<{ lock: boolean; delayMs: number }> = [
      { lock: true, delayMs: 50 },
      { lock: true, delayMs: 400 },
      { lock: true, delayMs: 900 },
      { lock: false, delayMs: 100 },
    ];
    try {
      for (const round of rounds) {
        const miners = minerAddresses.map(
          (address, i) => new TestMiner({ host: '127.0.0.1', port: stratumPort, username: `${address}.b${i}`, hashrate: 8 }),
        );
        allMiners.push(...miners);
        for (const miner of miners) {
          await miner.start();
          miner.startMining();
        }
        const locker = await db.connect();
        try {
          if (round.lock) {
            await locker.query('BEGIN');
            await locker.query('LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE');
          }
          const before = blocksFound();
          await waitFor('a block found this round', () => blocksFound() > before, 30_000);
          await new Promise((r) => setTimeout(r, round.delayMs));
          await pool.kill('SIGKILL');
          for (const miner of miners) await miner.close();
        } finally {
          if (round.lock) await locker.query('ROLLBACK').catch(() => undefined);
          locker.release();
        }
        // No miner mines on the restarted pool until the check: the tip stays where the kill left it.
        pool = await spawnPool(configFile, stratumPort);
        const acknowledged = allMiners.flatMap((m) => m.submitted.filter((s) => s.accepted)).map(shareIdOf);
        let verdicts: Verdict[] = [];
        await waitFor(
          'every acknowledged block share in blocks and on the node',
          async () => {
            verdicts = await judgeBlockShares(acknowledged);
            return verdicts.every((v) => v.place === 'chain' || v.place === 'out-raced');
          },
          15_000,
          250,
        ).catch(() => undefined);
        const lost = verdicts.filter((v) => v.place !== 'chain' && v.place !== 'out-raced');
        expect(lost, `round ${JSON.stringify(round)}: ${verdicts.length} block shares acknowledged; pool log:\n${pool.output().slice(-2000)}`).toEqual([]);
      }
      const verdicts = await judgeBlockShares(allMiners.flatMap((m) => m.submitted.filter((s) => s.accepted)).map(shareIdOf));
      const inChain = verdicts.filter((v) => v.place === 'chain').length;
      console.log(`block shares acknowledged: ${verdicts.length}, in the chain: ${inChain}, out-raced: ${verdicts.length - inChain}`);
      expect(inChain).toBeGreaterThanOrEqual(rounds.length);
    } finally {
      for (const miner of allMiners) await miner.close();
      await pool.kill('SIGTERM');
    }
  }, 180_000);
});
