import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Counter, Gauge } from 'prom-client';

/** Points each kind of misbehaviour adds to an IP's score. Rejected shares add nothing (see Session). */
export const BAN_WEIGHTS = {
  malformed: 1,
  'line-too-long': 20,
  flood: 1,
  'bad-proxy-header': 5,
} as const;

export type Offence = keyof typeof BAN_WEIGHTS;

export interface BanOptions {
  enabled: boolean;
  threshold: number;
  banSeconds: number;
  /** The score halves every this many seconds, so occasional mistakes never add up to a ban. */
  scoreHalfLifeSeconds: number;
  /** IPs and CIDRs (IPv4 and IPv6) that are never banned: trusted proxies, farms behind one NAT. */
  allowList: string[];
  /** Bound on IPs tracked at once (scores and bans), so a botnet can't grow this without limit. */
  maxTrackedIps?: number;
  logger?: Logger;
  metrics?: { bansTotal: Counter; bannedIps: Gauge };
  now?: () => number;
}

/** Strips the IPv4-mapped IPv6 prefix (::ffff:1.2.3.4). */
export function normalizeIp(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

/** An allow-list of IPs and CIDRs; throws with the offending entry when one is not an address. */
export function buildAllowList(entries: string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const address = normalizeIp(slash === -1 ? entry : entry.slice(0, slash));
    const family = isIP(address);
    if (family === 0) throw new Error(`allow-list entry "${raw}" is not an IP address or CIDR`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) {
      list.addAddress(address, type);
      continue;
    }
    const prefixText = entry.slice(slash + 1);
    const prefix = Number(prefixText);
    if (!/^\d{1,3}$/.test(prefixText) || prefix > (family === 4 ? 32 : 128)) throw new Error(`allow-list entry "${raw}" has a bad prefix length`);
    list.addSubnet(address, prefix, type);
  }
  return list;
}

export function isValidAllowEntry(entry: string): boolean {
  try {
    buildAllowList([entry]);
    return true;
  } catch {
    return false;
  }
}

interface Score {
  value: number;
  at: number;
}

/**
 * Per-IP misbehaviour score with exponential decay; past the threshold the IP is banned for a while.
 * Emits nothing itself: `onBan` is how the server closes the banned IP's sessions.
 */
export class BanList {
  private readonly scores = new Map<string, Score>();
  private readonly bans = new Map<string, number>();
  private readonly allow: BlockList;
  private readonly now: () => number;
  private readonly maxTracked: number;
  /** A new ban: made here (`reason` the offence) or by another instance ('shared'). */
  onBan: (ip: string, reason: Offence | 'shared') => void = () => undefined;

  constructor(private readonly options: BanOptions) {
    this.allow = buildAllowList(options.allowList);
    this.now = options.now ?? Date.now;
    this.maxTracked = options.maxTrackedIps ?? 100_000;
  }

  isAllowed(ip: string): boolean {
    const address = normalizeIp(ip);
    const family = isIP(address);
    if (family === 0) return false;
    return this.allow.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  isBanned(ip: string): boolean {
    const until = this.bans.get(normalizeIp(ip));
    if (until === undefined) return false;
    if (this.now() < until) return true;
    this.bans.delete(normalizeIp(ip));
    this.options.metrics?.bannedIps.set(this.bans.size);
    return false;
  }

  /** Current (decayed) score of an IP. */
  score(ip: string): number {
    const entry = this.scores.get(normalizeIp(ip));
    return entry ? this.decayed(entry, this.now()) : 0;
  }

  get banSeconds(): number {
    return this.options.banSeconds;
  }

  get bannedCount(): number {
    return this.bans.size;
  }

  /** Adds the offence's points; returns true when this pushed the IP over the threshold (a new ban). */
  record(ip: string, offence: Offence, times = 1): boolean {
    if (!this.options.enabled) return false;
    const address = normalizeIp(ip);
    if (this.isAllowed(address) || this.isBanned(address)) return false;
    const now = this.now();
    const entry = this.scores.get(address);
    const value = (entry ? this.decayed(entry, now) : 0) + BAN_WEIGHTS[offence] * times;
    if (value < this.options.threshold) {
      if (!entry && this.scores.size >= this.maxTracked) this.evictOldestScore();
      this.scores.set(address, { value, at: now });
      return false;
    }
    this.scores.delete(address);
    if (this.bans.size >= this.maxTracked) this.bans.delete(this.bans.keys().next().value as string);
    this.bans.set(address, now + this.options.banSeconds * 1000);
    this.options.metrics?.bansTotal.inc();
    this.options.metrics?.bannedIps.set(this.bans.size);
    this.options.logger?.warn({ ip: address, reason: offence, score: Math.round(value), banSeconds: this.options.banSeconds }, 'IP banned');
    this.onBan(address, offence);
    return true;
  }

  /**
   * A ban made elsewhere (another instance, or the shared table at start): the IP is refused for `seconds` more.
   * The allow-list still wins; a longer ban already in place stays. Returns true when it banned (or extended).
   */
  impose(ip: string, seconds: number): boolean {
    if (!this.options.enabled || !(seconds > 0)) return false;
    const address = normalizeIp(ip);
    if (this.isAllowed(address)) return false;
    const until = this.now() + seconds * 1000;
    const current = this.bans.get(address);
    if (current !== undefined && current >= until) return false;
    if (current === undefined && this.bans.size >= this.maxTracked) this.bans.delete(this.bans.keys().next().value as string);
    this.bans.set(address, until);
    this.scores.delete(address);
    this.options.metrics?.bannedIps.set(this.bans.size);
    if (current === undefined) {
      this.options.logger?.warn({ ip: address, banSeconds: Math.round(seconds) }, 'IP banned (shared by another instance)');
      this.onBan(address, 'shared');
    }
    return true;
  }

  /** Forgets expired bans and scores that decayed to nothing (call periodically). */
  sweep(): void {
    const now = this.now();
    for (const [ip, until] of this.bans) if (now >= until) this.bans.delete(ip);
    for (const [ip, entry] of this.scores) if (this.decayed(entry, now) < 0.5) this.scores.delete(ip);
    this.options.metrics?.bannedIps.set(this.bans.size);
  }

  private decayed(entry: Score, now: number): number {
    const halfLives = Math.max(0, now - entry.at) / (this.options.scoreHalfLifeSeconds * 1000);
    return entry.value * 0.5 ** halfLives;
  }

  private evictOldestScore(): void {
    const oldest = this.scores.keys().next().value;
    if (oldest !== undefined) this.scores.delete(oldest);
  }
}
