import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/ops/metrics.js';
import { BanList, BAN_WEIGHTS, buildAllowList, normalizeIp } from '../../src/stratum/bans.js';
import { metricValue } from '../support/pool.js';

function banList(overrides: Partial<ConstructorParameters<typeof BanList>[0]> = {}) {
  let now = 1_000_000;
  const metrics = createMetrics({ defaultMetrics: false });
  const bans = new BanList({
    enabled: true,
    threshold: 10,
    banSeconds: 60,
    scoreHalfLifeSeconds: 30,
    allowList: ['10.1.0.0/16', '192.0.2.7', '2001:db8:aa::/48', '::1'],
    metrics: { bansTotal: metrics.bansTotal, bannedIps: metrics.bannedIps },
    now: () => now,
    ...overrides,
  });
  return { bans, metrics, advance: (ms: number) => void (now += ms) };
}

describe('ban scoring', () => {
  it('bans an IP once its score reaches the threshold, for banSeconds, with metrics and a callback', async () => {
    const { bans, metrics, advance } = banList();
    const banned: string[] = [];
    bans.onBan = (ip) => banned.push(ip);
    for (let i = 0; i < 9; i++) expect(bans.record('203.0.113.5', 'malformed')).toBe(false);
    expect(bans.isBanned('203.0.113.5')).toBe(false);
    expect(bans.record('203.0.113.5', 'malformed')).toBe(true);
    expect(bans.isBanned('203.0.113.5')).toBe(true);
    expect(bans.isBanned('::ffff:203.0.113.5')).toBe(true);
    expect(bans.isBanned('203.0.113.6')).toBe(false);
    expect(banned).toEqual(['203.0.113.5']);
    expect(await metricValue(metrics, 'ltcpool_bans_total')).toBe(1);
    expect(await metricValue(metrics, 'ltcpool_banned_ips')).toBe(1);
    advance(59_000);
    expect(bans.isBanned('203.0.113.5')).toBe(true);
    advance(1_000);
    expect(bans.isBanned('203.0.113.5')).toBe(false);
    bans.sweep();
    expect(await metricValue(metrics, 'ltcpool_banned_ips')).toBe(0);
  });

  it('lets the score decay, so occasional mistakes never add up to a ban', () => {
    const { bans, advance } = banList();
    for (let i = 0; i < 100; i++) {
      bans.record('198.51.100.1', 'malformed');
      advance(30_000); // one half-life between mistakes: the score stays under 2
    }
    expect(bans.isBanned('198.51.100.1')).toBe(false);
    expect(bans.score('198.51.100.1')).toBeLessThan(2);
    advance(600_000);
    bans.sweep();
    expect(bans.score('198.51.100.1')).toBe(0);
  });

  it('weighs an oversize line more than a malformed message', () => {
    expect(BAN_WEIGHTS['line-too-long']).toBeGreaterThan(BAN_WEIGHTS.malformed);
    const { bans } = banList({ threshold: 20 });
    expect(bans.record('198.51.100.2', 'line-too-long')).toBe(true);
  });

  const allowCases: Array<[string, boolean]> = [
    ['10.1.2.3', true],
    ['10.1.255.255', true],
    ['10.2.0.1', false],
    ['192.0.2.7', true],
    ['::ffff:192.0.2.7', true],
    ['192.0.2.8', false],
    ['2001:db8:aa:1::5', true],
    ['2001:db8:ab::5', false],
    ['::1', true],
    ['not-an-ip', false],
  ];
  for (const [ip, allowed] of allowCases) {
    it(`allow-list: ${ip} is ${allowed ? '' : 'not '}allowed${allowed ? ', and never banned' : ''}`, () => {
      const { bans } = banList();
      expect(bans.isAllowed(ip)).toBe(allowed);
      if (ip === 'not-an-ip') return;
      bans.record(ip, 'line-too-long', 10);
      expect(bans.isBanned(ip)).toBe(!allowed);
    });
  }

  it('imposes a ban made by another instance for the time it has left: the allow-list still wins, a longer ban stays', async () => {
    const { bans, metrics, advance } = banList();
    const events: Array<[string, string]> = [];
    bans.onBan = (ip, reason) => events.push([ip, reason]);
    expect(bans.impose('::ffff:203.0.113.9', 30)).toBe(true);
    expect(bans.isBanned('203.0.113.9')).toBe(true);
    expect(events).toEqual([['203.0.113.9', 'shared']]);
    expect(await metricValue(metrics, 'ltcpool_banned_ips')).toBe(1);
    expect(await metricValue(metrics, 'ltcpool_bans_total')).toBe(0); // counted where it was made
    expect(bans.impose('203.0.113.9', 10)).toBe(false); // shorter than the one in place
    expect(bans.impose('203.0.113.9', 45)).toBe(true); // extended, no second callback
    expect(events).toHaveLength(1);
    advance(44_000);
    expect(bans.isBanned('203.0.113.9')).toBe(true);
    advance(1_000);
    expect(bans.isBanned('203.0.113.9')).toBe(false);
    expect(bans.impose('192.0.2.7', 60)).toBe(false); // allow-listed here
    expect(bans.impose('203.0.113.10', 0)).toBe(false); // expired meanwhile
    expect(bans.isBanned('192.0.2.7')).toBe(false);
    expect(banList({ enabled: false }).bans.impose('203.0.113.9', 30)).toBe(false);
  });

  it('does nothing when disabled', () => {
    const { bans } = banList({ enabled: false });
    expect(bans.record('203.0.113.9', 'line-too-long', 100)).toBe(false);
    expect(bans.isBanned('203.0.113.9')).toBe(false);
  });

  it('keeps at most maxTrackedIps scores (a botnet cannot grow it)', () => {
    const { bans } = banList({ maxTrackedIps: 100 });
    for (let i = 0; i < 5000; i++) bans.record(`100.64.${i >> 8}.${i & 255}`, 'malformed');
    const tracked = (bans as unknown as { scores: Map<string, unknown> }).scores.size;
    expect(tracked).toBeLessThanOrEqual(100);
  });

  it('refuses allow-list entries that are not IPs or CIDRs', () => {
    expect(() => buildAllowList(['10.0.0.0/33'])).toThrow(/prefix/);
    expect(() => buildAllowList(['example.com'])).toThrow(/not an IP/);
    expect(() => buildAllowList(['2001:db8::/129'])).toThrow(/prefix/);
    expect(() => buildAllowList(['10.0.0.0/8', '2001:db8::/32', '127.0.0.1'])).not.toThrow();
    expect(normalizeIp('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(normalizeIp('::1')).toBe('::1');
  });
});
