import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ScryptKernel } from '../../src/hash/kernel.js';
import { PROPERTY_FIXTURE, opensslLitecoin, propertyHeaders } from '../support/scrypt-property.js';

// The kernel against OpenSSL on 100,000 pseudo-random headers. OpenSSL's results were computed once
// (test/support/scrypt-property.ts) and are stored as a digest per 1,000; this run hashes only with the kernel
// (about 11 CPU-seconds), and re-hashes a differing chunk with OpenSSL to name the first header that differs.
// Fresh random headers each run are checked against live OpenSSL as well.
const fixture = JSON.parse(readFileSync(PROPERTY_FIXTURE, 'utf8')) as { count: number; chunk: number; chunkDigests: string[] };

describe('WebAssembly SIMD Scrypt kernel equals OpenSSL', () => {
  const kernel = new ScryptKernel();

  it(`on the ${fixture.count} stored pseudo-random headers`, () => {
    expect(fixture.chunkDigests.length * fixture.chunk).toBe(fixture.count);
    const output = Buffer.alloc(32 * fixture.chunk);
    const bad: string[] = [];
    fixture.chunkDigests.forEach((digest, k) => {
      const input = propertyHeaders(k * fixture.chunk, fixture.chunk);
      kernel.hashInto(input, 0, fixture.chunk, output, 0);
      if (createHash('sha256').update(output).digest('hex') === digest) return;
      for (let i = 0; i < fixture.chunk; i++) {
        const header = input.subarray(80 * i, 80 * i + 80);
        if (!opensslLitecoin(header).equals(output.subarray(32 * i, 32 * i + 32))) {
          bad.push(`#${k * fixture.chunk + i} ${header.toString('hex')}`);
          break;
        }
      }
    });
    expect(bad, 'first differing header of each bad chunk').toEqual([]);
  }, 600_000);

  it('on 1,000 fresh random headers, against OpenSSL now', () => {
    const input = randomBytes(80 * 1000);
    const output = Buffer.alloc(32 * 1000);
    kernel.hashInto(input, 0, 1000, output, 0);
    for (let i = 0; i < 1000; i++) {
      const header = input.subarray(80 * i, 80 * i + 80);
      expect(output.subarray(32 * i, 32 * i + 32).toString('hex'), header.toString('hex')).toBe(opensslLitecoin(header).toString('hex'));
    }
  }, 120_000);
});
