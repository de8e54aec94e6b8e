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
 * Vardiff state as plain numbers, so a session can carry it in its own fields instead of one more
 * object per connection. All times in one clock (ms).
 */
export interface VardiffState {
  vdWindowStart: number;
  vdShares: number;
  vdLastShareAt: number;
  vdIdleCutAt: number;
}

export function clampDifficulty(options: VardiffOptions, difficulty: number): number {
  return Math.min(options.maxDifficulty, Math.max(options.minDifficulty, difficulty));
}

/** Records an accepted share; returns a new difficulty when a retarget is due and needed. */
export function vardiffOnShare(state: VardiffState, options: VardiffOptions, now: number, current: number): number | undefined {
  state.vdShares++;
  state.vdLastShareAt = now;
  const elapsed = (now - state.vdWindowStart) / 1000;
  const enoughShares = state.vdShares >= Math.max(4, Math.ceil(options.retargetSeconds / options.targetSeconds));
  if (elapsed < options.retargetSeconds && !(enoughShares && elapsed >= options.targetSeconds)) return undefined;
  const observed = elapsed / state.vdShares;
  state.vdWindowStart = now;
  state.vdShares = 0;
  return retarget(options, current, observed);
}

/** Called periodically: a miner silent past idleSeconds gets an easier difficulty. */
export function vardiffOnTick(state: VardiffState, options: VardiffOptions, now: number, current: number): number | undefined {
  const silentFor = (now - Math.max(state.vdLastShareAt, state.vdIdleCutAt)) / 1000;
  if (silentFor < options.idleSeconds) return undefined;
  state.vdIdleCutAt = now;
  state.vdWindowStart = now;
  state.vdShares = 0;
  const next = clampDifficulty(options, current / 2);
  return next < current ? next : undefined;
}

function retarget(options: VardiffOptions, current: number, observedSeconds: number): number | undefined {
  const ratio = options.targetSeconds / observedSeconds;
  const variance = options.variancePercent / 100;
  if (ratio > 1 - variance && ratio < 1 + variance) return undefined;
  const step = Math.min(MAX_STEP, Math.max(1 / MAX_STEP, ratio));
  const next = clampDifficulty(options, roundDifficulty(current * step));
  return next !== current ? next : undefined;
}

/**
 * Per-connection variable difficulty: aims at one share per targetSeconds. Pure: the caller feeds it
 * times and applies what it returns. (Sessions use the functions above on their own fields.)
 */
export class Vardiff implements VardiffState {
  vdWindowStart: number;
  vdShares = 0;
  vdLastShareAt: number;
  vdIdleCutAt = 0;

  constructor(private readonly options: VardiffOptions, now: number) {
    this.vdWindowStart = now;
    this.vdLastShareAt = now;
  }

  clamp(difficulty: number): number {
    return clampDifficulty(this.options, difficulty);
  }

  onShare(now: number, current: number): number | undefined {
    return vardiffOnShare(this, this.options, now, current);
  }

  onTick(now: number, current: number): number | undefined {
    return vardiffOnTick(this, this.options, now, current);
  }
}

/** Keeps difficulties short on the wire: 4 significant digits. */
export function roundDifficulty(difficulty: number): number {
  if (difficulty >= 1) return Math.round(Number(difficulty.toPrecision(4)));
  return Number(difficulty.toPrecision(4));
}
