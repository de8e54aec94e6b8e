/** SOLO: the finder takes the whole reward less the pool fee; shares do not matter. */
import { splitReward } from '../split.js';
import type { FeeConfig, RewardScheme, SplitResult } from '../types.js';

export interface SoloInput {
  reward: bigint;
  fee: FeeConfig;
  finder: string;
}

export function splitSolo(input: SoloInput): SplitResult {
  return splitReward({
    scheme: 'solo',
    reward: input.reward,
    fee: input.fee,
    finder: input.finder,
    minerWeights: new Map([[input.finder, 1n]]),
    windowWeight: null,
    shareCount: 0,
    firstSeq: null,
    lastSeq: null,
  });
}

export const soloScheme: RewardScheme = {
  name: 'solo',
  sharesNeeded: () => ({ kind: 'none' }),
  split: (block) => splitSolo(block),
};
