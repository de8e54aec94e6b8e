import { address as btcAddress } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import vectors from '../fixtures/dogecoin/auxpow-vectors.json' with { type: 'json' };
import rpcMaster from '../fixtures/dogecoin/regtest-auxpow-rpc.json' with { type: 'json' };
import rpc1147 from '../fixtures/dogecoin/regtest-auxpow-rpc-v1.14.7.json' with { type: 'json' };
import {
  AUX_COMMITMENT_SIZE,
  auxCommitment,
  auxSlot,
  auxTreeHeight,
  buildAuxTree,
  maxPoolTagBytes,
  parseAuxBlock,
  serializeAuxPow,
} from '../../src/work/auxpow.js';
import { leToBigInt, reversed, sha256d } from '../../src/work/bytes.js';
import { AUX_PRESETS, decodeAuxAddress, KNOWN_AUX_CHAIN_IDS, resolveAuxChain } from '../../src/work/chains.js';
import { buildCoinbaseParts } from '../../src/work/coinbase.js';
import { NodeScryptHasher } from '../../src/work/scrypt.js';

type Field = { field: string; hex: string };
const field = (v: { fields: Field[] }, prefix: string): string => {
  const f = v.fields.find((x) => x.field.startsWith(prefix));
  if (!f) throw new Error(`fixture field ${prefix} missing`);
  return f.hex;
};
const hashes = (hex: string): Buffer[] => (hex.match(/.{64}/g) ?? []).map((h) => Buffer.from(h, 'hex'));

describe('auxpow blobs accepted by a real dogecoind are rebuilt byte for byte', () => {
  for (const v of vectors.vectors) {
    it(v.name, () => {
      const auxTree = 'aux_tree' in v ? (v as unknown as { aux_tree: { nonce: number; merkle_size: number; expected_index: number; sibling_leaf_le_hex: string } }).aux_tree : undefined;
      const tree = buildAuxTree([{ chainId: 98, hash: v.aux_block_hash }], {
        nonce: auxTree?.nonce ?? 0,
        height: auxTree ? Math.log2(auxTree.merkle_size) : undefined,
        filler: auxTree ? Buffer.from(auxTree.sibling_leaf_le_hex, 'hex') : undefined,
      });
      const entry = tree.entries[0];
      expect(entry.slot).toBe(auxTree?.expected_index ?? 0);
      expect(Buffer.concat(entry.branch).toString('hex')).toBe(field(v, 'aux_chain_merkle_branch.hashes'));
      // The commitment sits in the scriptSig right after the 4-byte height push, as the node accepted it.
      const commitment = auxCommitment(tree);
      expect(commitment.length).toBe(AUX_COMMITMENT_SIZE);
      expect(v.coinbase_scriptsig_hex.slice(8, 8 + 88)).toBe(commitment.toString('hex'));
      const blob = serializeAuxPow({
        coinbase: Buffer.from(field(v, 'parent_coinbase_tx'), 'hex'),
        coinbaseBranch: hashes(field(v, 'coinbase_merkle_branch.hashes')),
        auxBranch: entry.branch,
        auxIndex: entry.slot,
        parentHeader: Buffer.from(field(v, 'parent_block_header'), 'hex'),
      });
      expect(blob.toString('hex')).toBe(v.auxpow_hex);
    });
  }

  it('one chain: the committed root is the createauxblock hash as written, not byte-reversed', () => {
    const hash = vectors.vectors[0].aux_block_hash;
    const tree = buildAuxTree([{ chainId: 98, hash }]);
    expect(tree.size).toBe(1);
    expect(tree.committedRoot.toString('hex')).toBe(hash);
    expect(auxCommitment(tree).toString('hex')).toBe(`fabe6d6d${hash}0100000000000000`);
    expect(auxCommitment(tree).toString('hex')).not.toContain(reversed(Buffer.from(hash, 'hex')).toString('hex'));
  });

  it('the parent header scrypt hash meets the aux target the node gave (one hash judged against it)', async () => {
    const v = vectors.vectors[0];
    const pow = await new NodeScryptHasher().hash(Buffer.from(field(v, 'parent_block_header'), 'hex'));
    expect(reversed(pow).toString('hex')).toBe(v.parent_scrypt_pow_hash_be_hex);
    const aux = parseAuxBlock(rpcMaster.calls.createauxblock.response.result);
    expect(leToBigInt(pow) <= aux.target).toBe(true);
  });
});

