/**
 * Exact conversions from configuration/wire numbers to the integer units of the split.
 *
 * A JS number is taken as the decimal it prints as (`String(x)`, the shortest round-trip form), so
 * 0.001 means exactly 1/1000 and 0.1 means exactly 1/10, never the binary approximation. Each value is
 * converted once and rounded once (half up), never accumulated as a float.
 */
import { SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY } from '../../work/difficulty.js';
import {
  WEIGHT_PER_DIFFICULTY,
  type FeeConfig,
  type FeeRecipient,
} from '../types.js';

/** value = coefficient × 10^exponent, coefficient >= 0. */
interface Decimal {
  coefficient: bigint;
  exponent: number;
}

const DECIMAL_TEXT = /^(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const MAX_EXPONENT = 400;

export function parseDecimal(value: number | string, what: string): Decimal {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what}: ${value} is not a finite number >= 0`);
    text = String(value);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw new TypeError(`${what}: expected a number or a decimal string, got ${typeof value}`);
  }
  const m = DECIMAL_TEXT.exec(text);
  if (!m) throw new RangeError(`${what}: ${JSON.stringify(value)} is not a non-negative decimal`);
  const intPart = m[1] ?? '';
  const fracPart = m[2] ?? m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > MAX_EXPONENT) throw new RangeError(`${what}: exponent out of range in ${JSON.stringify(value)}`);
  return { coefficient: BigInt(intPart + fracPart || '0'), exponent: exp - fracPart.length };
}

const pow10 = (n: number): bigint => 10n ** BigInt(n);

/** round(d × 10^scale) half up. */
function scaleHalfUp(d: Decimal, scale: number): bigint {
  const e = d.exponent + scale;
  if (e >= 0) return d.coefficient * pow10(e);
  const divisor = pow10(-e);
  const q = d.coefficient / divisor;
  return 2n * (d.coefficient % divisor) >= divisor ? q + 1n : q;
}

/** d × 10^scale when that is an integer, else null. */
function scaleExact(d: Decimal, scale: number): bigint | null {
  const e = d.exponent + scale;
  if (e >= 0) return d.coefficient * pow10(e);
  const divisor = pow10(-e);
  return d.coefficient % divisor === 0n ? d.coefficient / divisor : null;
}

const WEIGHT_DECIMALS = 6; // WEIGHT_PER_DIFFICULTY = 10^6

/**
 * Share difficulty → weight in micro-difficulty: round(diff × 1e6), half up, computed on the decimal the
 * number prints as (so 1.0000005 → 1000001n, where float math would give 1000000).
 * Difficulties below 0.0000005 weigh 0n. Throws RangeError for NaN, ±Infinity and negatives.
 */
export function difficultyToWeight(diff: number): bigint {
  if (Number.isSafeInteger(diff) && diff >= 0) return BigInt(diff) * WEIGHT_PER_DIFFICULTY;
  return scaleHalfUp(parseDecimal(diff, 'share difficulty'), WEIGHT_DECIMALS);
}

/**
 * Network difficulty (litecoind getdifficulty, Bitcoin diff1) → its worth in share weight:
 * round(D × 65536 × 1e6). See SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY.
 */
export function networkDifficultyToWeight(networkDifficulty: number | string): bigint {
  return pplnsWindowWeight(networkDifficulty, 1);
}

/**
 * PPLNS window N in micro-difficulty: round(windowFactor × networkDifficulty × 65536 × 1e6), one rounding
 * (half up) on the exact product. Throws when the result is not > 0.
 */
export function pplnsWindowWeight(networkDifficulty: number | string, windowFactor: number | string): bigint {
  const d = parseDecimal(networkDifficulty, 'network difficulty');
  const f = parseDecimal(windowFactor, 'PPLNS window factor');
  const product: Decimal = {
    coefficient: d.coefficient * f.coefficient * SHARE_DIFFICULTY_PER_NETWORK_DIFFICULTY,
    exponent: d.exponent + f.exponent,
  };
  const weight = scaleHalfUp(product, WEIGHT_DECIMALS);
  if (weight <= 0n) {
    throw new RangeError(`PPLNS window is empty (network difficulty ${networkDifficulty} × factor ${windowFactor})`);
  }
  return weight;
}

/** Fee percentage → basis points, exactly: 1.5 or "1.5" → 150n. Throws unless a whole number of bps in 0..10000. */
export function feePercentToBps(percent: number | string): bigint {
  const bps = scaleExact(parseDecimal(percent, 'fee percent'), 2);
  if (bps === null) throw new RangeError(`fee percent ${JSON.stringify(percent)} is not a whole number of basis points (0.01 %)`);
  if (bps > 10_000n) throw new RangeError(`fee percent ${JSON.stringify(percent)} is above 100`);
  return bps;
}

export interface FeeSettings {
  /** Either feePercent (number or decimal string) or feeBps, not both. Neither = no fee. */
  feePercent?: number | string;
  feeBps?: number | bigint;
  /** weight defaults to 1. */
  recipients?: ReadonlyArray<{ address: string; weight?: number | bigint }>;
}

/** Validates fee settings and returns the exact FeeConfig the schemes take. Errors name the field. */
export function resolveFeeConfig(settings: FeeSettings): FeeConfig {
  if (settings.feePercent !== undefined && settings.feeBps !== undefined) {
    throw new RangeError('fee: give feePercent or feeBps, not both');
  }
  let bps = 0n;
  if (settings.feePercent !== undefined) bps = feePercentToBps(settings.feePercent);
  if (settings.feeBps !== undefined) {
    const raw = settings.feeBps;
    if (typeof raw === 'number' && !Number.isSafeInteger(raw)) throw new RangeError(`feeBps: ${raw} is not an integer`);
    bps = BigInt(raw);
    if (bps < 0n || bps > 10_000n) throw new RangeError(`feeBps: ${raw} is outside 0..10000`);
  }
  const recipients: FeeRecipient[] = (settings.recipients ?? []).map((r, i) => {
    if (typeof r.address !== 'string' || r.address === '') throw new RangeError(`fee recipients[${i}].address: empty`);
    const raw = r.weight ?? 1;
    if (typeof raw === 'number' && !Number.isSafeInteger(raw)) throw new RangeError(`fee recipients[${i}].weight: ${raw} is not an integer`);
    const weight = BigInt(raw);
    if (weight < 0n) throw new RangeError(`fee recipients[${i}].weight: negative`);
    return { address: r.address, weight };
  });
  if (bps > 0n && !recipients.some((r) => r.weight > 0n)) {
    throw new RangeError('fee recipients: a non-zero fee needs at least one recipient with weight > 0');
  }
  return { bps, recipients };
}
