import { describe, expect, it } from 'vitest';
import gbtEmpty from '../fixtures/regtest/gbt-mweb-empty.json' with { type: 'json' };
import gbtWithTxs from '../fixtures/regtest/gbt-mweb-with-txs.json' with { type: 'json' };
import { JobManager } from '../../src/stratum/job-manager.js';
import type { Job } from '../../src/work/job.js';
import type { BlockTemplate } from '../../src/work/template.js';

function manager(now: { t: number }) {
  const jobs = new JobManager({
    payoutScript: Buffer.from('0014c2a82b721f4f07fda83579c24f7d8abecf9ae19f', 'hex'),
    poolTag: Buffer.from('/t/'),
    extranonce1Size: 4,
    extranonce2Size: 4,
    maxJobs: 4,
    staleGraceMs: 1000,
    rebroadcastMs: 30_000,
    now: () => now.t,
  });
  const sent: Array<[Job, boolean]> = [];
  jobs.on('job', (job: Job, clean: boolean) => sent.push([job, clean]));
  return { jobs, sent };
}

const block433 = gbtEmpty as unknown as BlockTemplate;
const block434 = gbtWithTxs as unknown as BlockTemplate;

describe('job manager', () => {
  it('a new previous block gives a clean job; new content on the same block a non-clean one', () => {
    const now = { t: 1_000_000 };
    const { jobs, sent } = manager(now);
    jobs.onTemplate(block433);
    jobs.onTemplate({ ...block433, coinbasevalue: block433.coinbasevalue + 1000, curtime: block433.curtime + 5 });
    jobs.onTemplate(block434);
    expect(sent.map(([, clean]) => clean)).toEqual([true, false, true]);
    expect(new Set(sent.map(([job]) => job.id)).size).toBe(3);
  });

  it('the same template again (only curtime and longpollid differ) is no new job: one notify per template', () => {
    const now = { t: 1_000_000 };
    const { jobs, sent } = manager(now);
    const first = jobs.onTemplate(block434);
    const again = jobs.onTemplate({ ...block434, curtime: block434.curtime + 1, longpollid: 'other' });
    expect(again).toBe(first);
    expect(sent).toHaveLength(1);
    // a transaction more or less is new work
    jobs.onTemplate({ ...block434, transactions: block434.transactions.slice(1) });
    expect(sent).toHaveLength(2);
  });

  it('jobs of the previous block count during the grace, then are stale; unknown ids are not found', () => {
    const now = { t: 1_000_000 };
    const { jobs } = manager(now);
    const old = jobs.onTemplate(block433);
    const fresh = jobs.onTemplate(block434);
    expect(jobs.lookup(fresh.id)?.state).toBe('current');
    expect(jobs.lookup(old.id)?.state).toBe('previous-block-grace');
    now.t += 1001;
    expect(jobs.lookup(old.id)?.state).toBe('stale');
    expect(jobs.lookup('nope')).toBeUndefined();
  });

  it('remembers at most maxJobs', () => {
    const now = { t: 0 };
    const { jobs } = manager(now);
    const first = jobs.onTemplate(block433);
    for (let i = 1; i <= 4; i++) jobs.onTemplate({ ...block433, coinbasevalue: block433.coinbasevalue + i });
    expect(jobs.lookup(first.id)).toBeUndefined();
  });

  it('rebroadcasts fresh work with a newer ntime', () => {
    const now = { t: (block433.curtime + 100) * 1000 };
    const { jobs, sent } = manager(now);
    jobs.onTemplate(block433);
    const again = jobs.rebroadcast()!;
    expect(again.curtime).toBe(block433.curtime + 100);
    expect(sent[1][1]).toBe(false);
  });
});
