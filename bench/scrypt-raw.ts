import { randomBytes, scrypt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
// scrypt-js is CommonJS without statically detectable exports: under Node's ESM loader only the default import works.
import scryptJs from 'scrypt-js';

const jsScrypt = scryptJs.scrypt;
// Litecoin proof of work, as in src/work/scrypt.ts (not imported from there, see bench/hasher.ts).
const N = 1024;
const r = 1;
const p = 1;
const dkLen = 32;

export interface ScryptRawResult {
  hashesPerSec: number;
  hashes: number;
  seconds: number;
  inFlight: number;
  threadPoolSize: number;
  /** Process CPU time per hash (all threads), microseconds: robust to other load on the machine. */
  cpuMicrosPerHash: number;
}

/** libuv's pool size as this process sees it (UV_THREADPOOL_SIZE, default 4). */
export function threadPoolSize(): number {
  const fromEnv = Number(process.env.UV_THREADPOOL_SIZE);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 4;
}

/**
 * crypto.scrypt (libuv thread pool) with enough calls outstanding that no pool thread ever idles:
 * the most Scrypt this process can do, the ceiling for shares validated per second.
 */
export async function benchScryptNode(options: { seconds?: number; inFlight?: number } = {}): Promise<ScryptRawResult> {
  const seconds = options.seconds ?? 3;
  const pool = threadPoolSize();
  const inFlight = options.inFlight ?? Math.max(4 * pool, 4 * availableParallelism());
  const inputs = Array.from({ length: 1024 }, () => randomBytes(80));
  const once = (i: number) =>
    new Promise<void>((resolve, reject) =>
      scrypt(inputs[i & 1023], inputs[i & 1023], dkLen, { N, r, p }, (err) => (err ? reject(err) : resolve())),
    );
  // Warm the pool threads (they start lazily) before timing.
  await Promise.all(Array.from({ length: pool * 4 }, (_, i) => once(i)));
  let hashes = 0;
  let stop = false;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const lane = async (): Promise<void> => {
    while (!stop) {
      await once(hashes);
      hashes++;
      if (performance.now() >= deadline) stop = true;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return { hashesPerSec: hashes / elapsed, hashes, seconds: elapsed, inFlight, threadPoolSize: pool, cpuMicrosPerHash: (cpu.user + cpu.system) / hashes };
}

/** scrypt-js on the main thread, one hash at a time: the pure-JavaScript reference. */
export async function benchScryptJs(options: { seconds?: number } = {}): Promise<{ hashesPerSec: number; hashes: number }> {
  const seconds = options.seconds ?? 1.5;
  const input = randomBytes(80);
  await jsScrypt(input, input, N, r, p, dkLen);
  let hashes = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    input.writeUInt32LE(hashes, 76);
    await jsScrypt(input, input, N, r, p, dkLen);
    hashes++;
  }
  return { hashesPerSec: hashes / ((performance.now() - started) / 1000), hashes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const node = await benchScryptNode();
  console.log(`crypto.scrypt: ${Math.round(node.hashesPerSec)} H/s (${node.inFlight} in flight, UV_THREADPOOL_SIZE=${node.threadPoolSize})`);
  const js = await benchScryptJs();
  console.log(`scrypt-js: ${Math.round(js.hashesPerSec)} H/s (one thread)`);
}
