import { isIP } from 'node:net';

/**
 * Notification targets miners set (webhook and ntfy URLs). The pool sends HTTP requests to them, so by default a
 * URL naming this host or a private network (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, ::1, fc00::/7,
 * fe80::/10, localhost) is refused: a miner must not make the pool call its own internal services.
 * alerts.allowPrivateTargets lifts that (tests, a pool on a LAN).
 */

export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function isPrivateAddress(host: string): boolean {
  const h = normalizeIp(host.replace(/^\[|\]$/g, '').toLowerCase());
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const kind = isIP(h);
  if (kind === 4) {
    const [a, b] = h.split('.').map(Number);
    return a === 127 || a === 10 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  if (kind === 6) return h === '::1' || h === '::' || /^f[cd]/.test(h) || /^fe[89ab]/.test(h);
  return false;
}

/** Throws an Error saying what is wrong with `url` as a notification target. */
export function checkTargetUrl(url: string, allowPrivate: boolean): void {
  if (url.length > 500) throw new Error('URL longer than 500 characters');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${url}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`only http and https URLs, got ${parsed.protocol}`);
  if (!allowPrivate && isPrivateAddress(parsed.hostname)) throw new Error(`${parsed.hostname} is a local or private address`);
}
