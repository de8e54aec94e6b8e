/**
 * litecoind load of N pool instances (not part of `npm test`):
 * `npx tsx test/load/rpc-threads.ts [--instances 3,6] [--rpcthreads 4] [--seconds 10]`
 *
 * One regtest litecoind with `-rpcthreads=<rpcthreads>`; for each count N, N `ltcpool serve` processes (no
 * database; getbestblockhash every 250 ms, getblocktemplate on each new block) while a block is mined every
 * second. Reports per N: RPC calls/s by method and the time litecoind spent on them (from each instance's
 * ltcpool_rpc_duration_seconds: the average number of RPC threads kept busy), the most RPCs seen executing at
 * once (getrpcinfo sampled every 10 ms, the sampler's own call not counted), work-queue refusals, and how long
 * `litecoin-cli getblockcount` takes meanwhile (with no instance first, as the baseline). Loopback only,
 * bounded in time. Prints figures; never fails on timing.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { freePort } from '../harness/ports.js';
import { spawnPool, writeJson, type PoolProcess } from '../support/pool-process.js';

const CLI = process.env.LITECOIN_CLI ?? '/usr/bin/litecoin-cli';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1];
}

const counts = arg('instances', '3,6').split(',').map(Number);
const rpcThreads = Number(arg('rpcthreads', '4'));
const seconds = Number(arg('seconds', '10'));

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

/** ltcpool_rpc_duration_seconds sum and count by method, from an instance's /metrics. */
async function rpcFigures(httpPort: number): Promise<Map<string, { seconds: number; calls: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out = new Map<string, { seconds: number; calls: number }>();
  for (const m of text.matchAll(/^ltcpool_rpc_duration_seconds_(sum|count)\{method="([^"]+)"\} ([0-9.e+-]+)$/gm)) {
    const entry = out.get(m[2]) ?? { seconds: 0, calls: 0 };
    if (m[1] === 'sum') entry.seconds = Number(m[3]);
    else entry.calls = Number(m[3]);
    out.set(m[2], entry);
  }
  return out;
}

/** Wall time of `litecoin-cli getblockcount` (a new process each time, as an operator runs it). */
function cliCall(node: RegtestNode): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) =>
    execFile(CLI, ['-regtest', `-rpcport=${node.rpcPort}`, `-rpcuser=${node.rpcUser}`, `-rpcpassword=${node.rpcPassword}`, 'getblockcount'], { timeout: 30_000 }, (error) =>
      error ? reject(error) : resolve(performance.now() - started),
    ),
  );
}

interface Window { cliMs: number[]; peakActive: number; activeSamples: number[] }

