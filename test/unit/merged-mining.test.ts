import { describe, expect, it } from 'vitest';
import gbtEmpty from '../fixtures/regtest/gbt-mweb-empty.json' with { type: 'json' };
import rpc1147 from '../fixtures/dogecoin/regtest-auxpow-rpc-v1.14.7.json' with { type: 'json' };
import { ConfigError, parseConfig } from '../../src/ops/config.js';
import { auxSchemeName } from '../../src/payouts/schemes/index.js';
import { moneyConfig } from '../../src/payouts/audit.js';
import { JobManager } from '../../src/stratum/job-manager.js';
import { parseAuxBlock } from '../../src/work/auxpow.js';
import { parseAuxAddressOptions, resolveAuxChain } from '../../src/work/chains.js';
import type { Job } from '../../src/work/job.js';
import type { BlockTemplate } from '../../src/work/template.js';

const dogeAddress = rpc1147.calls.createauxblock.request.params[0] as string;
const minimal = {
  network: 'regtest',
  pool: { address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' },
  node: { rpcUrl: 'http://user:secret@127.0.0.1:19443' },
};
const doge = { chain: 'dogecoin', rpcUrl: 'http://u:p@127.0.0.1:18332', address: dogeAddress };

function problemsOf(raw: unknown): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('merged mining configuration', () => {
  it('a dogecoin entry takes the preset (chain id 98, regtest maturity 60)', () => {
    const config = parseConfig({ ...minimal, merged: [doge] });
    expect(config.merged[0]).toMatchObject({ chain: 'dogecoin', pollIntervalMs: 500, refreshSeconds: 30 });
    expect(parseConfig(minimal).merged).toEqual([]);
  });
  it('bad entries name their field', () => {
    const problems = problemsOf({
      ...minimal,
      merged: [
        { ...doge, address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' },
        { chain: 'pepecoin', rpcUrl: 'http://u:p@127.0.0.1:1', address: 'x' },
        { ...doge, chain: 'bellscoin', chainId: 98, unit: 'BEL', maturity: 100, addressVersions: { pubKeyHash: 111, scriptHash: 196 } },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^merged\.0\.address: invalid dogecoin address/),
      expect.stringMatching(/^merged\.1\.chain: chain "pepecoin" has no preset .*give chainId, unit, maturity, addressVersions/),
      expect.stringMatching(/^merged\.2\.chainId: chain id 98 is also merged\.0's/),
    ]);
  });
  it('each aux chain splits by its own scheme, else the pool\'s, PPLNS under PPS/FPPS; PPS/FPPS on an aux chain is refused', () => {
    expect(auxSchemeName(undefined, 'prop')).toBe('prop');
    expect(auxSchemeName(undefined, 'pps')).toBe('pplns');
    expect(auxSchemeName(undefined, 'fpps')).toBe('pplns');
    expect(auxSchemeName('solo', 'pps')).toBe('solo');
    expect(() => auxSchemeName('pps', 'pplns')).toThrow(/cannot split an aux chain's blocks/);
    expect(problemsOf({ ...minimal, merged: [{ ...doge, payouts: { scheme: 'fpps' } }] })).toEqual([
      'merged.0.payouts.scheme: "fpps" is not available on an aux chain (PPS/FPPS value shares in Litecoin); use pplns, prop or solo',
    ]);
    // the audited money settings carry each aux chain's (a Litecoin-only pool's record is unchanged)
    const config = parseConfig({ ...minimal, payouts: { scheme: 'pps' }, merged: [{ ...doge, payouts: { scheme: 'solo' } }] });
    expect(moneyConfig(config).aux).toEqual([{ chain: 'dogecoin', scheme: 'solo', pplnsWindowFactor: 2, minimumPayout: '100000000', maturity: 60 }]);
    expect(moneyConfig(parseConfig(minimal)).aux).toBeUndefined();
  });
  it('a pool tag too long for the scriptSig with the commitment is refused with its budget', () => {
    const stratum = { extranonce2Size: 8 };
    expect(problemsOf({ ...minimal, stratum, pool: { ...minimal.pool, tag: 'x'.repeat(37) }, merged: [doge] })).toEqual([
      expect.stringMatching(/^pool\.tag: 37 bytes; with merged mining .* room for 36 bytes \(extranonce2Size 8\)/),
    ]);
    expect(() => parseConfig({ ...minimal, stratum, pool: { ...minimal.pool, tag: 'x'.repeat(36) }, merged: [doge] })).not.toThrow();
    expect(() => parseConfig({ ...minimal, stratum, pool: { ...minimal.pool, tag: 'x'.repeat(37) } })).not.toThrow();
    // bytes, not characters: 20 two-byte characters at the default extranonce2Size (room for 40) fit, 21 do not
    expect(() => parseConfig({ ...minimal, pool: { ...minimal.pool, tag: 'é'.repeat(20) }, merged: [doge] })).not.toThrow();
    expect(problemsOf({ ...minimal, pool: { ...minimal.pool, tag: 'é'.repeat(21) }, merged: [doge] })).toEqual([expect.stringMatching(/^pool\.tag: 42 bytes/)]);
  });
});

describe('the password option <chain>=<address>', () => {
  const chains = [resolveAuxChain('dogecoin', 'regtest')];
  it('takes the chain name or its alias among other options; the last one given wins', () => {
    expect(parseAuxAddressOptions(`d=2400000,doge=${dogeAddress}`, chains)).toEqual({ entries: [['dogecoin', dogeAddress]] });
    expect(parseAuxAddressOptions(`dogecoin=x,DOGE=${dogeAddress}`, chains)).toEqual({ error: expect.stringMatching(/^dogecoin=: invalid dogecoin address "x"/) });
    expect(parseAuxAddressOptions('x', chains)).toEqual({ entries: [] });
    expect(parseAuxAddressOptions('ltc=abc,d=1', chains)).toEqual({ entries: [] });
  });
  it('an address of another network is refused with the reason', () => {
    const mainnet = [resolveAuxChain('dogecoin', 'mainnet')];
    expect(parseAuxAddressOptions(`doge=${dogeAddress}`, mainnet)).toEqual({ error: expect.stringMatching(/version 111 is not this network's \(30 or 22\)/) });
  });
});

describe('job manager with aux work', () => {
  const chain = resolveAuxChain('dogecoin', 'regtest');
  const first = parseAuxBlock(rpc1147.calls.createauxblock.response.result);
  const second = parseAuxBlock(rpc1147.calls.createauxblock_addr1.response.result);
  it('an aux tip change gives a new job with the new commitment, clean_jobs=false; a dropped chain leaves jobs', () => {
    const jobs = new JobManager({ payoutScript: Buffer.from('51', 'hex'), poolTag: Buffer.from('/t/'), extranonce1Size: 4, extranonce2Size: 4, maxJobs: 8, staleGraceMs: 1000, rebroadcastMs: 30_000 });
    const sent: Array<[Job, boolean]> = [];
    jobs.on('job', (job: Job, clean: boolean) => sent.push([job, clean]));
    jobs.onTemplate(gbtEmpty as unknown as BlockTemplate);
    expect(sent[0][0].aux).toEqual([]);
    expect(sent[0][0].coinb1.toString('hex')).not.toContain('fabe6d6d');
    jobs.onAuxWork('dogecoin', { chain, block: first });
    jobs.onAuxWork('dogecoin', { chain, block: first }); // same block: nothing new
    jobs.onAuxWork('dogecoin', { chain, block: second });
    jobs.onAuxWork('dogecoin', undefined);
    expect(sent.map(([, clean]) => clean)).toEqual([true, false, false, false]);
    expect(sent[1][0].coinb1.toString('hex')).toContain(`2cfabe6d6d${first.hash}0100000000000000`);
    expect(sent[2][0].coinb1.toString('hex')).toContain(`fabe6d6d${second.hash}`);
    expect(sent[3][0].aux).toEqual([]);
    expect(jobs.lookup(sent[1][0].id)?.state).toBe('current');
    expect(jobs.isCurrentAux('dogecoin', second.hash)).toBe(false);
  });
});
