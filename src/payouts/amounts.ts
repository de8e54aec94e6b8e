/** Exact conversions between litoshis (bigint) and the LTC amounts litecoind's JSON-RPC speaks. */

export const LITOSHIS_PER_LTC = 100_000_000n;

/**
 * 123456789n → "1.23456789". litecoind accepts amounts as strings (AmountFromValue), so sending the decimal
 * text avoids any float rounding on the way out.
 */
export function litoshisToLtc(litoshis: bigint): string {
  const negative = litoshis < 0n;
  const abs = negative ? -litoshis : litoshis;
  const whole = abs / LITOSHIS_PER_LTC;
  const frac = (abs % LITOSHIS_PER_LTC).toString().padStart(8, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

const AMOUNT = /^(-)?(\d+)(?:\.(\d{1,8}))?$/;

/**
 * An amount as litecoind returns it (a JSON number with at most 8 decimals, or its text) → litoshis.
 * A number is read as the shortest decimal that round-trips (String(n)), which is the decimal litecoind printed
 * whenever it has at most 15 significant digits, i.e. any amount below 10,000,000 LTC.
 */
export function ltcToLitoshis(amount: number | string): bigint {
  let text: string;
  if (typeof amount === 'number') {
    if (!Number.isFinite(amount)) throw new RangeError(`amount ${amount} is not finite`);
    text = String(amount);
    if (/e/i.test(text)) text = amount.toFixed(8); // tiny amounts print as 1e-8
  } else {
    text = amount.trim();
  }
  const m = AMOUNT.exec(text);
  if (!m) throw new RangeError(`amount ${JSON.stringify(amount)} is not a decimal with at most 8 places`);
  const value = BigInt(m[2]) * LITOSHIS_PER_LTC + BigInt((m[3] ?? '').padEnd(8, '0'));
  return m[1] ? -value : value;
}
