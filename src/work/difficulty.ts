/**
 * Difficulty and target math, exact in bigint.
 *
 * Stratum share difficulty for Scrypt uses diff1 = 0xffff * 2^224 (65536 times Bitcoin's diff1), the
 * convention of cpuminer and cgminer-derived ASIC firmware. litecoind's getdifficulty uses Bitcoin's diff1.
 */
export const SCRYPT_DIFF1 = 0xffffn << 224n;
export const BITCOIN_DIFF1 = 0xffffn << 208n;
/** Share difficulty = network (getdifficulty) difficulty × this factor: SCRYPT_DIFF1 / BITCOIN_DIFF1 = 65536. */
export const SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY = SCRYPT_DIFF1 / BITCOIN_DIFF1;

/**
 * Expected hashes for one share of (Scrypt-convention) difficulty 1. A share of difficulty D has target
 * diff1 / D, which a uniformly random 256-bit hash meets with probability (diff1 / D) / 2^256, so it takes
 * D · 2^256 / (0xffff · 2^224) = D · 2^32 / 0xffff ≈ D · 2^16 hashes.
 */
export const HASHES_PER_SHARE_DIFF1 = 2 ** 32 / 0xffff;

/** Expected hashes for one block at network (Bitcoin-convention) difficulty 1: 2^48 / 0xffff. */
export const HASHES_PER_NETWORK_DIFF1 = HASHES_PER_SHARE_DIFF1 * Number(SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY);
export const MAX_TARGET = (1n << 256n) - 1n;

/**
 * A difficulty as the exact fraction of its shortest decimal form: 0.001 is 1/1000, as the miner reads it
 * from the wire, not the nearest binary double.
 */
export function difficultyToFraction(difficulty: number): { numerator: bigint; denominator: bigint } {
  assertDifficulty(difficulty);
  const match = /^(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(difficulty));
  if (!match) throw new RangeError(`cannot read difficulty ${difficulty}`);
  const [, whole, fraction = '', exp = '0'] = match;
  const exponent = Number(exp) - fraction.length;
  const digits = BigInt(whole + fraction);
  return exponent >= 0
    ? { numerator: digits * 10n ** BigInt(exponent), denominator: 1n }
    : { numerator: digits, denominator: 10n ** BigInt(-exponent) };
}

function assertDifficulty(difficulty: number): void {
  if (typeof difficulty !== 'number' || !Number.isFinite(difficulty) || difficulty <= 0) {
    throw new RangeError(`difficulty must be a finite number above 0, got ${difficulty}`);
  }
}

/** floor(diff1 / difficulty), exact; capped at 2^256-1. */
export function difficultyToTarget(difficulty: number, diff1: bigint = SCRYPT_DIFF1): bigint {
  const { numerator, denominator } = difficultyToFraction(difficulty);
  const target = (diff1 * denominator) / numerator;
  return target > MAX_TARGET ? MAX_TARGET : target;
}

/** diff1 / target as a double (rounded, for display and vardiff). */
export function targetToDifficulty(target: bigint, diff1: bigint = SCRYPT_DIFF1): number {
  if (target <= 0n) throw new RangeError('target must be positive');
  const scale = 1n << 64n;
  const scaled = (diff1 * scale) / target;
  return Number(scaled) / Number(scale);
}

/** The difficulty a hash (as a little-endian integer) actually reached. */
export function hashDifficulty(hashValue: bigint, diff1: bigint = SCRYPT_DIFF1): number {
  return targetToDifficulty(hashValue === 0n ? 1n : hashValue, diff1);
}

/** Compact nBits ("1b47c7ea") to its 256-bit target. */
export function bitsToTarget(bits: string | number): bigint {
  const compact = typeof bits === 'string' ? parseInt(bits, 16) : bits;
  const exponent = compact >>> 24;
  const mantissa = BigInt(compact & 0x007fffff);
  if (compact & 0x00800000) throw new RangeError(`negative compact target ${bits}`);
  return exponent <= 3 ? mantissa >> BigInt(8 * (3 - exponent)) : mantissa << BigInt(8 * (exponent - 3));
}

/** Network difficulty as litecoind reports it (Bitcoin diff1). */
export function networkDifficultyFromBits(bits: string | number): number {
  return targetToDifficulty(bitsToTarget(bits), BITCOIN_DIFF1);
}
