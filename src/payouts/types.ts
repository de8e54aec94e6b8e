/**
 * Vocabulary of the reward split. Pure data: no I/O anywhere under src/payouts/schemes or split.ts.
 *
 * Units
 * - Money: litoshis (1 LTC = 100_000_000n), always bigint.
 * - Share weight: micro-difficulty, i.e. Scrypt stratum share difficulty × 1_000_000, as bigint.
 *   A share submitted at difficulty 0.001 weighs 1_000n; one at difficulty 65536 weighs 65_536_000_000n.
 *   Convert with `difficultyToWeight` (src/payouts/schemes/units.ts), once per share.
 */

/** Weight of one share at stratum difficulty 1 (Scrypt diff1 = 0xffff·2^224). */
export const WEIGHT_PER_DIFFICULTY = 1_000_000n;

export type SchemeName = 'pplns' | 'prop' | 'solo' | 'pps' | 'fpps';

export interface PayoutShare {
  address: string;
  /** Share difficulty in micro-difficulty units (see `difficultyToWeight`). Never negative. */
  weight: bigint;
  /** Informational only; ordering is by `seq`. */
  time?: Date;
  /** Monotonically increasing, unique position (e.g. the database id). Defines the share order. */
  seq: bigint;
}

export type CreditKind = 'miner' | 'fee';

export interface Credit {
  address: string;
  /** Litoshis, always > 0 (zero credits are omitted). */
  amount: bigint;
  kind: CreditKind;
}

export interface FeeRecipient {
  address: string;
  /** Relative share of the pool fee (any non-negative integer scale). */
  weight: bigint;
}

export interface FeeConfig {
  /** Pool fee in basis points, 0..10000 (150n = 1.5 %). Use `resolveFeeConfig` to build from a percentage. */
  bps: bigint;
  /** Who receives the fee; required (with total weight > 0) when the fee is non-zero. */
  recipients: readonly FeeRecipient[];
}

/** What a scheme needs to know about the block being paid. */
export interface BlockContext {
  /** Litoshis to distribute (the block's coinbase value). */
  reward: bigint;
  /** Address of the miner whose share found the block. */
  finder: string;
  fee: FeeConfig;
  /** seq of the block-finding share. It is the last share counted; later shares are ignored. */
  blockSeq: bigint;
  /** PROP: seq of the previous block's share; the round is (previousBlockSeq, blockSeq]. Absent/null = from the start. */
  previousBlockSeq?: bigint | null;
  /**
   * PPLNS: litecoind `getdifficulty` at the block (Bitcoin diff1). A decimal string (e.g. from a NUMERIC
   * column) is taken exactly; a number is taken as the decimal it prints as.
   */
  networkDifficulty?: number | string;
}

/** Which shares a scheme needs, so a store can load only those. */
export type ShareSelection =
  | { kind: 'none' }
  /** All shares with afterSeq < seq <= throughSeq (afterSeq null: no lower bound). */
  | { kind: 'range'; afterSeq: bigint | null; throughSeq: bigint }
  /** Newest shares with seq <= throughSeq, going back until their weight reaches `weight`. */
  | { kind: 'window'; throughSeq: bigint; weight: bigint };

export interface SplitResult {
  scheme: SchemeName;
  reward: bigint;
  /** floor(reward × bps / 10000), all of it credited to fee recipients. */
  feeAmount: bigint;
  /** reward − feeAmount, all of it credited to miners. */
  minerAmount: bigint;
  /** Sorted by address (UTF-16 code unit order), then kind ('fee' before 'miner'). Amounts > 0. */
  credits: Credit[];
  /** PPLNS: the window size N in micro-difficulty. null for schemes without a window. */
  windowWeight: bigint | null;
  /** Weight that actually counted (PPLNS: min(N, weight available)). */
  totalWeight: bigint;
  /** Shares that counted (for PPLNS the partially counted edge share included). */
  shareCount: number;
  /** Oldest and newest seq that counted; null when none did. */
  firstSeq: bigint | null;
  lastSeq: bigint | null;
  /** True when no share weight counted and the miners' part went to the finder instead. */
  finderFallback: boolean;
}

/** A payout scheme as an interchangeable strategy (Miningcore style). */
export interface RewardScheme {
  readonly name: SchemeName;
  sharesNeeded(block: BlockContext): ShareSelection;
  /** Pure and deterministic: the same block and the same set of shares (in any array order) give the same result. */
  split(block: BlockContext, shares: readonly PayoutShare[]): SplitResult;
}
