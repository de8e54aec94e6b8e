/** Loads the shares a scheme asks for (RewardScheme.sharesNeeded) from the shares table, in seq order. */
import type pg from 'pg';
import { difficultyToWeight } from './schemes/units.js';
import type { PayoutShare, ShareSelection } from './types.js';

const CHUNK = 20_000;

interface ShareRow { seq: string; address: string; difficulty: number }

const toShare = (r: ShareRow): PayoutShare => ({ seq: BigInt(r.seq), address: r.address, weight: difficultyToWeight(r.difficulty) });

/**
 * PPLNS: newest first from throughSeq, in chunks, until the window weight is reached (the edge share included).
 * PROP: the whole range. The result is ordered newest first (the schemes accept either order).
 */
export async function loadShares(db: pg.PoolClient | pg.Pool, selection: ShareSelection): Promise<PayoutShare[]> {
  if (selection.kind === 'none') return [];
  if (selection.kind === 'range') {
    const res = await db.query<ShareRow>(
      `SELECT seq::text AS seq, address, difficulty FROM shares
        WHERE seq <= $1 AND ($2::bigint IS NULL OR seq > $2) ORDER BY seq DESC`,
      [selection.throughSeq.toString(), selection.afterSeq === null ? null : selection.afterSeq.toString()]);
    return res.rows.map(toShare);
  }
  const out: PayoutShare[] = [];
  let weight = 0n;
  let below = selection.throughSeq + 1n;
  for (;;) {
    const res = await db.query<ShareRow>(
      'SELECT seq::text AS seq, address, difficulty FROM shares WHERE seq < $1 ORDER BY seq DESC LIMIT $2',
      [below.toString(), CHUNK]);
    for (const row of res.rows) {
      const share = toShare(row);
      out.push(share);
      weight += share.weight;
      if (weight >= selection.weight) return out;
    }
    if (res.rows.length < CHUNK) return out;
    below = out[out.length - 1].seq;
  }
}
