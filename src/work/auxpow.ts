import { fromHex, isHex, leToBigInt, reversed, sha256d, u32LE, varInt } from './bytes.js';

/**
 * Merged mining (AuxPoW), pure: the aux merkle tree over the aux chains' block hashes, the commitment the
 * Litecoin coinbase scriptSig carries, and the auxpow blob `submitauxblock` takes. Facts: shared MERGED-MINING.md.
 */

export const MERGED_MINING_MAGIC = Buffer.from('fabe6d6d', 'hex');
/** magic ‖ root (32) ‖ merkle_size (u32 LE) ‖ merkle_nonce (u32 LE). */
export const AUX_COMMITMENT_SIZE = 44;
/** Aux branch length limit Dogecoin (Namecoin) enforces. */
export const MAX_AUX_TREE_HEIGHT = 30;

/** Expected slot of a chain in an aux tree of 2^height leaves (Namecoin's getExpectedIndex, uint32 arithmetic). */
export function auxSlot(chainId: number, nonce: number, height: number): number {
  let r = (Math.imul(nonce >>> 0, 1103515245) + 12345) >>> 0;
  r = (r + (chainId >>> 0)) >>> 0;
  r = (Math.imul(r, 1103515245) + 12345) >>> 0;
  return height >= 32 ? r : r % 2 ** height;
}

/**
 * Smallest tree height giving every chain its own slot. Slots collide exactly when chain ids are equal
 * modulo 2^height (x -> a*x + c is a bijection mod 2^h for odd a), whatever the nonce: size by ids, not by count.
 */
export function auxTreeHeight(chainIds: number[]): number {
  const seen = new Set<number>();
  for (const id of chainIds) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`bad aux chain id ${id}`);
    if (seen.has(id)) throw new RangeError(`two aux chains have chain id ${id}: they cannot be merge-mined together`);
    seen.add(id);
  }
  for (let h = 0; h <= MAX_AUX_TREE_HEIGHT; h++) {
    const slots = new Set(chainIds.map((id) => auxSlot(id, 0, h)));
    if (slots.size === chainIds.length) return h;
  }
  throw new RangeError(`no aux tree of at most 2^${MAX_AUX_TREE_HEIGHT} leaves separates chain ids ${chainIds.join(', ')}`);
}

export interface AuxLeaf {
  chainId: number;
  /** The aux block hash as createauxblock returns it (RPC display order hex). */
  hash: string;
}

export interface AuxTreeEntry {
  chainId: number;
  /** nChainIndex. */
  slot: number;
  /** Siblings from the leaf to the root, internal byte order. */
  branch: Buffer[];
}

export interface AuxTree {
  height: number;
  size: number;
  nonce: number;
  /** Root as the coinbase commitment carries it (display order: the hash string itself for one chain). */
  committedRoot: Buffer;
  entries: AuxTreeEntry[];
}

/** The aux merkle tree for these chains' current blocks (nonce 0 unless given; empty slots are zeros). */
export function buildAuxTree(leaves: AuxLeaf[], options: { nonce?: number; height?: number; filler?: Buffer } = {}): AuxTree {
  if (leaves.length === 0) throw new RangeError('an aux tree needs at least one chain');
  const nonce = options.nonce ?? 0;
  const height = options.height ?? auxTreeHeight(leaves.map((l) => l.chainId));
  const size = 2 ** height;
  const filler = options.filler ?? Buffer.alloc(32);
  const level0: Buffer[] = new Array<Buffer>(size).fill(filler);
  const slots = leaves.map((leaf) => {
    if (!isHex(leaf.hash, 32)) throw new Error(`aux block hash must be 64 hex characters, got ${leaf.hash.slice(0, 70)}`);
    const slot = auxSlot(leaf.chainId, nonce, height);
    level0[slot] = reversed(fromHex(leaf.hash));
    return slot;
  });
  if (new Set(slots).size !== slots.length) throw new RangeError(`aux chains ${leaves.map((l) => l.chainId).join(', ')} collide at nonce ${nonce}, height ${height}`);
  const levels: Buffer[][] = [level0];
  while (levels[levels.length - 1].length > 1) {
    const prev = levels[levels.length - 1];
    const next: Buffer[] = [];
    for (let i = 0; i < prev.length; i += 2) next.push(sha256d(Buffer.concat([prev[i], prev[i + 1]])));
    levels.push(next);
  }
  const entries = leaves.map((leaf, i) => {
    const slot = slots[i];
    const branch: Buffer[] = [];
    let index = slot;
    for (let l = 0; l < height; l++) {
      branch.push(levels[l][index ^ 1]);
      index >>= 1;
    }
    return { chainId: leaf.chainId, slot, branch };
  });
  return { height, size, nonce, committedRoot: reversed(levels[height][0]), entries };
}

