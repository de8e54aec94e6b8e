/**
 * The Stratum message rate limit: a token bucket, `ratePerSecond` sustained, bursts up to `capacity`, kept as one
 * integer (thousandths of a token) a session keeps in its own field: small integers stay unboxed, where a
 * fractional token count would cost a heap number per connection.
 */
export function refillMilliTokens(milliTokens: number, elapsedMs: number, ratePerSecond: number, capacity: number): number {
  return Math.min(capacity * 1000, Math.floor(milliTokens + elapsedMs * ratePerSecond));
}

export const MILLI_TOKEN = 1000;
