import { describe, expect, it } from 'vitest';
import regtest from '../fixtures/regtest/addresses.json' with { type: 'json' };
import mainnet from '../fixtures/mainnet/addresses.json' with { type: 'json' };
import { decodeAddress, type NetworkName } from '../../src/work/address.js';

type Verdict = { isvalid: boolean; scriptPubKey?: string; ismweb?: boolean };
const samples = regtest.samples as Record<string, Record<string, string>>;
const rows = Object.entries(regtest.validateaddress as Record<string, Record<string, Verdict>>).flatMap(([node, table]) =>
  Object.entries(table).map(([key, verdict]) => {
    const [sampleNetwork, type] = key.split(':');
    return { node: node as NetworkName, key, address: samples[sampleNetwork][type], verdict };
  }),
);

describe('payout address decoding agrees with litecoind validateaddress', () => {
  it.each(rows)('$node node, $key', ({ node, address, verdict }) => {
    if (verdict.isvalid && !verdict.ismweb) {
      expect(decodeAddress(address, node).toString('hex')).toBe(verdict.scriptPubKey);
    } else {
      expect(() => decodeAddress(address, node)).toThrow(verdict.ismweb ? /MWEB/ : /invalid Litecoin address/);
    }
  });

  it.each(mainnet)('$network $type $address', (row) => {
    if (row.type === 'mweb') expect(() => decodeAddress(row.address, row.network as NetworkName)).toThrow(/MWEB/);
    else expect(decodeAddress(row.address, row.network as NetworkName).toString('hex')).toBe(row.scriptPubKeyHex);
  });

  it('garbage gets a clear error', () => {
    expect(() => decodeAddress('', 'mainnet')).toThrow(/empty/);
    expect(() => decodeAddress('not-an-address', 'mainnet')).toThrow(/not a mainnet address/);
    expect(() => decodeAddress('x'.repeat(500), 'mainnet')).toThrow(/too long/);
  });
});
