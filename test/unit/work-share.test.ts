import { describe, expect, it } from 'vitest';
import fixtures from '../fixtures/work/share.json' with { type: 'json' };
import { checkShareFields, judgeHash, type ShareFields } from '../../src/work/share.js';

// Table tests of src/work/share.ts driven by test/fixtures/work/share.json (made by make-fixtures.py from the golden cpuminer submits).
const { job, options } = fixtures;

describe('checkShareFields', () => {
  it.each(fixtures.checkShareFields.valid)('accepts $description', ({ fields, versionMask, expected }) => {
    const result = checkShareFields(job, fields as ShareFields, { ...options, versionMask });
    if (!result.ok) throw new Error(result.message);
    expect({ ...result.share, extranonce2: result.share.extranonce2.toString('hex') }).toEqual(expected);
  });

  it.each(fixtures.checkShareFields.invalid)('refuses $description', ({ fields, versionMask, reason, message }) => {
    expect(checkShareFields(job, fields as unknown as ShareFields, { ...options, versionMask })).toEqual({ ok: false, reason, message });
  });
});

describe('judgeHash', () => {
  const shareTarget = BigInt(`0x${fixtures.judgeHash.shareTarget}`);
  const networkTarget = BigInt(`0x${fixtures.judgeHash.networkTarget}`);
  it.each([...fixtures.judgeHash.valid, ...fixtures.judgeHash.invalid])('$description', ({ scryptHashRaw, meetsShareTarget, meetsNetworkTarget }) => {
    const hash = Buffer.from(scryptHashRaw, 'hex');
    expect(judgeHash(hash, shareTarget, networkTarget)).toEqual({
      hashValue: BigInt(`0x${Buffer.from(hash).reverse().toString('hex')}`),
      meetsShareTarget,
      meetsNetworkTarget,
    });
  });
});
