import { describe, expect, it } from 'vitest';
import { createMetrics, metrics, registry, rejectReasonLabel, rpcMethodLabel } from '../../src/ops/metrics.js';
import { REJECT_REASONS } from '../../src/work/share.js';

// CONVENTIONS.md "Metric names": name, prom-client type, label names.
const CONVENTION_METRICS: [string, 'gauge' | 'counter' | 'histogram', string[]][] = [
  ['ltcpool_connections', 'gauge', []],
  ['ltcpool_miners_authorized', 'gauge', []],
  ['ltcpool_workers_authorized', 'gauge', []],
  ['ltcpool_shares_total', 'counter', ['result']],
  ['ltcpool_share_rejects_total', 'counter', ['reason']],
  ['ltcpool_accepted_difficulty_total', 'counter', []],
  ['ltcpool_pool_hashrate', 'gauge', []],
  ['ltcpool_instance_hashrate', 'gauge', []],
  ['ltcpool_blocks_total', 'counter', ['chain', 'status']],
  ['ltcpool_network_difficulty', 'gauge', []],
  ['ltcpool_network_height', 'gauge', []],
  ['ltcpool_template_age_seconds', 'gauge', []],
  ['ltcpool_template_errors_total', 'counter', []],
  ['ltcpool_rpc_duration_seconds', 'histogram', ['method']],
  ['ltcpool_rpc_errors_total', 'counter', ['method']],
  ['ltcpool_scrypt_duration_seconds', 'histogram', []],
  ['ltcpool_scrypt_queue_depth', 'gauge', []],
  ['ltcpool_scrypt_kernel_fallback', 'gauge', []],
  ['ltcpool_share_queue_depth', 'gauge', []],
  ['ltcpool_share_batch_size', 'histogram', []],
  ['ltcpool_share_commit_seconds', 'histogram', []],
  ['ltcpool_spool_bytes', 'gauge', []],
  ['ltcpool_spool_shares', 'gauge', []],
  ['ltcpool_payouts_paid_litoshis_total', 'counter', ['chain']],
  ['ltcpool_payouts_pending_litoshis', 'gauge', ['chain']],
  ['ltcpool_payouts_failed_total', 'counter', ['chain']],
  ['ltcpool_wallet_shortfall_litoshis', 'gauge', ['chain']],
  ['ltcpool_payouts_reserve_breached', 'gauge', ['chain']],
  ['ltcpool_payouts_reserve_headroom_litoshis', 'gauge', ['chain']],
  ['ltcpool_bans_total', 'counter', []],
  ['ltcpool_banned_ips', 'gauge', []],
  ['ltcpool_tls_probes_total', 'counter', []],
  ['ltcpool_aux_blocks_total', 'counter', ['chain', 'status']],
  ['ltcpool_aux_rpc_errors_total', 'counter', ['chain', 'method']],
  ['ltcpool_aux_work_age_seconds', 'gauge', ['chain']],
  ['ltcpool_authorize_rejects_total', 'counter', ['reason']],
];

