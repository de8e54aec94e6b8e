import { isHex, leToBigInt, sha256d } from './bytes.js';
import { withWitnessReservedValue } from './coinbase.js';
import { serializeHeader } from './header.js';
import type { Job } from './job.js';
import { merkleRootFromBranch } from './merkle.js';
import { assembleBlock } from './block.js';

/** Why a share was refused: the Stratum answer's reason and the label of ltcpool_share_rejects_total. */
export const REJECT_REASONS = [
  'job-not-found',
  'stale',
  'duplicate',
  'low-difficulty',
  'unauthorized',
  'not-subscribed',
  'bad-extranonce2',
  'bad-ntime',
  'bad-nonce',
  'bad-version',
  'malformed',
  'other',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

export interface ShareFields {
  extranonce2: string;
  ntime: string;
  nonce: string;
  versionBits?: string;
}

export interface ParsedShare {
  extranonce2: Buffer;
  ntime: number;
  nonce: number;
  /** The header version after applying rolled bits. */
  version: number;
}

export interface FieldCheckOptions {
  extranonce2Size: number;
  /** Negotiated BIP310 version-rolling mask (0 when none). */
  versionMask: number;
  now: number;
  /** How far past `now` a miner's ntime may run. litecoind allows 2 h; stay well inside. */
  maxFutureSeconds: number;
}

export type FieldCheck = { ok: true; share: ParsedShare } | { ok: false; reason: RejectReason; message: string };

/** The cheap checks, before any hashing. */
export function checkShareFields(job: Pick<Job, 'mintime' | 'curtime' | 'version'>, fields: ShareFields, options: FieldCheckOptions): FieldCheck {
  if (typeof fields.extranonce2 !== 'string' || !isHex(fields.extranonce2, options.extranonce2Size)) {
    return { ok: false, reason: 'bad-extranonce2', message: `extranonce2 must be ${options.extranonce2Size * 2} hex characters` };
  }
  if (typeof fields.ntime !== 'string' || !isHex(fields.ntime, 4)) {
    return { ok: false, reason: 'bad-ntime', message: 'ntime must be 8 hex characters' };
  }
  const ntime = parseInt(fields.ntime, 16);
  if (ntime < job.mintime) return { ok: false, reason: 'bad-ntime', message: 'ntime is before the template mintime' };
  if (ntime > Math.max(options.now, job.curtime) + options.maxFutureSeconds) {
    return { ok: false, reason: 'bad-ntime', message: 'ntime is too far in the future' };
  }
  if (typeof fields.nonce !== 'string' || !isHex(fields.nonce, 4)) {
    return { ok: false, reason: 'bad-nonce', message: 'nonce must be 8 hex characters' };
  }
  let version = job.version;
  if (fields.versionBits !== undefined) {
    if (typeof fields.versionBits !== 'string' || !isHex(fields.versionBits, 4)) {
      return { ok: false, reason: 'bad-version', message: 'version bits must be 8 hex characters' };
    }
    const bits = parseInt(fields.versionBits, 16) >>> 0;
    if ((bits & ~options.versionMask) >>> 0 !== 0) {
      return { ok: false, reason: 'bad-version', message: 'version bits outside the negotiated mask' };
    }
    version = ((job.version & ~options.versionMask) | (bits & options.versionMask)) >>> 0;
  }
  return {
    ok: true,
    share: { extranonce2: Buffer.from(fields.extranonce2, 'hex'), ntime, nonce: parseInt(fields.nonce, 16) >>> 0, version },
  };
}

export interface ShareWork {
  coinbase: Buffer;
  merkleRoot: Buffer;
  header: Buffer;
}

export function buildShareWork(job: Pick<Job, 'coinb1' | 'coinb2' | 'merkleBranch' | 'prevHashInternal' | 'nbits'>, extranonce1: Buffer, share: ParsedShare): ShareWork {
  const coinbase = Buffer.concat([job.coinb1, extranonce1, share.extranonce2, job.coinb2]);
  const merkleRoot = merkleRootFromBranch(sha256d(coinbase), job.merkleBranch);
  const header = serializeHeader({
    version: share.version,
    prevHashInternal: job.prevHashInternal,
    merkleRootInternal: merkleRoot,
    ntime: share.ntime,
    nbits: job.nbits,
    nonce: share.nonce,
  });
  return { coinbase, merkleRoot, header };
}

export interface HashVerdict {
  hashValue: bigint;
  meetsShareTarget: boolean;
  meetsNetworkTarget: boolean;
}

/** Proof of work: the scrypt output read as a little-endian integer, compared with the targets. */
export function judgeHash(powHash: Buffer, shareTarget: bigint, networkTarget: bigint): HashVerdict {
  const hashValue = leToBigInt(powHash);
  return { hashValue, meetsShareTarget: hashValue <= shareTarget, meetsNetworkTarget: hashValue <= networkTarget };
}

/** The block to submit for a share that met the network target. */
export function blockForShare(job: Job, work: ShareWork): Buffer {
  const coinbase = job.template.default_witness_commitment ? withWitnessReservedValue(work.coinbase) : work.coinbase;
  return assembleBlock(work.header, coinbase, job.template);
}
