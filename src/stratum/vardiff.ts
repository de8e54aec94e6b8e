export interface VardiffOptions {
  targetSeconds: number;
  retargetSeconds: number;
  variancePercent: number;
  minDifficulty: number;
  maxDifficulty: number;
  idleSeconds: number;
}

/** Largest change of difficulty in one retarget, either way. */
const MAX_STEP = 4;

/**
 * Per-connection variable difficulty: aims at one share per targetSeconds. Pure: the caller feeds it
 * times and applies what it returns.
 */
export class Vardiff {
  private windowStart: number;
  private sharesInWindow = 0;
  private lastShareAt: number;
  private lastIdleCutAt = 0;

  constructor(private readonly options: VardiffOptions, now: number) {
    this.windowStart = now;
    this.lastShareAt = now;
  }

  clamp(difficulty: number): number {
    return Math.min(this.options.maxDifficulty, Math.max(this.options.minDifficulty, difficulty));
  }

  /** Records an accepted share; returns a new difficulty when a retarget is due and needed. */
  onShare(now: number, current: number): number | undefined {
    this.sharesInWindow++;
    this.lastShareAt = now;
    const elapsed = (now - this.windowStart) / 1000;
    const enoughShares = this.sharesInWindow >= Math.max(4, Math.ceil(this.options.retargetSeconds / this.options.targetSeconds));
    if (elapsed < this.options.retargetSeconds && !(enoughShares && elapsed >= this.options.targetSeconds)) return undefined;
    const observed = elapsed / this.sharesInWindow;
    this.windowStart = now;
    this.sharesInWindow = 0;
    return this.retarget(current, observed);
  }

  /** Called periodically: a miner silent past idleSeconds gets an easier difficulty. */
  onTick(now: number, current: number): number | undefined {
    const silentFor = (now - Math.max(this.lastShareAt, this.lastIdleCutAt)) / 1000;
    if (silentFor < this.options.idleSeconds) return undefined;
    this.lastIdleCutAt = now;
    this.windowStart = now;
    this.sharesInWindow = 0;
    const next = this.clamp(current / 2);
    return next < current ? next : undefined;
  }

  private retarget(current: number, observedSeconds: number): number | undefined {
    const ratio = this.options.targetSeconds / observedSeconds;
    const variance = this.options.variancePercent / 100;
    if (ratio > 1 - variance && ratio < 1 + variance) return undefined;
    const step = Math.min(MAX_STEP, Math.max(1 / MAX_STEP, ratio));
    const next = this.clamp(roundDifficulty(current * step));
    return next !== current ? next : undefined;
  }
}

/** Keeps difficulties short on the wire: 4 significant digits. */
export function roundDifficulty(difficulty: number): number {
  if (difficulty >= 1) return Math.round(Number(difficulty.toPrecision(4)));
  return Number(difficulty.toPrecision(4));
}
