// Formatting shared by the dashboard and its browser test (the test formats the API's numbers with these and
// compares them with the page).

const UNITS = ['H/s', 'kH/s', 'MH/s', 'GH/s', 'TH/s', 'PH/s', 'EH/s'];

export function formatHashrate(hashesPerSecond: number): string {
  if (!Number.isFinite(hashesPerSecond) || hashesPerSecond <= 0) return '0 H/s';
  let value = hashesPerSecond;
  let unit = 0;
  while (value >= 1000 && unit < UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** Litoshis (decimal string, exact) as LTC with 8 decimals. */
/** An amount in 1e-8 units of a coin (litoshis for LTC, koinu for DOGE) with its unit. */
export function formatLtc(litoshis: string, unit = 'LTC'): string {
  const negative = litoshis.startsWith('-');
  const digits = (negative ? litoshis.slice(1) : litoshis).padStart(9, '0');
  const whole = digits.slice(0, -8).replace(/^0+(?=\d)/, '');
  return `${negative ? '-' : ''}${whole}.${digits.slice(-8)} ${unit}`;
}

export function formatPercent(ratio: number | null): string {
  return ratio === null || !Number.isFinite(ratio) ? '—' : `${(ratio * 100).toFixed(1)} %`;
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toPrecision(4);
}

export function formatAgo(iso: string | null, now = Date.now()): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

export function shortHash(hash: string): string {
  return hash.length > 20 ? `${hash.slice(0, 10)}…${hash.slice(-8)}` : hash;
}

/** "1.5" (LTC, up to 8 decimals) as litoshis, exact; null when not such a number. */
export function parseLtc(text: string): string | null {
  const m = /^\s*(\d{1,11})(?:\.(\d{0,8}))?\s*$/.exec(text);
  if (!m) return null;
  const litoshis = BigInt(m[1]) * 100_000_000n + BigInt((m[2] ?? '').padEnd(8, '0') || '0');
  return litoshis.toString();
}