/** Mines a block every second for `seconds`, calling litecoin-cli every 250 ms and sampling getrpcinfo every 10 ms. */
async function loadWindow(node: RegtestNode, address: string): Promise<Window> {
  const end = Date.now() + seconds * 1000;
  const cliMs: number[] = [];
  const activeSamples: number[] = [];
  const sampler = (async () => {
    while (Date.now() < end) {
      const info = await node.rpc<{ active_commands: Array<{ method: string }> }>('getrpcinfo');
      activeSamples.push(info.active_commands.length - 1);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const cli = (async () => {
    while (Date.now() < end) {
      cliMs.push(await cliCall(node));
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const miner = (async () => {
    while (Date.now() < end) {
      await node.mine(1, address);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  await Promise.all([sampler, cli, miner]);
  return { cliMs: cliMs.sort((a, b) => a - b), peakActive: Math.max(...activeSamples), activeSamples };
}

function describeWindow(label: string, w: Window): string {
  const busySamples = w.activeSamples.filter((n) => n > 0).length;
  return (
    `${label}: litecoin-cli getblockcount p50 ${percentile(w.cliMs, 50).toFixed(0)} ms, max ${w.cliMs[w.cliMs.length - 1].toFixed(0)} ms (${w.cliMs.length} calls); ` +
    `RPCs executing at once (other than the sampler): at most ${w.peakActive}, some in ${((100 * busySamples) / w.activeSamples.length).toFixed(1)} % of ${w.activeSamples.length} samples`
  );
}

async function main(): Promise<void> {
  const guard = setTimeout(() => {
    console.error('rpc-threads run exceeded its time bound: stopping');
    process.exit(1);
  }, (120 + counts.reduce((a, n) => a + n * 15 + seconds, 0)) * 1000);
  guard.unref();
  const node = await startRegtest({ mweb: false, extraArgs: [`-rpcthreads=${rpcThreads}`, '-rpcworkqueue=16'] });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-rpc-threads-'));
  const debugLog = path.join(node.datadir, 'regtest', 'debug.log');
  try {
    const threadsLine = fs.readFileSync(debugLog, 'utf8').split('\n').find((l) => /starting \d+ worker threads/.test(l));
    console.log(`litecoind regtest: ${threadsLine?.replace(/^\S+ /, '') ?? `-rpcthreads=${rpcThreads}`}, -rpcworkqueue=16; ${os.availableParallelism()} cores`);
    const address = await node.newAddress('bech32');
    console.log(describeWindow('0 instances', await loadWindow(node, address)));
    for (const n of counts) {
      const instances: Array<{ pool: PoolProcess; httpPort: number }> = [];
      try {
        for (let i = 1; i <= n; i++) {
          const [stratumPort, httpPort] = [await freePort(), await freePort()];
          const file = writeJson(path.join(tmp, `n${n}-${i}.json`), {
            network: 'regtest',
            instanceId: i,
            pool: { address },
            node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250 },
            stratum: { host: '127.0.0.1', ports: [{ port: stratumPort, difficulty: 0.001 }] },
            http: { host: '127.0.0.1', port: httpPort, dashboard: false },
            alerts: { enabled: false },
            history: { enabled: false },
            log: { level: 'info' },
          });
          instances.push({ pool: await spawnPool(file, stratumPort), httpPort });
        }
        const before = await Promise.all(instances.map((i) => rpcFigures(i.httpPort)));
        const startedAt = performance.now();
        const window = await loadWindow(node, address);
        const elapsed = (performance.now() - startedAt) / 1000;
        const after = await Promise.all(instances.map((i) => rpcFigures(i.httpPort)));
        const byMethod = new Map<string, { seconds: number; calls: number }>();
        after.forEach((figures, i) => {
          for (const [method, f] of figures) {
            const b = before[i].get(method) ?? { seconds: 0, calls: 0 };
            const entry = byMethod.get(method) ?? { seconds: 0, calls: 0 };
            byMethod.set(method, { seconds: entry.seconds + f.seconds - b.seconds, calls: entry.calls + f.calls - b.calls });
          }
        });
        const busy = [...byMethod.values()].reduce((a, f) => a + f.seconds, 0) / elapsed;
        const methods = [...byMethod].filter(([, f]) => f.calls > 0).sort((a, b) => b[1].calls - a[1].calls);
        console.log(describeWindow(`${n} instances`, window));
        console.log(
          `  calls per instance: ${methods.map(([m, f]) => `${m} ${(f.calls / n / elapsed).toFixed(2)}/s (mean ${((1000 * f.seconds) / Math.max(1, f.calls)).toFixed(1)} ms)`).join(', ')}; ` +
            `all ${n}: ${(methods.reduce((a, [, f]) => a + f.calls, 0) / elapsed).toFixed(1)} calls/s keeping ${busy.toFixed(3)} RPC threads busy on average (client-side time, an upper bound)`,
        );
        const refused = instances.filter((i) => /Work queue depth exceeded|503/.test(i.pool.output())).length;
        console.log(`  instances that met a work-queue refusal (HTTP 503): ${refused}`);
      } finally {
        await Promise.all(instances.map((i) => i.pool.kill('SIGTERM')));
      }
    }
    const queueErrors = fs.readFileSync(debugLog, 'utf8').split('\n').filter((l) => /Work queue depth exceeded|WARNING: request rejected/.test(l)).length;
    console.log(`litecoind debug.log: ${queueErrors} work-queue refusals`);
  } finally {
    await node.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
