// A/B of the whole share path with the simd hasher (not part of npm run bench): stratum.maxHashesInFlight values
// (AB=64,256), worker threads (THREADS=2), rounds (ROUNDS=2), alternating, printing shares/s and CPU per share.
// Usage: AB=64,256 ROUNDS=2 npx tsx bench/path-ab.mts
import { SimdScryptPool } from '../src/hash/simd-pool.js';
import { fixtureConfig } from '../test/load/fixture-pool.js';
import { runLoadProcess, startBenchPool } from './stratum-path.js';

const variants = (process.env.AB ?? '64,256').split(',').map(Number);
for (let round = 0; round < Number(process.env.ROUNDS ?? 2); round++) {
  for (const maxHashesInFlight of variants) {
    const config = fixtureConfig({
      pool: { tag: '/ab/' },
      stratum: { maxHashesInFlight, limits: { messagesPerSecond: 1_000_000, messagesBurst: 1_000_000 } },
    });
    const hasher = await new SimdScryptPool({ threads: Number(process.env.THREADS ?? 2) }).start();
    const pool = await startBenchPool({ write: async () => undefined }, config, { hasher });
    const run = await runLoadProcess(pool, { connections: 50, inFlightPerConnection: 8, warmupMs: 1500, measureMs: 5000, drainMs: 3000, readyTimeoutMs: 10000 });
    const c = hasher.counters;
    console.log(`inFlight ${maxHashesInFlight}: ${run.client.acceptedPerSec.toFixed(0)}/s, ${run.server.cpuMicrosPerShare.toFixed(0)} µs CPU/share, client ${(run.client.clientCpuPercent * 10000 / run.client.acceptedPerSec).toFixed(0)} µs, ${(c.headers / c.batches).toFixed(1)}/msg, ELU ${(run.server.eventLoopUtilization*100).toFixed(0)}%, CPU ${run.server.processCpuPercent.toFixed(0)}%`);
    await pool.stop();
    await hasher.close();
  }
}
process.exit(0);
