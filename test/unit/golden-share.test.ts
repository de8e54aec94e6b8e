import { afterAll, describe, expect, it } from 'vitest';
import golden from '../fixtures/regtest/stratum-golden.json' with { type: 'json' };
import { reversed, sha256d } from '../../src/work/bytes.js';
import { difficultyToTarget } from '../../src/work/difficulty.js';
import { blockHash } from '../../src/work/header.js';
import { parseNotify } from '../../src/work/job.js';
import { buildShareWork, checkShareFields, judgeHash } from '../../src/work/share.js';
import { NodeScryptHasher, ScryptJsHasher } from '../../src/work/scrypt.js';
import { SimdScryptPool } from '../../src/hash/simd-pool.js';

// The third hasher: the WebAssembly SIMD kernel on two worker threads.
const simd = await new SimdScryptPool({ threads: 2 }).start();
afterAll(() => simd.close());

const work = parseNotify(golden.job.notify_params);
const job = { ...work, mintime: work.curtime - 600 };
const extranonce1 = Buffer.from(golden.job.extranonce1, 'hex');
const shareTarget = difficultyToTarget(golden.job.difficulty);
const networkTarget = BigInt('0x' + golden.job.network_target);
const rows = [
  ...golden.vectors.map((v) => ({ ...v, kind: 'captured' })),
  ...golden.negative_vectors.map((v) => ({ ...v, kind: 'negative', coinbase_nonwitness_hex: undefined, merkle_root_internal_hex: undefined })),
];

describe('golden submits captured from cpuminer validate as the same share', () => {
  for (const hasher of [new NodeScryptHasher(), new ScryptJsHasher(), simd]) {
    it.each(rows)(`${hasher.name}: $kind nonce $submit_params.4`, async (row) => {
      const [, jobId, extranonce2, ntime, nonce] = row.submit_params;
      expect(jobId).toBe(job.id);
      const fields = checkShareFields(job, { extranonce2, ntime, nonce }, {
        extranonce2Size: golden.job.extranonce2_size,
        versionMask: 0,
        now: job.curtime,
        maxFutureSeconds: 600,
      });
      if (!fields.ok) throw new Error(fields.message);
      const built = buildShareWork(job, extranonce1, fields.share);
      if (row.coinbase_nonwitness_hex) expect(built.coinbase.toString('hex')).toBe(row.coinbase_nonwitness_hex);
      if (row.merkle_root_internal_hex) expect(built.merkleRoot.toString('hex')).toBe(row.merkle_root_internal_hex);
      expect(built.header.toString('hex')).toBe(row.header_hex);
      const pow = await hasher.hash(built.header);
      expect(pow.toString('hex')).toBe(row.scrypt_hash_raw_hex);
      expect(reversed(pow).toString('hex')).toBe(row.scrypt_hash_display_hex);
      const verdict = judgeHash(pow, shareTarget, networkTarget);
      expect(verdict.meetsShareTarget).toBe(row.meets_share_target);
      if ('meets_network_target' in row) expect(verdict.meetsNetworkTarget).toBe(row.meets_network_target);
    });
  }

  it('vector 0 is the block litecoind accepted', () => {
    const v = golden.vectors[0];
    expect(blockHash(Buffer.from(v.header_hex, 'hex'))).toBe(golden.end_to_end_block.block_hash);
    expect(golden.end_to_end_block.block_hex.startsWith(v.header_hex)).toBe(true);
    expect(reversed(sha256d(Buffer.from(v.coinbase_nonwitness_hex, 'hex'))).toString('hex')).toBe(v.coinbase_txid);
  });
});
