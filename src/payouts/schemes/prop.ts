/**
 * PROP: every share of the round (afterSeq < seq <= blockSeq, i.e. since the previous block's share) counts
 * with its full weight.
 */
import { splitReward } from '../split.js';
import type { FeeConfig, PayoutShare, RewardScheme, SplitResult } from '../types.js';

export interface PropInput {
  reward: bigint;
  fee: FeeConfig;
  finder: string;
  shares: readonly PayoutShare[];
  blockSeq: bigint;
  /** seq of the previous block's share (exclusive); null/undefined = no lower bound. */
  previousBlockSeq?: bigint | null;
}

export function splitProp(input: PropInput): SplitResult {
  const after = input.previousBlockSeq ?? null;
  const weights = new Map<string, bigint>();
  let shareCount = 0;
  let firstSeq: bigint | null = null;
  let lastSeq: bigint | null = null;
  for (const share of input.shares) {
    if (share.seq > input.blockSeq || (after !== null && share.seq <= after)) continue;
    const w = share.weight;
    if (w < 0n) throw new RangeError(`share seq ${share.seq} has negative weight ${w}`);
    if (w === 0n) continue;
    if (share.address === '') throw new RangeError(`share seq ${share.seq} has an empty address`);
    const prev = weights.get(share.address);
    weights.set(share.address, prev === undefined ? w : prev + w);
    shareCount++;
    if (firstSeq === null || share.seq < firstSeq) firstSeq = share.seq;
    if (lastSeq === null || share.seq > lastSeq) lastSeq = share.seq;
  }
  return splitReward({
    scheme: 'prop',
    reward: input.reward,
    fee: input.fee,
    finder: input.finder,
    minerWeights: weights,
    windowWeight: null,
    shareCount,
    firstSeq,
    lastSeq,
  });
}

export const propScheme: RewardScheme = {
  name: 'prop',
  sharesNeeded: (block) => ({ kind: 'range', afterSeq: block.previousBlockSeq ?? null, throughSeq: block.blockSeq }),
  split: (block, shares) => splitProp({ ...block, shares }),
};
