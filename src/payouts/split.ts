/**
 * Deterministic, exact division of a block reward. Pure.
 *
 * Rounding rule (the same for miners and for fee recipients):
 *   1. each address gets floor(amount × weight / totalWeight);
 *   2. the litoshis left over (fewer than the number of addresses) go one each to the addresses with the
 *      largest fractional remainder (amount × weight mod totalWeight);
 *   3. equal remainders: the address that sorts first (plain UTF-16 code unit order, `<`, not locale) wins.
 * The fee is floor(reward × bps / 10000); the miners get the rest. So
 *   sum(miner credits) + sum(fee credits) == reward, exactly, every time.
 */
import type { Credit, CreditKind, FeeConfig, SchemeName, SplitResult } from './types.js';

const compareAddress = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Splits `amount` by `weights` (address → weight) with the largest-remainder rule above.
 * Addresses with zero weight (or zero result) are absent from the returned map. Throws when the total weight is 0
 * and amount > 0, or on negative inputs.
 */
export function splitProportionally(amount: bigint, weights: ReadonlyMap<string, bigint>): Map<string, bigint> {
  if (amount < 0n) throw new RangeError(`amount to split is negative: ${amount}`);
  let total = 0n;
  for (const [address, w] of weights) {
    if (w < 0n) throw new RangeError(`negative weight for ${address}`);
    total += w;
  }
  const out = new Map<string, bigint>();
  if (amount === 0n) return out;
  if (total === 0n) throw new RangeError('cannot split a non-zero amount over zero total weight');

  const remainders: Array<{ address: string; rem: bigint }> = [];
  let distributed = 0n;
  for (const [address, w] of weights) {
    if (w === 0n) continue;
    const scaled = amount * w;
    const q = scaled / total;
    const rem = scaled % total;
    if (q > 0n) out.set(address, q);
    distributed += q;
    if (rem > 0n) remainders.push({ address, rem });
  }
  const left = Number(amount - distributed); // < remainders.length <= weights.size
  if (left > 0) {
    remainders.sort((a, b) => (a.rem > b.rem ? -1 : a.rem < b.rem ? 1 : compareAddress(a.address, b.address)));
    for (let i = 0; i < left; i++) {
      const { address } = remainders[i];
      out.set(address, (out.get(address) ?? 0n) + 1n);
    }
  }
  return out;
}

/** floor(reward × bps / 10000). */
export function feeAmount(reward: bigint, bps: bigint): bigint {
  if (bps < 0n || bps > 10_000n) throw new RangeError(`fee bps ${bps} outside 0..10000`);
  return (reward * bps) / 10_000n;
}

export interface SplitRewardInput {
  scheme: SchemeName;
  reward: bigint;
  fee: FeeConfig;
  finder: string;
  /** Address → counted weight, already aggregated. Empty or all-zero: the miners' part goes to the finder. */
  minerWeights: ReadonlyMap<string, bigint>;
  windowWeight: bigint | null;
  shareCount: number;
  firstSeq: bigint | null;
  lastSeq: bigint | null;
}

/** Takes the fee, splits both parts and assembles the sorted result. */
export function splitReward(input: SplitRewardInput): SplitResult {
  const { reward, fee, finder } = input;
  if (reward < 0n) throw new RangeError(`reward is negative: ${reward}`);
  if (finder === '') throw new RangeError('finder address is empty');

  const feeTotal = feeAmount(reward, fee.bps);
  const minerTotal = reward - feeTotal;

  const feeWeights = new Map<string, bigint>();
  for (const r of fee.recipients) feeWeights.set(r.address, (feeWeights.get(r.address) ?? 0n) + r.weight);
  if (feeTotal > 0n && sumValues(feeWeights) === 0n) {
    throw new RangeError('fee is non-zero but no fee recipient has weight > 0');
  }

  const totalWeight = sumValues(input.minerWeights);
  const finderFallback = totalWeight === 0n;
  const minerWeights = finderFallback ? new Map([[finder, 1n]]) : input.minerWeights;

  const credits: Credit[] = [];
  const push = (parts: Map<string, bigint>, kind: CreditKind): void => {
    for (const [address, amount] of parts) if (amount > 0n) credits.push({ address, amount, kind });
  };
  push(splitProportionally(feeTotal, feeWeights), 'fee');
  push(splitProportionally(minerTotal, minerWeights), 'miner');
  credits.sort((a, b) => compareAddress(a.address, b.address) || compareAddress(a.kind, b.kind));

  return {
    scheme: input.scheme,
    reward,
    feeAmount: feeTotal,
    minerAmount: minerTotal,
    credits,
    windowWeight: input.windowWeight,
    totalWeight,
    shareCount: input.shareCount,
    firstSeq: input.firstSeq,
    lastSeq: input.lastSeq,
    finderFallback,
  };
}

function sumValues(m: ReadonlyMap<string, bigint>): bigint {
  let s = 0n;
  for (const v of m.values()) s += v;
  return s;
}
