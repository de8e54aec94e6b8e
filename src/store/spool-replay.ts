import path from 'node:path';
import type { Logger } from 'pino';
import type pg from 'pg';
import { BlocksRepo } from './blocks.js';
import { InstanceLease } from './instance-lease.js';
import { checkSchema } from './migrations.js';
import { ShareWriter } from './share-writer.js';
import { Spool } from './spool.js';

export interface SpoolReplayReport {
  dir: string;
  instanceId: number;
  shares: number;
  records: number;
  blocks: number;
  /** Shares still in the spool afterwards (the database went away meanwhile): run it again. */
  sharesLeft: number;
  blocksLeft: number;
}

/** `<spoolDir>/instance-<id>` → id; undefined for any other name. */
export function instanceIdOfSpoolDir(dir: string): number | undefined {
  const m = /^instance-(\d{1,3})$/.exec(path.basename(path.resolve(dir)));
  const id = m ? Number(m[1]) : undefined;
  return id !== undefined && id <= 255 ? id : undefined;
}

/**
 * Replays a (dead) instance's spool directory, shares and found blocks, into the database, idempotently (rows
 * already there are skipped). The instance's lease is held meanwhile: refused while that instance is live (its
 * own process replays its spool), and the instance cannot start on the directory until the replay is done.
 */
export async function replaySpoolDir(o: { db: pg.Pool; dir: string; instanceId?: number; logger: Logger }): Promise<SpoolReplayReport> {
  const dir = path.resolve(o.dir);
  const instanceId = o.instanceId ?? instanceIdOfSpoolDir(dir);
  if (instanceId === undefined) throw new Error(`${dir}: not an instance spool directory (<spoolDir>/instance-<id>); name the instance with --instance <id>`);
  await checkSchema(o.db);
  const lease = new InstanceLease({ db: o.db, instanceId, leaseSeconds: 30, logger: o.logger });
  await lease.acquire();
  lease.start();
  try {
    const writer = new ShareWriter({ pool: o.db, spoolDir: dir, logger: o.logger });
    await writer.start();
    const replayed = writer.lastReplay;
    const sharesLeft = writer.stats().spool.shares;
    await writer.close();

    const blockSpool = new Spool({ dir: path.join(dir, 'blocks'), logger: o.logger });
    await blockSpool.open();
    const repo = new BlocksRepo(o.db, { logger: o.logger });
    let blocks = 0;
    if (blockSpool.hasPending()) {
      await blockSpool.replay(async (record) => {
        if (record.kind === 'block') {
          await repo.insert(record.block);
          blocks++;
        }
      });
    }
    const blocksLeft = blockSpool.stats().records;
    await blockSpool.close();
    return { dir, instanceId, shares: replayed?.shares ?? 0, records: replayed?.records ?? 0, blocks, sharesLeft, blocksLeft };
  } finally {
    await lease.release();
  }
}