describe('aux merkle tree: sized by chain ids, not by count', () => {
  const ids = KNOWN_AUX_CHAIN_IDS;
  it.each([
    { chains: ['dogecoin'], size: 1 },
    { chains: ['dogecoin', 'bellscoin'], size: 4 },
    { chains: ['dogecoin', 'pepecoin'], size: 2 },
    { chains: ['dogecoin', 'bellscoin', 'pepecoin', 'luckycoin', 'junkcoin', 'dingocoin', 'shibacoin'], size: 32 },
  ])('$chains -> size $size', ({ chains, size }) => {
    expect(2 ** auxTreeHeight(chains.map((c) => ids[c]))).toBe(size);
  });

  it('DOGE 98 + BELLS 16 always collide in a tree of 2, whatever the nonce', () => {
    for (const nonce of [0, 1, 7, 12345, 0xffffffff]) expect(auxSlot(98, nonce, 1)).toBe(auxSlot(16, nonce, 1));
  });

  it('slots of the seven chains at size 32, nonce 0 (table from an independent implementation)', () => {
    const table = { dogecoin: 24, bellscoin: 14, pepecoin: 17, luckycoin: 21, junkcoin: 30, dingocoin: 8, shibacoin: 0 };
    const leaves = Object.entries(ids).map(([, chainId], i) => ({ chainId, hash: i.toString(16).padStart(64, '0') }));
    const tree = buildAuxTree(leaves);
    expect(tree.size).toBe(32);
    const got = Object.fromEntries(Object.keys(ids).map((name, i) => [name, tree.entries[i].slot]));
    expect(got).toEqual(table);
    for (const e of tree.entries) expect(e.branch.length).toBe(5);
  });

  it('every branch folds its leaf to the committed root', () => {
    const leaves = [98, 16, 63].map((chainId, i) => ({ chainId, hash: (i + 1).toString(16).padStart(64, 'a') }));
    const tree = buildAuxTree(leaves);
    expect(tree.size).toBe(4);
    for (const [i, e] of tree.entries.entries()) {
      let h = reversed(Buffer.from(leaves[i].hash, 'hex'));
      let idx = e.slot;
      for (const sib of e.branch) {
        h = idx & 1 ? sha256dPair(sib, h) : sha256dPair(h, sib);
        idx >>= 1;
      }
      expect(reversed(h).equals(tree.committedRoot)).toBe(true);
    }
  });

  it('refuses two chains with the same id', () => {
    expect(() => auxTreeHeight([98, 16, 98])).toThrow(/chain id 98/);
  });
});

function sha256dPair(a: Buffer, b: Buffer): Buffer {
  return sha256d(Buffer.concat([a, b]));
}

describe('createauxblock answers', () => {
  it('target (little-endian hex) and _target are both read', () => {
    const plain = parseAuxBlock(rpc1147.calls.createauxblock.response.result);
    const namecoinApi = parseAuxBlock(rpcMaster.calls.createauxblock_with_rpcnamecoinapi.response.result);
    const expected = BigInt('0x7fffff' + '00'.repeat(29));
    expect(plain.target).toBe(expected);
    expect(namecoinApi.target).toBe(expected);
    expect(plain.chainId).toBe(98);
    expect(plain.coinbaseValue).toBe(50_000_000_000_000n);
  });
  it('an answer without a target is refused', () => {
    const { target: _t, ...rest } = rpc1147.calls.createauxblock.response.result as Record<string, unknown>;
    expect(() => parseAuxBlock(rest)).toThrow(/target/);
  });
});

