import { describe, expect, it } from 'vitest';
import fixtures from '../fixtures/work/coinbase.json' with { type: 'json' };
import { bip34HeightPush, buildCoinbaseParts, serializeOutputs, withWitnessReservedValue, type CoinbaseSpec } from '../../src/work/coinbase.js';

// Table tests of src/work/coinbase.ts driven by test/fixtures/work/coinbase.json (made by make-fixtures.py from real coinbases).
type SpecRow = { height: number; extranonceSize: number; poolTag: string; outputs: Array<{ value: string; script: string }> };
const outputsOf = (outputs: SpecRow['outputs']) => outputs.map((o) => ({ value: BigInt(o.value), script: Buffer.from(o.script, 'hex') }));
const specOf = (row: SpecRow): CoinbaseSpec => ({ ...row, poolTag: Buffer.from(row.poolTag, 'hex'), outputs: outputsOf(row.outputs) });

describe('bip34HeightPush', () => {
  it.each(fixtures.bip34HeightPush.valid)('$height: $description', ({ height, hex }) => {
    expect(bip34HeightPush(height).toString('hex')).toBe(hex);
  });
  it.each(fixtures.bip34HeightPush.invalid)('refuses $height ($description)', ({ height, error }) => {
    expect(() => bip34HeightPush(height)).toThrow(error);
  });
});

describe('buildCoinbaseParts', () => {
  it.each(fixtures.buildCoinbaseParts.valid)('$description', ({ spec, coinb1, coinb2 }) => {
    const parts = buildCoinbaseParts(specOf(spec));
    expect({ coinb1: parts.coinb1.toString('hex'), coinb2: parts.coinb2.toString('hex') }).toEqual({ coinb1, coinb2 });
  });
  it.each(fixtures.buildCoinbaseParts.invalid)('refuses $description', ({ spec, error }) => {
    expect(() => buildCoinbaseParts(specOf(spec))).toThrow(error);
  });
});

describe('serializeOutputs', () => {
  it.each(fixtures.serializeOutputs.valid)('$description', ({ outputs, hex }) => {
    expect(serializeOutputs(outputsOf(outputs)).toString('hex')).toBe(hex);
  });
});

describe('withWitnessReservedValue', () => {
  it.each(fixtures.withWitnessReservedValue.valid)('$description', ({ coinbase, withWitness }) => {
    expect(withWitnessReservedValue(Buffer.from(coinbase, 'hex')).toString('hex')).toBe(withWitness);
  });
});