describe('metrics registry', () => {
  const m = createMetrics();

  it.each(CONVENTION_METRICS)('registers %s as a %s with labels %j', (name, type, labels) => {
    const metric = m.registry.getSingleMetric(name) as unknown as { type?: string; labelNames?: string[] } | undefined;
    expect(metric, name).toBeDefined();
    expect((metric as { constructor: { name: string } }).constructor.name.toLowerCase()).toBe(type);
    expect([...(metric!.labelNames ?? [])].sort()).toEqual([...labels].sort());
  });

  it('registers nothing with the ltcpool_ prefix beyond the conventions list and the default process metrics', async () => {
    const names = (await m.registry.getMetricsAsJSON()).map((x) => x.name);
    const known = new Set(CONVENTION_METRICS.map(([n]) => n));
    const extra = names.filter((n) => !known.has(n));
    expect(extra.length).toBeGreaterThan(0);
    for (const name of extra) expect(name, name).toMatch(/^ltcpool_(process|nodejs)_/);
    expect(names).toContain('ltcpool_process_cpu_seconds_total');
    expect(names.every((n) => n.startsWith('ltcpool_'))).toBe(true);
  });

  it('keeps each createMetrics() instance separate, and the singleton on the exported registry', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.bansTotal.inc(3);
    expect((await a.bansTotal.get()).values[0]?.value).toBe(3);
    expect((await b.bansTotal.get()).values[0]?.value ?? 0).toBe(0);
    expect(metrics.registry).toBe(registry);
    expect(registry.getSingleMetric('ltcpool_shares_total')).toBe(metrics.sharesTotal);
  });

  it('exposes every fixed label value at 0 before any event', async () => {
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    for (const reason of REJECT_REASONS) expect(text).toContain(`ltcpool_share_rejects_total{reason="${reason}"} 0`);
    for (const result of ['accepted', 'rejected', 'stale', 'block']) expect(text).toContain(`ltcpool_shares_total{result="${result}"} 0`);
    for (const status of ['found', 'accepted', 'rejected', 'orphaned', 'confirmed']) expect(text).toContain(`ltcpool_blocks_total{chain="litecoin",status="${status}"} 0`);
    expect(text).toContain('ltcpool_payouts_paid_litoshis_total{chain="litecoin"} 0');
    expect(text).toContain('ltcpool_payouts_failed_total{chain="litecoin"} 0');
  });

  it('an aux chain gets its own series of blocks, aux blocks and payouts, at 0 from the start', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.addAuxChain('dogecoin');
    const text = await m.registry.metrics();
    for (const status of ['found', 'accepted', 'rejected', 'orphaned', 'confirmed']) expect(text).toContain(`ltcpool_blocks_total{chain="dogecoin",status="${status}"} 0`);
    for (const status of ['found', 'accepted', 'rejected', 'stale']) expect(text).toContain(`ltcpool_aux_blocks_total{chain="dogecoin",status="${status}"} 0`);
    expect(text).toContain('ltcpool_payouts_paid_litoshis_total{chain="dogecoin"} 0');
    expect(text).toContain('ltcpool_payouts_failed_total{chain="dogecoin"} 0');
    expect(text, 'no work source: no work age series').not.toContain('ltcpool_aux_work_age_seconds{chain="dogecoin"}');
  });

  it.each([
    ['duplicate', 'duplicate'],
    ['low-difficulty', 'low-difficulty'],
    ['Low difficulty share', 'other'],
    ['', 'other'],
    ['stale\n', 'other'],
  ])('maps reject reason %j to label %j', (reason, label) => {
    expect(rejectReasonLabel(reason)).toBe(label);
  });

  it('counts a reject under both the result and the reason', async () => {
    const x = createMetrics({ defaultMetrics: false });
    x.recordReject('duplicate');
    x.recordReject('stale');
    x.recordReject('made up by a miner');
    const text = await x.registry.metrics();
    expect(text).toContain('ltcpool_shares_total{result="rejected"} 2');
    expect(text).toContain('ltcpool_shares_total{result="stale"} 1');
    expect(text).toContain('ltcpool_share_rejects_total{reason="duplicate"} 1');
    expect(text).toContain('ltcpool_share_rejects_total{reason="stale"} 1');
    expect(text).toContain('ltcpool_share_rejects_total{reason="other"} 1');
  });

  it('records RPC timings and errors per method, folding odd method names into other', async () => {
    const x = createMetrics({ defaultMetrics: false });
    x.observeRpc('getblocktemplate', 0.02, true);
    x.observeRpc('submitblock', 3, false);
    x.observeRpc('Robert"); DROP TABLE', 1, false);
    expect(rpcMethodLabel('getblockchaininfo')).toBe('getblockchaininfo');
    const text = await x.registry.metrics();
    expect(text).toContain('ltcpool_rpc_duration_seconds_bucket{le="0.025",method="getblocktemplate"} 1');
    expect(text).toContain('ltcpool_rpc_duration_seconds_bucket{le="2.5",method="submitblock"} 0');
    expect(text).toContain('ltcpool_rpc_duration_seconds_bucket{le="5",method="submitblock"} 1');
    expect(text).toContain('ltcpool_rpc_errors_total{method="submitblock"} 1');
    expect(text).toContain('ltcpool_rpc_errors_total{method="other"} 1');
    expect(text).not.toContain('ltcpool_rpc_errors_total{method="getblocktemplate"}');
  });

  it('uses the documented histogram ranges', async () => {
    const x = createMetrics({ defaultMetrics: false });
    x.rpcDurationSeconds.observe({ method: 'getblockcount' }, 0.0005);
    x.scryptDurationSeconds.observe(0.00005);
    x.shareCommitSeconds.observe(0.0005);
    const text = await x.registry.metrics();
    const les = (name: string) => [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"`, 'gm'))].map((r) => r[1]);
    expect(les('ltcpool_rpc_duration_seconds').slice(0, 1)).toEqual(['0.001']);
    expect(les('ltcpool_rpc_duration_seconds').slice(-2)).toEqual(['30', '+Inf']);
    expect(les('ltcpool_scrypt_duration_seconds')[0]).toBe('0.0001');
    expect(les('ltcpool_scrypt_duration_seconds').slice(-2)).toEqual(['0.1', '+Inf']);
    expect(les('ltcpool_share_commit_seconds')[0]).toBe('0.001');
    expect(les('ltcpool_share_commit_seconds').slice(-2)).toEqual(['5', '+Inf']);
  });

  it('computes template age at scrape time from the injected source', async () => {
    const x = createMetrics({ defaultMetrics: false });
    let receivedAt: number | undefined;
    x.setTemplateAgeSource(() => receivedAt);
    expect((await x.templateAgeSeconds.get()).values[0]?.value ?? 0).toBe(0);
    receivedAt = Date.now() - 90_000;
    const age = (await x.templateAgeSeconds.get()).values[0]?.value ?? 0;
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(95);
  });

  it('reads the Scrypt queue depth at scrape time from the injected source', async () => {
    const x = createMetrics({ defaultMetrics: false });
    let waiting = 0;
    x.setScryptQueueSource(() => waiting);
    expect((await x.scryptQueueDepth.get()).values[0]?.value).toBe(0);
    waiting = 37;
    expect((await x.scryptQueueDepth.get()).values[0]?.value).toBe(37);
  });
});
