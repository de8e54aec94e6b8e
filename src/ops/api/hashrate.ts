import { HASHES_PER_NETWORK_DIFF1, HASHES_PER_SHARE_DIFF1 } from '../../work/difficulty.js';

/**
 * Hashrate estimates from share difficulty.
 *
 * Scrypt pools use diff1 = 0xffff · 2^224 (DESIGN.md). A share of difficulty D has target diff1 / D, and a
 * uniformly random 256-bit hash meets it with probability (diff1 / D) / 2^256, so the expected number of
 * hashes per share is
 *
 *     H(D) = D · 2^256 / (0xffff · 2^224) = D · 2^32 / 0xffff ≈ D · 65537.00002 ≈ D · 2^16.
 *
 * Over a window of W seconds, hashrate = Σ D_i · 2^32 / 0xffff / W (hashes per second).
 *
 * litecoind's network difficulty uses Bitcoin's diff1 = 0xffff · 2^208, so one network block takes
 * difficulty · 2^48 / 0xffff ≈ difficulty · 2^32 hashes; at Litecoin's 150 s target spacing the network
 * hashrate is difficulty · 2^48 / 0xffff / 150.
 */

export const LITECOIN_BLOCK_SPACING_SECONDS = 150;

/** Hashes per second implied by the accepted share difficulty summed over a window of `windowSeconds`. */
export function hashrateFromDifficulty(difficultySum: number, windowSeconds: number): number {
  if (!Number.isFinite(difficultySum) || difficultySum < 0) throw new RangeError(`difficulty sum must be a finite number >= 0, got ${difficultySum}`);
  if (!Number.isFinite(windowSeconds) || windowSeconds <= 0) throw new RangeError(`window must be > 0 seconds, got ${windowSeconds}`);
  return (difficultySum * HASHES_PER_SHARE_DIFF1) / windowSeconds;
}

/** Network hashes per second implied by litecoind's difficulty (Bitcoin diff1) and the block spacing. */
export function networkHashrate(networkDifficulty: number, blockSpacingSeconds = LITECOIN_BLOCK_SPACING_SECONDS): number {
  if (!Number.isFinite(networkDifficulty) || networkDifficulty < 0) throw new RangeError(`network difficulty must be >= 0, got ${networkDifficulty}`);
  if (!Number.isFinite(blockSpacingSeconds) || blockSpacingSeconds <= 0) throw new RangeError(`block spacing must be > 0, got ${blockSpacingSeconds}`);
  return (networkDifficulty * HASHES_PER_NETWORK_DIFF1) / blockSpacingSeconds;
}

/** Expected seconds for the pool to find a block at `poolHashrate` (Infinity when the pool has no hashrate). */
export function expectedSecondsPerBlock(networkDifficulty: number, poolHashrate: number): number {
  if (!(poolHashrate > 0)) return Infinity;
  return (networkDifficulty * HASHES_PER_NETWORK_DIFF1) / poolHashrate;
}

/** A worker's window is never shorter than this: one share a second after the first is not a hashrate yet. */
export const MIN_OBSERVED_SECONDS = 30;

/**
 * The seconds a hashrate is averaged over: the configured window, or less when the shares in it were observed
 * for less time (a miner that started a minute ago has one minute of shares, not ten). Dividing by the whole
 * window made a new miner read 10x too low for its first minute.
 */
export function effectiveWindowSeconds(windowSeconds: number, observedSeconds: number, minSeconds = MIN_OBSERVED_SECONDS): number {
  if (!Number.isFinite(observedSeconds)) return windowSeconds;
  return Math.min(windowSeconds, Math.max(observedSeconds, Math.min(minSeconds, windowSeconds)));
}

/**
 * Accepted share difficulty in one-second buckets, for the pool's hashrate over a trailing window. Before the
 * window has passed since start, the hashrate is over the time since start (no shares can be older).
 */
export class HashrateWindow {
  private readonly buckets: Array<{ at: number; difficulty: number }> = [];
  private readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  record(difficulty: number): void {
    const now = this.now();
    const last = this.buckets[this.buckets.length - 1];
    // One bucket per second keeps this small at thousands of shares per second.
    if (last && now - last.at < 1000) last.difficulty += difficulty;
    else this.buckets.push({ at: now, difficulty });
  }

  /** Hashes per second over the last `windowSeconds`, or over the time since start when that is shorter. */
  hashrate(windowSeconds: number): number {
    const now = this.now();
    const since = now - windowSeconds * 1000;
    while (this.buckets.length > 0 && this.buckets[0].at < since - 3_600_000) this.buckets.shift();
    let sum = 0;
    for (const entry of this.buckets) if (entry.at > since) sum += entry.difficulty; // (now - window, now]
    const seconds = Math.min(windowSeconds, Math.max(1, (now - this.startedAt) / 1000));
    return hashrateFromDifficulty(sum, seconds);
  }
}
