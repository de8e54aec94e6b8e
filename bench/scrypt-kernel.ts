import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, scryptSync } from 'node:crypto';
import { ScryptKernel } from '../src/hash/kernel.js';
import { SimdScryptPool } from '../src/hash/simd-pool.js';

/** Hashes per CPU-second of this process (robust to other load on the machine) and per wall second. */
export interface PerCore {
  hashes: number;
  perCpuSecond: number;
  perWallSecond: number;
}

function timed(seconds: number, step: () => number): PerCore {
  step(); // warm-up (compilation, first touch of the scratchpads)
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let hashes = 0;
  while (performance.now() - t0 < seconds * 1000) hashes += step();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { hashes, perCpuSecond: hashes / ((cpu.user + cpu.system) / 1e6), perWallSecond: hashes / wall };
}

/** OpenSSL (crypto.scryptSync) on this thread, one hash at a time. */
export function benchOpensslOneThread(seconds = 3): PerCore {
  const h = randomBytes(80);
  return timed(seconds, () => {
    h.writeUInt32LE((h.readUInt32LE(76) + 1) >>> 0, 76);
    scryptSync(h, h, 32, { N: 1024, r: 1, p: 1 });
    return 1;
  });
}

/** The kernel on this thread, 64 headers per call. */
export function benchKernelOneThread(seconds = 3): PerCore & { lanes: number; wideLanes: number } {
  const kernel = new ScryptKernel();
  const input = randomBytes(80 * 64);
  const output = Buffer.alloc(32 * 64);
  const r = timed(seconds, () => {
    input.writeUInt32LE((input.readUInt32LE(0) + 1) >>> 0, 0);
    kernel.hashInto(input, 0, 64, output, 0);
    return 64;
  });
  return { ...r, lanes: kernel.lanes, wideLanes: kernel.wideLanes };
}

/**
 * The worker pool (threads = cores by default), fed through hash() one header at a time as the pool's share
 * path feeds it, with `inFlight` hashes outstanding so no worker idles.
 */
export async function benchKernelPool(seconds = 3, threads?: number, inFlight?: number): Promise<{ hashesPerSec: number; perCpuSecond: number; threads: number; batches: number; hashes: number }> {
  const pool = await new SimdScryptPool({ threads }).start();
  try {
    const outstanding = inFlight ?? 64 * pool.threads;
    const base = randomBytes(80);
    let n = 0;
    const one = () => {
      const h = Buffer.from(base);
      h.writeUInt32LE(n++, 76);
      return pool.hash(h);
    };
    await Promise.all(Array.from({ length: 8 * pool.threads }, one)); // warm-up
    const batches0 = pool.counters.batches;
    let hashes = 0;
    let stop = false;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    const lane = async () => {
      while (!stop) {
        await one();
        hashes++;
        if (performance.now() >= deadline) stop = true;
      }
    };
    await Promise.all(Array.from({ length: outstanding }, lane));
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0); // every thread of the process: the workers and the main thread feeding them
    return { hashesPerSec: hashes / wall, perCpuSecond: hashes / ((cpu.user + cpu.system) / 1e6), threads: pool.threads, batches: pool.counters.batches - batches0, hashes };
  } finally {
    await pool.close();
  }
}

/**
 * cpuminer's own benchmark (`minerd --benchmark -a scrypt -t 1`), the physical reference, when `minerd` is on
 * PATH: the last per-thread rate it prints within `seconds`. Undefined when absent.
 */
export async function benchCpuminer(seconds = 8): Promise<{ hashesPerSec: number; line: string } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v minerd'], { encoding: 'utf8' }).status !== 0) return undefined;
  return new Promise((resolve) => {
    const child = spawn('minerd', ['--benchmark', '-a', 'scrypt', '-t', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last: { hashesPerSec: number; line: string } | undefined;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        const m = /thread 0: \d+ hashes, ([\d.]+) (k?)hash\/s/.exec(line);
        if (m) last = { hashesPerSec: Number(m[1]) * (m[2] === 'k' ? 1000 : 1), line: line.trim() };
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill(), seconds * 1000);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(last);
    });
    child.on('error', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}
