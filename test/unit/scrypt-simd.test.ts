import { execFileSync, spawnSync } from 'node:child_process';
import { scryptSync as opensslScrypt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import golden from '../fixtures/regtest/stratum-golden.json' with { type: 'json' };
import headers from '../fixtures/mainnet/headers.json' with { type: 'json' };
import vectors from '../fixtures/mainnet/scrypt-vectors.json' with { type: 'json' };
import { KERNEL_WASM_URL, ScryptKernel, simdSupported } from '../../src/hash/kernel.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const openssl = (h: Buffer): Buffer => opensslScrypt(h, h, 32, { N: 1024, r: 1, p: 1 });
const pow = vectors.filter((v) => v.kind === 'litecoin-scrypt-pow');

describe('WebAssembly SIMD Scrypt kernel', () => {
  it('this Node has WebAssembly SIMD128', () => {
    expect(simdSupported()).toBe(true);
  });

  const kernel = new ScryptKernel();

  it('interleaves 8 lanes (4 for a last group of 4 or fewer) and takes 256 headers per call', () => {
    expect(kernel.lanes).toBe(4);
    expect(kernel.wideLanes).toBe(8);
    expect(kernel.maxBatch).toBe(256);
  });

  it.each(pow)('$id: litecoin proof-of-work vector', (v) => {
    const [out] = kernel.hash([Buffer.from(v.inputHeaderHex as string, 'hex')]);
    expect(out.toString('hex')).toBe(v.scryptOutputRawHex);
  });

  it('every mainnet header fixture, hashed together in one batch', () => {
    const out = kernel.hash(headers.map((h) => Buffer.from(h.headerHex, 'hex')));
    expect(out.map((o) => o.toString('hex'))).toEqual(headers.map((h) => h.scryptHashRawHex));
  });

  it('every golden cpuminer submit (valid and negative), in one batch', () => {
    const rows = [...golden.vectors, ...golden.negative_vectors];
    const out = kernel.hash(rows.map((r) => Buffer.from(r.header_hex, 'hex')));
    expect(out.map((o) => o.toString('hex'))).toEqual(rows.map((r) => r.scrypt_hash_raw_hex));
  });

  it.each([1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 255, 256, 257, 600])('a batch of %i keeps every result in its place', (n) => {
    const hs = Array.from({ length: n }, (_, i) => {
      const h = Buffer.alloc(80, i & 0xff);
      h.writeUInt32LE(Math.imul(i, 2654435761) >>> 0, 76);
      return h;
    });
    const out = kernel.hash(hs);
    // OpenSSL is checked on a sample (first, last, and around each 8- and 4-lane group and 256-header call edge).
    const sample = new Set([0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 12, n - 1, 255, 256, 257, 511, 512].filter((i) => i >= 0 && i < n));
    for (const i of sample) expect(out[i].toString('hex'), `header ${i} of ${n}`).toBe(openssl(hs[i]).toString('hex'));
    // Distinct inputs, distinct outputs: no lane's result was written into another's place.
    expect(new Set(out.map((o) => o.toString('hex'))).size).toBe(n);
  });

  it('hashInto reads and writes at the given offsets, leaving the rest alone', () => {
    const hs = [Buffer.alloc(80, 1), Buffer.alloc(80, 2), Buffer.alloc(80, 3)];
    const input = Buffer.concat([Buffer.alloc(5, 0xee), ...hs]);
    const output = Buffer.alloc(7 + 96, 0xaa);
    kernel.hashInto(input, 5, 3, output, 7);
    expect(output.subarray(0, 7).equals(Buffer.alloc(7, 0xaa))).toBe(true);
    hs.forEach((h, i) => expect(output.subarray(7 + 32 * i, 39 + 32 * i).equals(openssl(h))).toBe(true));
  });

  it('rejects a header that is not 80 bytes', () => {
    expect(() => kernel.hash([Buffer.alloc(79)])).toThrow(/80/);
  });
});

// CI rebuilds the kernel when the compiler is present: the committed bytes must be what the source builds to.
const clangVersion = (() => {
  const r = spawnSync(process.env.CLANG ?? 'clang', ['--version'], { encoding: 'utf8' });
  const wasmLd = spawnSync('wasm-ld', ['--version'], { encoding: 'utf8' });
  return r.status === 0 && wasmLd.status === 0 ? r.stdout.split('\n')[0] : undefined;
})();
const builtWith = readFileSync(join(root, 'native/scrypt-simd/BUILT_WITH'), 'utf8').trim();
const sameCompiler = clangVersion === builtWith;

describe('committed scrypt-simd.wasm', () => {
  it.skipIf(!sameCompiler)(`rebuilds byte for byte with ${builtWith} (skipped without that clang and wasm-ld)`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ltcpool-wasm-'));
    try {
      const out = join(dir, 'scrypt-simd.wasm');
      execFileSync(join(root, 'native/scrypt-simd/build.sh'), [out], { stdio: 'pipe' });
      const rebuilt = readFileSync(out);
      const committed = readFileSync(KERNEL_WASM_URL);
      expect(rebuilt.length, 'rebuilt size').toBe(committed.length);
      expect(rebuilt.equals(committed), 'src/hash/scrypt-simd.wasm differs from a fresh build of native/scrypt-simd/scrypt.c: run npm run build:wasm and commit it').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
