import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestMiner } from '../../src/miner/miner.js';
import { readPayoutThresholds } from '../../src/payouts/ledger.js';
import { planPayments } from '../../src/payouts/plan.js';
import { startPoolTestbed, waitFor, type PoolTestbed, type TestPool } from '../support/pool.js';

/**
 * Per-miner settings over HTTP against a regtest pool: only a request from an IP with a connected worker of the
 * address may change them. A second loopback address (127.0.0.2, routed to lo on Linux) plays the stranger.
 */

const MINER = 'rltc1qvjppdf5w4vt5h3ju85le236up4vqfd3y2yecyw';
const OTHER = 'rltc1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqc6h8ge';

let testbed: PoolTestbed;
let pool: TestPool;

beforeAll(async () => {
  testbed = await startPoolTestbed({
    payouts: { minimumPayout: '100000', maxPayoutThreshold: '500000000' },
    history: { enabled: false },
  });
  ({ pool } = testbed);
}, 180_000);

afterAll(async () => {
  await testbed?.stop();
});

/** A JSON request to the pool's HTTP port from `from` (a local address). */
function request(method: string, urlPath: string, body: unknown, from = '127.0.0.1'): Promise<{ status: number; body: any }> {
  const url = new URL(pool.httpUrl! + urlPath);
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method, localAddress: from, headers: data ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const settingsPath = (address: string) => `/api/miners/${address}/settings`;

describe('per-miner settings', () => {
  it('refuse a change while no worker of the address is connected', async () => {
    const res = await request('POST', settingsPath(MINER), { payoutThreshold: '200000' });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatch(/only from an IP address with a worker of that address connected now; this request came from 127\.0\.0\.1/);
  });

  it('apply a change from the IP of a connected worker, refuse it from another IP, and check the values', async () => {
    const miner = new TestMiner({ host: '127.0.0.1', port: pool.stratumPort, username: `${MINER}.rig1` });
    await miner.start();
    try {
      await waitFor('the worker connected', () => pool.server.connectedWorkers(MINER).length > 0, 10_000);

      const stranger = await request('POST', settingsPath(MINER), { payoutThreshold: '200000' }, '127.0.0.2');
      expect(stranger.status).toBe(403);
      expect(stranger.body.error).toMatch(/this request came from 127\.0\.0\.2/);
      // a worker of another address does not authorise this one
      expect((await request('POST', settingsPath(OTHER), { payoutThreshold: '200000' })).status).toBe(403);

      const applied = await request('POST', settingsPath(MINER), {
        payoutThreshold: '200000', webhookUrl: 'https://hooks.example.com/ltc', ntfyUrl: 'https://ntfy.sh/my-rigs', notify: { blockFound: true },
      });
      expect(applied.status).toBe(200);
      expect(applied.body).toMatchObject({
        payoutThreshold: '200000', webhookUrl: 'https://hooks.example.com/ltc', ntfyUrl: 'https://ntfy.sh/my-rigs', canEdit: true,
        notify: { workerOffline: true, hashrateDrop: true, blockFound: true, paymentSent: true },
        minPayoutThreshold: '100000', maxPayoutThreshold: '500000000',
      });
      // only the fields sent change
      const partial = await request('POST', settingsPath(MINER), { notify: { hashrateDrop: false } });
      expect(partial.body).toMatchObject({ payoutThreshold: '200000', notify: { hashrateDrop: false, blockFound: true } });

      // outside the operator's range, bad URLs, private targets, unknown fields: 400, nothing changes
      for (const [body, message] of [
        [{ payoutThreshold: '99999' }, /outside the pool's range 100000\.\.500000000/],
        [{ payoutThreshold: '500000001' }, /outside the pool's range/],
        [{ payoutThreshold: '1.5' }, /payoutThreshold/],
        [{ webhookUrl: 'ftp://example.com/x' }, /only http and https/],
        [{ webhookUrl: 'http://127.0.0.1:5432/' }, /local or private address/],
        [{ ntfyUrl: 'http://192.168.1.10/topic' }, /local or private address/],
        [{ colour: 'red' }, /unknown field colour/],
        [{ notify: { blocks: true } }, /unknown field notify\.blocks/],
      ] as const) {
        const res = await request('POST', settingsPath(MINER), body);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.error).toMatch(message);
      }

      // a stranger sees that targets are set, not what they are
      const seen = await request('GET', settingsPath(MINER), undefined, '127.0.0.2');
      expect(seen.body).toMatchObject({ payoutThreshold: '200000', webhookUrl: 'set', ntfyUrl: 'set', canEdit: false });
      const own = await request('GET', settingsPath(MINER), undefined);
      expect(own.body).toMatchObject({ webhookUrl: 'https://hooks.example.com/ltc', canEdit: true });

      // the payout run uses the miner's threshold (clamped into the operator's current range)
      const thresholds = await readPayoutThresholds(pool.db!, 100000n, 500000000n);
      expect(thresholds.get(MINER)).toBe(200000n);
      const plan = planPayments(
        [{ address: MINER, balance: 150000n }, { address: OTHER, balance: 150000n }],
        { minimum: 100000n, maxPerBatch: 10, invalidReason: () => null, minimumFor: (a) => thresholds.get(a) },
      );
      expect(plan.belowMinimum.map((p) => p.address)).toEqual([MINER]);
      expect(plan.batches.flat().map((p) => p.address)).toEqual([OTHER]);
      expect((await readPayoutThresholds(pool.db!, 300000n)).get(MINER)).toBe(300000n);

      // clearing with null
      const cleared = await request('POST', settingsPath(MINER), { payoutThreshold: null, webhookUrl: null });
      expect(cleared.body).toMatchObject({ payoutThreshold: null, webhookUrl: null, ntfyUrl: 'https://ntfy.sh/my-rigs' });
    } finally {
      await miner.close();
    }
    await waitFor('the worker gone', () => pool.server.connectedWorkers(MINER).length === 0, 10_000);
    expect((await request('POST', settingsPath(MINER), { payoutThreshold: '200000' })).status).toBe(403);
  });
});
