import { scryptSync as opensslScrypt } from 'node:crypto';
import scryptJs from 'scrypt-js';
import { afterAll, describe, expect, it } from 'vitest';
import headers from '../fixtures/mainnet/headers.json' with { type: 'json' };
import vectors from '../fixtures/mainnet/scrypt-vectors.json' with { type: 'json' };
import { reversed, sha256d } from '../../src/work/bytes.js';
import { blockHash } from '../../src/work/header.js';
import { NodeScryptHasher, ScryptJsHasher, type ScryptHasher } from '../../src/work/scrypt.js';

import { SimdScryptPool } from '../../src/hash/simd-pool.js';

const simd = await new SimdScryptPool({ threads: 2 }).start();
afterAll(() => simd.close());
const hashers: ScryptHasher[] = [new NodeScryptHasher(), new ScryptJsHasher(), simd];
const rfc = vectors.filter((v) => v.kind === 'rfc7914-scrypt' && (v.N ?? 0) <= 16384);
const pow = vectors.filter((v) => v.kind === 'litecoin-scrypt-pow');

describe('scrypt vectors', () => {
  it.each(rfc)('$id: OpenSSL and scrypt-js both give the RFC 7914 key', (v) => {
    const password = Buffer.from(v.passwordUtf8 ?? '', 'utf8');
    const salt = Buffer.from(v.saltUtf8 ?? '', 'utf8');
    const N = v.N as number;
    const openssl = opensslScrypt(password, salt, v.dkLen, { N, r: v.r as number, p: v.p as number, maxmem: 64 * 1024 * 1024 });
    const js = Buffer.from(scryptJs.syncScrypt(password, salt, N, v.r as number, v.p as number, v.dkLen));
    expect(openssl.toString('hex')).toBe(v.derivedKeyHex);
    expect(js.toString('hex')).toBe(v.derivedKeyHex);
  });

  for (const hasher of hashers) {
    it.each(pow)(`${hasher.name}: $id litecoin proof of work`, async (v) => {
      const out = await hasher.hash(Buffer.from(v.inputHeaderHex as string, 'hex'));
      expect(out.toString('hex')).toBe(v.scryptOutputRawHex);
      expect(reversed(out).toString('hex')).toBe(v.powHashDisplayHex);
    });
  }
});

describe('mainnet headers', () => {
  for (const hasher of hashers) {
    it.each(headers)(`${hasher.name}: $name scrypt hash and sha256d id`, async (h) => {
      const header = Buffer.from(h.headerHex, 'hex');
      expect(header.length).toBe(80);
      const out = await hasher.hash(header);
      expect(out.toString('hex')).toBe(h.scryptHashRawHex);
      expect(reversed(out).toString('hex')).toBe(h.powHash);
      expect(blockHash(header)).toBe(h.hash);
      expect(reversed(sha256d(header)).toString('hex')).not.toBe(h.powHash);
    });
  }

  it('the three hashers agree on many headers', async () => {
    for (let i = 0; i < 50; i++) {
      const header = Buffer.alloc(80);
      for (let j = 0; j < 80; j++) header[j] = (i * 131 + j * 17 + ((i * j) >> 3)) & 0xff;
      const [a, b] = await Promise.all(hashers.map((x) => x.hash(header)));
      expect(a.equals(b)).toBe(true);
    }
  });
});