describe('coinbase scriptSig with the commitment stays within 100 bytes', () => {
  const commitment = Buffer.alloc(AUX_COMMITMENT_SIZE, 1);
  for (const extranonceSize of [6, 8, 12]) {
    it(`extranonce ${extranonceSize} bytes: the longest allowed tag fits at the highest height, one more byte does not`, () => {
      const max = maxPoolTagBytes(extranonceSize, true);
      const spec = { height: 2 ** 31 - 1, extranonceSize, outputs: [{ value: 1n, script: Buffer.from([0x51]) }], auxCommitment: commitment };
      const { coinb1 } = buildCoinbaseParts({ ...spec, poolTag: Buffer.alloc(max, 0x61) });
      expect(coinb1[41]).toBe(100); // scriptSig length byte
      expect(() => buildCoinbaseParts({ ...spec, poolTag: Buffer.alloc(max + 1, 0x61) })).toThrow(/scriptSig would be 101 bytes/);
    });
  }
  it('layout: height push, then the commitment as one 44-byte push, then the extranonce push', () => {
    const { coinb1 } = buildCoinbaseParts({ height: 3_000_000, extranonceSize: 8, poolTag: Buffer.from('/ltcpool/'), outputs: [], auxCommitment: commitment });
    const script = coinb1.subarray(42);
    expect(script.subarray(0, 4).toString('hex')).toBe('03c0c62d');
    expect(script[4]).toBe(44);
    expect(script.subarray(5, 49).equals(commitment)).toBe(true);
    expect(script[49]).toBe(8);
  });
  it('without merged mining the tag budget is the old one', () => {
    expect(maxPoolTagBytes(8, false) - maxPoolTagBytes(8, true)).toBe(45);
  });
});

describe('chain parameters', () => {
  it('dogecoin preset: chain id 98, maturity 240 on mainnet/testnet and 60 on regtest', () => {
    expect(resolveAuxChain('dogecoin', 'mainnet')).toMatchObject({ chainId: 98, unit: 'DOGE', maturity: 240 });
    expect(resolveAuxChain('dogecoin', 'testnet').maturity).toBe(240);
    expect(resolveAuxChain('dogecoin', 'regtest').maturity).toBe(60);
  });
  it('regtest DOGE addresses from the node decode; other networks and Litecoin bech32 do not', () => {
    const regtest = resolveAuxChain('dogecoin', 'regtest');
    const mainnet = resolveAuxChain('dogecoin', 'mainnet');
    const addr = rpcMaster.calls.createauxblock.request.params[0] as string;
    expect(decodeAuxAddress(regtest, addr).toString('hex')).toMatch(/^76a914[0-9a-f]{40}88ac$/);
    expect(() => decodeAuxAddress(mainnet, addr)).toThrow(/dogecoin address.*version 111/);
    expect(() => decodeAuxAddress(regtest, 'rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080')).toThrow(/invalid dogecoin address/);
    const d = btcAddress.toBase58Check(Buffer.alloc(20, 7), AUX_PRESETS.dogecoin.addressVersions.mainnet.pubKeyHash);
    expect(d.startsWith('D')).toBe(true);
    expect(decodeAuxAddress(mainnet, d).subarray(3, 23).equals(Buffer.alloc(20, 7))).toBe(true);
    const p2sh = btcAddress.toBase58Check(Buffer.alloc(20, 9), 22);
    expect(decodeAuxAddress(mainnet, p2sh).toString('hex')).toBe('a914' + '09'.repeat(20) + '87');
  });
  it('a generic chain needs chainId, unit, maturity and address versions', () => {
    expect(() => resolveAuxChain('pepecoin', 'mainnet')).toThrow(/chainId, unit, maturity, addressVersions/);
    const pep = resolveAuxChain('pepecoin', 'mainnet', { chainId: 63, unit: 'PEP', maturity: 100, addressVersions: { pubKeyHash: 56, scriptHash: 22 } });
    expect(pep).toMatchObject({ name: 'pepecoin', chainId: 63, unit: 'PEP', maturity: 100 });
  });
});
