/**
 * PPS and FPPS: every accepted share is worth its expected value at once, whatever the pool's luck. Pure.
 *
 * Expected value of one share (litoshis, exact rational):
 *
 *   value = blockReward × d / (D × 65536) × (10000 − feeBps) / 10000
 *
 * - d: the share's Stratum difficulty (Scrypt diff1 = 0xffff·2^224);
 * - D: the network difficulty of the job the share was made on, as litecoind reports it (Bitcoin diff1 =
 *   0xffff·2^208), so a block is worth D × 65536 share difficulty and a share is a block with probability
 *   d / (D × 65536);
 * - blockReward: PPS the block subsidy at the job's height; FPPS the subsidy plus the trailing average of the
 *   transaction fees of the blocks before that height (`trailingFeeAverage`).
 * d and D are taken as the decimals they print as (as everywhere in the payout code), so the value is exact.
 *
 * Rounding: each share's value is floored to 1/PPS_UNITS_PER_LITOSHI of a litoshi (10^-18); those units add up
 * per address, together with the address's carried remainder from earlier runs; whole litoshis are credited,
 * the rest is carried. So, over every run together, credited + carried <= the exact rational total, and each
 * address is short of it by less than one litoshi plus 10^-18 litoshi per share.
 */
import type { NetworkName } from '../../work/address.js';
import { SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY } from '../../work/difficulty.js';
import type { RewardScheme, SplitResult } from '../types.js';
import { parseDecimal } from './units.js';

export type PpsSchemeName = 'pps' | 'fpps';

/** Sub-litoshi units of the carried remainders: 10^18 per litoshi. */
export const PPS_UNITS_PER_LITOSHI = 10n ** 18n;

/** A non-negative exact fraction. */
export interface Fraction {
  num: bigint;
  den: bigint;
}

const COIN = 100_000_000n;
const INITIAL_SUBSIDY = 50n * COIN;

/** Blocks between subsidy halvings (litecoin chainparams: consensus.nSubsidyHalvingInterval). */
export const HALVING_INTERVAL: Readonly<Record<NetworkName, number>> = { mainnet: 840_000, testnet: 840_000, regtest: 150 };

/** GetBlockSubsidy: 50 LTC halved every `interval` blocks, 0 after 64 halvings. */
export function blockSubsidy(height: number, interval: number): bigint {
  if (!Number.isSafeInteger(height) || height < 0) throw new RangeError(`block height must be a whole number >= 0, got ${height}`);
  if (!Number.isSafeInteger(interval) || interval <= 0) throw new RangeError(`halving interval must be > 0, got ${interval}`);
  const halvings = Math.floor(height / interval);
  return halvings >= 64 ? 0n : INITIAL_SUBSIDY >> BigInt(halvings);
}

/** A decimal (JS number as it prints, or decimal text) as an exact fraction. */
export function decimalFraction(value: number | string, what: string): Fraction {
  const d = parseDecimal(value, what);
  return d.exponent >= 0
    ? { num: d.coefficient * 10n ** BigInt(d.exponent), den: 1n }
    : { num: d.coefficient, den: 10n ** BigInt(-d.exponent) };
}

/**
 * The average of the fees (litoshis) of the given blocks, exactly: sum / count. No blocks: 0.
 * FPPS uses the `window` blocks right below the job's height (see `feeWindow`).
 */
export function trailingFeeAverage(fees: readonly bigint[]): Fraction {
  if (fees.length === 0) return { num: 0n, den: 1n };
  let sum = 0n;
  for (const f of fees) {
    if (f < 0n) throw new RangeError(`block fee is negative: ${f}`);
    sum += f;
  }
  return { num: sum, den: BigInt(fees.length) };
}

/** Heights [height − window, height − 1] (those >= 0): the blocks whose fees FPPS averages for a job at `height`. */
export function feeWindow(height: number, window: number): { from: number; to: number } | null {
  if (!Number.isSafeInteger(window) || window < 1) throw new RangeError(`FPPS fee window must be >= 1 block, got ${window}`);
  const to = height - 1;
  const from = Math.max(0, height - window);
  return to < from ? null : { from, to };
}

/** What a block is expected to pay at `height`: the subsidy (PPS), plus the average fee (FPPS). */
export function expectedBlockReward(subsidy: bigint, averageFee: Fraction | null): Fraction {
  if (averageFee === null) return { num: subsidy, den: 1n };
  return { num: subsidy * averageFee.den + averageFee.num, den: averageFee.den };
}

export interface ShareValueInput {
  /** Stratum share difficulty. */
  difficulty: number | string;
  /** litecoind getdifficulty of the job's block (Bitcoin diff1). */
  networkDifficulty: number | string;
  /** Litoshis a block is expected to pay (see expectedBlockReward). */
  blockReward: Fraction;
  /** Pool fee, basis points (0..10000). */
  feeBps: bigint;
}

