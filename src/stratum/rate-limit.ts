/** Token bucket: `ratePerSecond` sustained, bursts up to `capacity`. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly capacity: number,
    now = Date.now(),
  ) {
    this.tokens = capacity;
    this.updatedAt = now;
  }

  /** Takes one token; false when the bucket is empty (the message is over the limit). */
  take(now = Date.now()): boolean {
    const elapsed = Math.max(0, now - this.updatedAt) / 1000;
    this.updatedAt = now;
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.ratePerSecond);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * The bucket as one integer (thousandths of a token) a session keeps in its own field: small integers
 * stay unboxed, where a fractional token count would cost a heap number per connection.
 */
export function refillMilliTokens(milliTokens: number, elapsedMs: number, ratePerSecond: number, capacity: number): number {
  return Math.min(capacity * 1000, Math.floor(milliTokens + elapsedMs * ratePerSecond));
}

export const MILLI_TOKEN = 1000;
