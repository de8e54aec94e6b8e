import { describe, expect, it } from 'vitest';
import fixtures from '../fixtures/work/merkle.json' with { type: 'json' };
import { merkleBranch, merkleRoot, merkleRootFromBranch } from '../../src/work/merkle.js';

// Table tests of src/work/merkle.ts driven by test/fixtures/work/merkle.json (made by make-fixtures.py from real blocks).
const internal = (displayHex: string) => Buffer.from(displayHex, 'hex').reverse();

describe('merkle trees of real blocks', () => {
  it.each(fixtures.valid)('$description', (row) => {
    const txids = row.txids.map(internal);
    const root = internal(row.merkleRoot);
    expect(merkleRoot(txids).toString('hex')).toBe(root.toString('hex'));
    const branch = merkleBranch(txids.slice(1));
    if ('branch' in row) expect(branch.map((h) => h.toString('hex'))).toEqual(row.branch);
    expect(merkleRootFromBranch(txids[0], branch).toString('hex')).toBe(root.toString('hex'));
  });

  it.each(fixtures.invalid)('refuses $description', ({ txids, error }) => {
    expect(() => merkleRoot(txids.map(internal))).toThrow(error);
  });
});
