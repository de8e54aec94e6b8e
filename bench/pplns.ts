/**
 * PPLNS over a 1,000,000-share window, ~5,000 miners. Prints a line; never fails on timing.
 * Shares are newest-first by seq, as `ORDER BY seq DESC` returns them; 1.2M are generated so the walk has to
 * stop at the window edge (the 1,000,000th share straddles it). Only the split is timed.
 */
import { pathToFileURL } from 'node:url';
import { resolveFeeConfig, splitPplns } from '../src/payouts/schemes/index.js';
import type { PayoutShare } from '../src/payouts/types.js';

const WINDOW_SHARES = 1_000_000;
const GENERATED_SHARES = 1_200_000;
const MINERS = 5_000;
const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeShares(): { shares: PayoutShare[]; windowWeight: bigint } {
  const rand = prng(42);
  const addresses = Array.from({ length: MINERS }, () => {
    let a = 'ltc1q';
    for (let i = 0; i < 38; i++) a += BECH32[Math.floor(rand() * 32)];
    return a;
  });
  // share difficulties from CPU-ish (0.001) to ASIC-ish (~4M), in micro-difficulty
  const shares: PayoutShare[] = new Array(GENERATED_SHARES);
  let windowWeight = 0n;
  for (let i = 0; i < GENERATED_SHARES; i++) {
    const weight = BigInt(1000 + Math.floor(rand() * 2 ** 42));
    shares[i] = { address: addresses[Math.floor(rand() * MINERS)], weight, seq: BigInt(GENERATED_SHARES - i) };
    if (i < WINDOW_SHARES - 1) windowWeight += weight;
    else if (i === WINDOW_SHARES - 1) windowWeight += weight / 2n;
  }
  return { shares, windowWeight };
}

export async function benchPplns(): Promise<{ shares: number; ms: number }> {
  const { shares, windowWeight } = makeShares();
  const fee = resolveFeeConfig({ feePercent: '1.5', recipients: [{ address: 'ltc1qpoolfee' }] });
  const reward = 625_000_000n;
  const started = performance.now();
  const result = splitPplns({ reward, fee, finder: shares[0].address, shares, blockSeq: shares[0].seq, windowWeight });
  const ms = performance.now() - started;
  const paid = result.credits.reduce((s, c) => s + c.amount, 0n);
  if (paid !== reward || result.shareCount !== WINDOW_SHARES || result.totalWeight !== windowWeight) {
    throw new Error(`bench result is wrong: paid ${paid}, shares ${result.shareCount}, weight ${result.totalWeight}`);
  }
  console.log(
    `pplns: ${result.shareCount} shares in window, ${result.credits.length} credits, ${ms.toFixed(1)} ms (target < 1000 ms)`,
  );
  return { shares: result.shareCount, ms };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await benchPplns();
}