/** The exact expected value of one share, in litoshis, after the pool fee. */
export function shareValue(input: ShareValueInput): Fraction {
  if (input.feeBps < 0n || input.feeBps > 10_000n) throw new RangeError(`fee bps ${input.feeBps} outside 0..10000`);
  const d = decimalFraction(input.difficulty, 'share difficulty');
  const nd = decimalFraction(input.networkDifficulty, 'network difficulty');
  if (nd.num === 0n) throw new RangeError(`network difficulty must be > 0, got ${input.networkDifficulty}`);
  if (input.blockReward.den <= 0n || input.blockReward.num < 0n) throw new RangeError('block reward must be a fraction >= 0');
  return {
    num: input.blockReward.num * d.num * nd.den * (10_000n - input.feeBps),
    den: input.blockReward.den * d.den * nd.num * SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY * 10_000n,
  };
}

/** floor(value × PPS_UNITS_PER_LITOSHI). */
export function toUnits(value: Fraction): bigint {
  return (value.num * PPS_UNITS_PER_LITOSHI) / value.den;
}

export interface PpsShare {
  seq: bigint;
  address: string;
  difficulty: number;
  networkDifficulty: number;
  /** Height of the job's block. */
  height: number;
  /** Identical shares this entry stands for (same address, difficulties and height), default 1. */
  count?: bigint;
}

export interface PpsCreditInput {
  shares: readonly PpsShare[];
  feeBps: bigint;
  /** What a block at this height is expected to pay (subsidy, or subsidy + average fee). */
  blockReward: (height: number) => Fraction;
  /** Each address's carried remainder from earlier runs, in PPS units (< PPS_UNITS_PER_LITOSHI). */
  carry: ReadonlyMap<string, bigint>;
}

export interface PpsCreditResult {
  /** Whole litoshis per address (only > 0). */
  credits: Map<string, bigint>;
  /** The new carried remainder of every address that had shares or a carry (0 included), in PPS units. */
  carry: Map<string, bigint>;
  /** Sum of the floored share values of this run, in PPS units (the exact total minus < 1 unit per share). */
  totalUnits: bigint;
  /** Sum of the credits. */
  creditedLitoshis: bigint;
  shareCount: number;
  firstSeq: bigint | null;
  lastSeq: bigint | null;
}

/**
 * Credits a run of shares. Each share is counted once however often its (difficulty, network difficulty,
 * height) recurs; the array order does not matter.
 */
export function creditShares(input: PpsCreditInput): PpsCreditResult {
  const units = new Map<string, bigint>();
  const valueCache = new Map<string, bigint>();
  const rewardCache = new Map<number, Fraction>();
  let totalUnits = 0n;
  let firstSeq: bigint | null = null;
  let lastSeq: bigint | null = null;
  let shareCount = 0;
  for (const share of input.shares) {
    if (share.address === '') throw new RangeError(`share seq ${share.seq} has an empty address`);
    const key = `${share.difficulty}|${share.networkDifficulty}|${share.height}`;
    let value = valueCache.get(key);
    if (value === undefined) {
      let reward = rewardCache.get(share.height);
      if (reward === undefined) rewardCache.set(share.height, (reward = input.blockReward(share.height)));
      value = toUnits(shareValue({ difficulty: share.difficulty, networkDifficulty: share.networkDifficulty, blockReward: reward, feeBps: input.feeBps }));
      if (valueCache.size > 100_000) valueCache.clear();
      valueCache.set(key, value);
    }
    const n = share.count ?? 1n;
    if (n < 1n) throw new RangeError(`share seq ${share.seq}: count ${n} is not >= 1`);
    units.set(share.address, (units.get(share.address) ?? 0n) + value * n);
    totalUnits += value * n;
    shareCount += Number(n);
    if (firstSeq === null || share.seq < firstSeq) firstSeq = share.seq;
    if (lastSeq === null || share.seq > lastSeq) lastSeq = share.seq;
  }
  const credits = new Map<string, bigint>();
  const carry = new Map<string, bigint>();
  let creditedLitoshis = 0n;
  for (const address of new Set([...input.carry.keys(), ...units.keys()])) {
    const before = input.carry.get(address) ?? 0n;
    if (before < 0n || before >= PPS_UNITS_PER_LITOSHI) throw new RangeError(`carried remainder of ${address} is outside 0..10^18: ${before}`);
    const all = before + (units.get(address) ?? 0n);
    const whole = all / PPS_UNITS_PER_LITOSHI;
    if (whole > 0n) credits.set(address, whole);
    creditedLitoshis += whole;
    carry.set(address, all % PPS_UNITS_PER_LITOSHI);
  }
  return { credits, carry, totalUnits, creditedLitoshis, shareCount, firstSeq, lastSeq };
}

/**
 * The block side of PPS/FPPS: the miners were paid for their shares already, so a matured block credits no one;
 * its whole reward is the pool's (the unlocker records it in block_splits, and pool_ledger counts it).
 */
export function ppsBlockScheme(name: PpsSchemeName): RewardScheme {
  return {
    name,
    sharesNeeded: () => ({ kind: 'none' }),
    split: (block): SplitResult => ({
      scheme: name, reward: block.reward, feeAmount: 0n, minerAmount: 0n, credits: [], windowWeight: null, totalWeight: 0n,
      shareCount: 0, firstSeq: null, lastSeq: null, finderFallback: false,
    }),
  };
}

export const isPpsScheme = (name: string): name is PpsSchemeName => name === 'pps' || name === 'fpps';