/** The 44 bytes pushed into the coinbase scriptSig. */
export function auxCommitment(tree: Pick<AuxTree, 'committedRoot' | 'size' | 'nonce'>): Buffer {
  return Buffer.concat([MERGED_MINING_MAGIC, tree.committedRoot, u32LE(tree.size), u32LE(tree.nonce)]);
}

export interface AuxPowParts {
  /** The parent (Litecoin) coinbase serialized WITHOUT witness. */
  coinbase: Buffer;
  /** The Stratum job's merkle branch (internal order). */
  coinbaseBranch: Buffer[];
  /** This chain's aux tree branch and slot. */
  auxBranch: Buffer[];
  auxIndex: number;
  /** The 80-byte parent header. */
  parentHeader: Buffer;
}

/** The auxpow blob for submitauxblock (hex it for the RPC). */
export function serializeAuxPow(parts: AuxPowParts): Buffer {
  if (parts.parentHeader.length !== 80) throw new RangeError('parent header must be 80 bytes');
  if (parts.auxBranch.length > MAX_AUX_TREE_HEIGHT) throw new RangeError('aux branch too long');
  return Buffer.concat([
    parts.coinbase,
    sha256d(parts.parentHeader),
    varInt(parts.coinbaseBranch.length),
    ...parts.coinbaseBranch,
    u32LE(0),
    varInt(parts.auxBranch.length),
    ...parts.auxBranch,
    u32LE(parts.auxIndex),
    parts.parentHeader,
  ]);
}

/** createauxblock's answer, checked. */
export interface AuxBlock {
  hash: string;
  chainId: number;
  previousBlockHash: string;
  height: number;
  coinbaseValue: bigint;
  bits: string;
  /** 256-bit target as a number (the RPC gives it little-endian hex, as `target` or `_target`). */
  target: bigint;
}

export function parseAuxBlock(result: unknown): AuxBlock {
  if (typeof result !== 'object' || result === null) throw new Error('createauxblock: answer is not an object');
  const r = result as Record<string, unknown>;
  const targetHex = typeof r.target === 'string' ? r.target : r._target;
  if (typeof r.hash !== 'string' || !isHex(r.hash, 32)) throw new Error('createauxblock: bad hash');
  if (typeof targetHex !== 'string' || !isHex(targetHex, 32)) throw new Error('createauxblock: no target or _target');
  if (typeof r.chainid !== 'number' || !Number.isInteger(r.chainid)) throw new Error('createauxblock: bad chainid');
  if (typeof r.height !== 'number' || !Number.isInteger(r.height)) throw new Error('createauxblock: bad height');
  if (typeof r.coinbasevalue !== 'number' && typeof r.coinbasevalue !== 'string') throw new Error('createauxblock: bad coinbasevalue');
  return {
    hash: r.hash.toLowerCase(),
    chainId: r.chainid,
    previousBlockHash: typeof r.previousblockhash === 'string' ? r.previousblockhash : '',
    height: r.height,
    coinbaseValue: BigInt(r.coinbasevalue),
    bits: typeof r.bits === 'string' ? r.bits : '',
    target: leToBigInt(fromHex(targetHex)),
  };
}

/** Litecoin's scriptSig limit. */
export const MAX_SCRIPTSIG = 100;
/** The largest BIP34 height push (heights up to 2^31 - 1). */
export const MAX_HEIGHT_PUSH = 5;

/**
 * Longest pool tag (bytes) that keeps the coinbase scriptSig within 100 bytes at any height:
 * height push + [commitment push] + extranonce push + tag push.
 */
export function maxPoolTagBytes(extranonceSize: number, withAuxCommitment: boolean): number {
  const used = MAX_HEIGHT_PUSH + (withAuxCommitment ? 1 + AUX_COMMITMENT_SIZE : 0) + 1 + extranonceSize;
  return Math.max(0, MAX_SCRIPTSIG - used - 1); // tags under 76 bytes take a 1-byte push opcode
}
