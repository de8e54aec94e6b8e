import { sha256d } from './bytes.js';

/**
 * Sibling hashes (internal byte order) that fold the coinbase txid (index 0) up to the root.
 * `txids` are the non-coinbase transactions' txids in internal order, in block order.
 */
export function merkleBranch(txids: Buffer[]): Buffer[] {
  const branch: Buffer[] = [];
  let level: Buffer[] = [Buffer.alloc(32), ...txids];
  while (level.length > 1) {
    branch.push(level[1]);
    const next: Buffer[] = [Buffer.alloc(32)];
    for (let i = 2; i < level.length; i += 2) {
      const right = i + 1 < level.length ? level[i + 1] : level[i];
      next.push(sha256d(Buffer.concat([level[i], right])));
    }
    level = next;
  }
  return branch;
}

export function merkleRootFromBranch(coinbaseTxid: Buffer, branch: Buffer[]): Buffer {
  let hash = coinbaseTxid;
  for (const sibling of branch) hash = sha256d(Buffer.concat([hash, sibling]));
  return hash;
}

/** Root of a full list of txids (internal order). */
export function merkleRoot(txids: Buffer[]): Buffer {
  if (txids.length === 0) throw new Error('merkle root of no transactions');
  let level = txids;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = i + 1 < level.length ? level[i + 1] : level[i];
      next.push(sha256d(Buffer.concat([level[i], right])));
    }
    level = next;
  }
  return level[0];
}
