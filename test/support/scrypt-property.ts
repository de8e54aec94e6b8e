import { createHash, scryptSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The property test's 100,000 pseudo-random 80-byte headers, reproducible anywhere: header i is the first 80
 * bytes of SHA-256(SEED || i || 0) || SHA-256(SEED || i || 1) || SHA-256(SEED || i || 2).
 * OpenSSL's hashes of them are stored as one SHA-256 digest per chunk of CHUNK headers (the fixture is small;
 * a chunk that differs is re-hashed with OpenSSL by the test to name the header).
 */
export const PROPERTY_SEED = 'ltcpool scrypt-simd property v1';
export const PROPERTY_COUNT = 100_000;
export const PROPERTY_CHUNK = 1000;
export const PROPERTY_FIXTURE = new URL('../fixtures/work/scrypt-property.json', import.meta.url);

export function propertyHeaders(start: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(80 * count);
  const idx = Buffer.alloc(5);
  for (let i = 0; i < count; i++) {
    idx.writeUInt32LE(start + i, 0);
    for (let part = 0; part < 3; part++) {
      idx[4] = part;
      const d = createHash('sha256').update(PROPERTY_SEED).update(idx).digest();
      d.copy(out, 80 * i + 32 * part, 0, part === 2 ? 16 : 32);
    }
  }
  return out;
}

export const opensslLitecoin = (h: Buffer): Buffer => scryptSync(h, h, 32, { N: 1024, r: 1, p: 1 });

// Writes the fixture: npx tsx test/support/scrypt-property.ts (about 25 CPU-seconds).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const digests: string[] = [];
  for (let start = 0; start < PROPERTY_COUNT; start += PROPERTY_CHUNK) {
    const headers = propertyHeaders(start, PROPERTY_CHUNK);
    const h = createHash('sha256');
    for (let i = 0; i < PROPERTY_CHUNK; i++) h.update(opensslLitecoin(headers.subarray(80 * i, 80 * i + 80)));
    digests.push(h.digest('hex'));
  }
  const fixture = {
    source: `node ${process.version} crypto.scryptSync (OpenSSL ${process.versions.openssl}), N=1024 r=1 p=1 dkLen=32, written by test/support/scrypt-property.ts`,
    seed: PROPERTY_SEED,
    count: PROPERTY_COUNT,
    chunk: PROPERTY_CHUNK,
    headerRule: 'header i = first 80 bytes of SHA-256(seed || u32le(i) || 0) || SHA-256(seed || u32le(i) || 1) || SHA-256(seed || u32le(i) || 2)',
    chunkDigestRule: 'SHA-256 of the 32-byte scrypt outputs of headers chunk*k .. chunk*(k+1)-1, concatenated in order',
    chunkDigests: digests,
  };
  writeFileSync(PROPERTY_FIXTURE, JSON.stringify(fixture, null, 1) + '\n');
  console.log(`wrote ${fileURLToPath(PROPERTY_FIXTURE)}: ${digests.length} chunk digests`);
}
