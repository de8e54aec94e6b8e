/**
 * Load harness (not part of `npm test`): `npx tsx test/load/run.ts [--connections 5000] [--sources 16] [--share-clients 200] [--rounds 3]`
 * (`--connections 19000` for the full target; this machine caps a process at 20,000 open files).
 *
 * Loopback only, bounded in count and time. Three processes: this one (coordinator), a server (the pool's
 * Stratum role on a fixture template, or a bare node `net` server writing the same bytes) and a client
 * process holding every connection, spread over several 127.0.0.x source addresses. Reports connections
 * held, server RSS per connection, time to deliver one mining.notify to every connection (p50/p99/max) while
 * some connections submit shares, shares/s, and the pool/bare ratios. Prints figures; never fails on timing.
 *
 * `--instances 3 --connections 50000`: several pool processes at once on one private PostgreSQL (the pool's
 * ShareWriter), each with its own client process connected straight to it; see runInstances. Every child
 * process starts with its soft open-file limit raised to the hard one.
 */
import { spawn as spawnProcess, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { connect, createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { onLines } from '../support/stratum-lines.js';

const SELF = fileURLToPath(import.meta.url);
const now = () => performance.timeOrigin + performance.now();

interface Args {
  instances: number;
  connections: number;
  shareSeconds: number;
  sources: number;
  shareClients: number;
  rounds: number;
  timeoutSeconds: number;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: number) => {
    const i = argv.indexOf(`--${name}`);
    const value = i === -1 ? fallback : Number(argv[i + 1]);
    if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a number`);
    return value;
  };
  const instances = Math.max(1, Math.min(8, get('instances', 1)));
  const args = {
    instances,
    // one process holds at most ~19,500 (this machine's open-file cap is 20,000 per process)
    connections: Math.min(19_500 * instances, get('connections', 5000)),
    shareSeconds: Math.max(3, get('share-seconds', 10)),
    sources: Math.max(1, Math.min(250, get('sources', 16))),
    shareClients: get('share-clients', 200),
    rounds: Math.max(1, get('rounds', 3)),
    timeoutSeconds: get('timeout', 0),
  };
  args.shareClients = Math.min(args.shareClients, Math.floor(args.connections / instances));
  if (args.timeoutSeconds === 0) args.timeoutSeconds = 300 + Math.ceil(args.connections / 25);
  return args;
}

type Kind = 'pool' | 'bare';
type Message = Record<string, unknown> & { type: string };

function request(child: ChildProcess, message: Message, reply: string, timeoutMs = 120_000): Promise<Message> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${reply} from child within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: Message) => {
      if (m.type !== reply) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------- server process

/** `databaseUrl`: accepted shares go to PostgreSQL through the pool's ShareWriter (several instances at once). */
async function serverMain(kind: Kind, instanceId = 1, databaseUrl?: string): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  let connections: () => number;
  let broadcast: () => void;
  if (kind === 'pool') {
    const { startFixturePool } = await import('./fixture-pool.js');
    const writer = databaseUrl ? await startShareWriter(databaseUrl, instanceId) : undefined;
    const pool = await startFixturePool(
      {
        instanceId,
        stratum: {
          limits: { connectionsPerIp: 100_000, authorizeTimeoutSeconds: 600, idleTimeoutSeconds: 600 },
          jobRebroadcastSeconds: 60,
        },
      },
      { sink: writer },
    );
    connections = () => pool.server.connectionCount;
    broadcast = () => void pool.jobs.rebroadcast();
    gc?.();
    process.send!({ type: 'listening', port: pool.port, rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
  } else {
    const { notifyLine, subscribeAnswer } = await bareLines();
    const sockets = new Set<Socket>();
    const server = createServer({ noDelay: true }, (socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => sockets.delete(socket));
      onLines(socket, (line) => {
        const id = /"id":(\d+)/.exec(line)?.[1] ?? 'null';
        // the same bytes the pool writes: subscribe answer, authorize + difficulty + work, share answers
        if (line.includes('mining.subscribe')) socket.write(subscribeAnswer.replace('"id":1', `"id":${id}`));
        else if (line.includes('mining.authorize')) socket.write(`{"id":${id},"result":true,"error":null}\n{"id":null,"method":"mining.set_difficulty","params":[1e-9]}\n` + notifyLine);
        else socket.write(`{"id":${id},"result":true,"error":null}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
    connections = () => sockets.size;
    broadcast = () => {
      for (const socket of sockets) socket.write(notifyLine);
    };
    gc?.();
    const address = server.address();
    process.send!({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0, rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed });
  }
  process.on('message', (m: Message) => {
    if (m.type === 'stats') {
      gc?.();
      const usage = process.memoryUsage();
      process.send!({ type: 'stats', connections: connections(), rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external + usage.arrayBuffers, openFiles: openFileLimit() });
    } else if (m.type === 'broadcast') {
      const at = now();
      broadcast();
      process.send!({ type: 'broadcast', at, writeMs: now() - at });
    } else if (m.type === 'exit') {
      process.exit(0);
    }
  });
}

/** The pool's ShareWriter on `databaseUrl` (batches, COPY-free multi-row inserts, spool in a temp dir). */
async function startShareWriter(databaseUrl: string, instanceId: number) {
  const os = await import('node:os');
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { createPool } = await import('../../src/store/db.js');
  const { ShareWriter } = await import('../../src/store/share-writer.js');
  const spoolDir = fs.mkdtempSync(path.join(os.tmpdir(), `ltcpool-load-spool-${instanceId}-`));
  process.on('exit', () => fs.rmSync(spoolDir, { recursive: true, force: true }));
  const writer = new ShareWriter({ pool: createPool({ url: databaseUrl, max: 3, applicationName: `ltcpool-load-${instanceId}` }), spoolDir });
  await writer.start({ databaseReady: true });
  return writer;
}

/** This process's soft open-file limit (/proc/self/limits). */
function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s{2,}/)[1]);
}

/** The notify line the pool sends for the fixture job (built the same way), and a subscribe answer. */
async function bareLines(): Promise<{ notifyLine: string; subscribeAnswer: string }> {
  const { fixtureTemplate, FIXTURE_ADDRESS } = await import('./fixture-pool.js');
  const { buildJob, notifyParams } = await import('../../src/work/job.js');
  const { decodeAddress } = await import('../../src/work/address.js');
  const { encodeNotification } = await import('../../src/stratum/codec.js');
  const job = buildJob(fixtureTemplate(), {
    id: 'abcd',
    payoutScript: decodeAddress(FIXTURE_ADDRESS, 'regtest'),
    poolTag: Buffer.from('/ltcpool-hardening/'),
    extranonce1Size: 4,
    extranonce2Size: 4,
    createdAt: Date.now(),
  });
  return {
    notifyLine: encodeNotification('mining.notify', notifyParams(job, false)),
    subscribeAnswer: '{"id":1,"result":[[["mining.set_difficulty","0a000001"],["mining.notify","0a000001"]],"0a000001",4],"error":null}\n',
  };
}

// ---------------------------------------------------------------- client process

interface Conn {
  socket: Socket;
  jobId: string;
  ntime: string;
  gotJob: boolean;
  notifyAt: number;
  e2: number;
  inFlight: number;
}

async function clientMain(): Promise<void> {
  const conns: Conn[] = [];
  let armed = false;
  let sharing = false;
  let accepted = 0;
  let answered = 0;
  const username = 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg.load';

  const submit = (c: Conn) => {
    while (sharing && c.inFlight < 2 && c.jobId && !c.socket.destroyed) {
      c.inFlight++;
      c.e2++;
      c.socket.write(`{"id":${100 + c.e2},"method":"mining.submit","params":["${username}","${c.jobId}","${c.e2.toString(16).padStart(8, '0')}","${c.ntime}","00000000"]}\n`);
    }
  };

  const onLine = (c: Conn, line: string) => {
    if (line.includes('"method":"mining.notify"')) {
      if (armed && c.notifyAt === 0) c.notifyAt = now();
      const params = (JSON.parse(line) as { params: unknown[] }).params;
      c.jobId = String(params[0]);
      c.ntime = String(params[7]);
      c.gotJob = true;
      return;
    }
    const id = /^\{"id":(\d+)/.exec(line);
    if (id && Number(id[1]) >= 100) {
      answered++;
      if (line.includes('"result":true')) accepted++;
      c.inFlight--;
      submit(c);
    }
  };

  const open = (port: number, source: string): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, localAddress: source });
      const c: Conn = { socket, jobId: '', ntime: '', gotJob: false, notifyAt: 0, e2: 0, inFlight: 0 };
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => undefined);
        socket.write(`{"id":1,"method":"mining.subscribe","params":["load/1"]}\n{"id":2,"method":"mining.authorize","params":["${username}","x"]}\n`);
        resolve(c);
      });
      socket.once('error', reject);
      onLines(socket, (line) => onLine(c, line));
    });

  process.on('message', async (m: Message) => {
    if (m.type === 'open') {
      const { port, count, sources } = m as unknown as { port: number; count: number; sources: number };
      let failed = 0;
      for (let i = 0; i < count; i += 250) {
        const batch = Array.from({ length: Math.min(250, count - i) }, (_, j) => open(port, `127.0.0.${((i + j) % sources) + 1}`));
        for (const result of await Promise.allSettled(batch)) {
          if (result.status === 'fulfilled') conns.push(result.value);
          else failed++;
        }
      }
      const deadline = Date.now() + 60_000;
      while (conns.some((c) => !c.gotJob) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      process.send!({ type: 'opened', held: conns.filter((c) => !c.socket.destroyed).length, withWork: conns.filter((c) => c.gotJob).length, failed });
    } else if (m.type === 'shares') {
      sharing = Boolean(m.on);
      if (sharing) for (const c of conns.slice(0, Number(m.clients))) submit(c);
      process.send!({ type: 'shares', accepted, answered, at: now() });
    } else if (m.type === 'arm') {
      for (const c of conns) c.notifyAt = 0;
      armed = true;
      process.send!({ type: 'armed' });
    } else if (m.type === 'collect') {
      const deadline = Date.now() + 30_000;
      while (conns.some((c) => c.notifyAt === 0 && !c.socket.destroyed) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      armed = false;
      process.send!({ type: 'collected', times: conns.map((c) => c.notifyAt) });
    } else if (m.type === 'exit') {
      for (const c of conns) c.socket.destroy();
      process.exit(0);
    }
  });
  process.send!({ type: 'client-ready' });
}

// ---------------------------------------------------------------- coordinator

interface RunResult {
  kind: Kind;
  held: number;
  rssPerConnKB: number;
  p50: number;
  p99: number;
  max: number;
  delivered: number;
  sharesPerSecond: number;
  writeMs: number;
}

/** A role of this file in its own node process, its soft open-file limit raised to the hard one first. */
function spawn(role: string, extra: string[] = []): ChildProcess {
  const argv = [process.execPath, '--import', 'tsx', '--expose-gc', SELF, role, ...extra];
  return spawnProcess('/bin/sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'sh', ...argv], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function runOne(kind: Kind, args: Args): Promise<RunResult> {
  const server = spawn('server', [kind]);
  const client = spawn('client');
  try {
    const listening = await new Promise<Message>((resolve) => server.once('message', (m: Message) => resolve(m)));
    await new Promise<void>((resolve) => client.once('message', () => resolve()));
    const opened = await request(client, { type: 'open', port: listening.port, count: args.connections, sources: args.sources }, 'opened', 120_000 + args.connections * 30);
    const stats = await request(server, { type: 'stats' }, 'stats');
    const held = Number(stats.connections);
    const rssPerConnKB = (Number(stats.rss) - Number(listening.rss)) / Math.max(1, held) / 1024;
    const heapPerConnKB = (Number(stats.heapUsed) - Number(listening.heapUsed)) / Math.max(1, held) / 1024;
    console.log(
      `[${kind}] held ${held} connections (${opened.withWork} with work, ${opened.failed} failed to open); server RSS ${(Number(stats.rss) / 1e6).toFixed(0)} MB, ` +
        `RSS/conn ${rssPerConnKB.toFixed(2)} KB, JS heap/conn ${heapPerConnKB.toFixed(2)} KB`,
    );

    const sharesStart = await request(client, { type: 'shares', on: true, clients: args.shareClients }, 'shares');
    await new Promise((r) => setTimeout(r, 1000));
    const latencies: number[] = [];
    let delivered = 0;
    let writeMs = 0;
    for (let round = 0; round < args.rounds; round++) {
      await request(client, { type: 'arm' }, 'armed');
      const sent = await request(server, { type: 'broadcast' }, 'broadcast');
      writeMs = Math.max(writeMs, Number(sent.writeMs));
      const collected = await request(client, { type: 'collect' }, 'collected', 60_000);
      const times = collected.times as number[];
      const got = times.filter((t) => t > 0).map((t) => t - Number(sent.at));
      delivered += got.length;
      latencies.push(...got);
      const sorted = [...got].sort((a, b) => a - b);
      console.log(`[${kind}] round ${round + 1}: notify to ${got.length}/${times.length} connections: p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms (broadcast call ${Number(sent.writeMs).toFixed(1)} ms)`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const sharesEnd = await request(client, { type: 'shares', on: false, clients: 0 }, 'shares');
    const seconds = (Number(sharesEnd.at) - Number(sharesStart.at)) / 1000;
    const sharesPerSecond = (Number(sharesEnd.accepted) - Number(sharesStart.accepted)) / seconds;
    const sorted = latencies.sort((a, b) => a - b);
    return {
      kind,
      held,
      rssPerConnKB,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted[sorted.length - 1] ?? Number.NaN,
      delivered: delivered / args.rounds,
      sharesPerSecond,
      writeMs,
    };
  } finally {
    if (server.connected) server.send({ type: 'exit' });
    if (client.connected) client.send({ type: 'exit' });
    await new Promise((r) => setTimeout(r, 500));
    server.kill();
    client.kill();
  }
}

// ---------------------------------------------------------------- several instances on one PostgreSQL

/** CPU seconds (user + system) of these processes so far, from /proc/<pid>/stat; gone processes count 0. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      /* exited */
    }
  }
  return ticks / 100; // USER_HZ
}

/** The postmaster listening on `port` (its command line has `-p <port>`) and all its children. */
function postgresPids(port: number): number[] {
  const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  const postmaster = pids.find((pid) => {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.some((a) => a.endsWith('postgres')) && argv.includes('-p') && argv[argv.indexOf('-p') + 1] === String(port);
    } catch {
      return false;
    }
  });
  if (postmaster === undefined) return [];
  return [postmaster, ...pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(postmaster);
    } catch {
      return false;
    }
  })];
}

/**
 * `--instances N`: N pool processes at once (each the Stratum role with the pool's ShareWriter), all writing to
 * one private PostgreSQL, each with its own client process connected straight to it (a load balancer's own file
 * limit does not count). Reports connections held per instance and in total, notify latency per instance (one
 * broadcast on every instance at the same moment, as on a new block), shares/s per instance, database rows/s,
 * and the CPU of PostgreSQL, the pool processes and the clients over the share window.
 */
async function runInstances(args: Args): Promise<void> {
  const { startPrivatePostgres } = await import('../../src/devnet/postgres.js');
  const { createPool } = await import('../../src/store/db.js');
  const { migrate } = await import('../../src/store/migrations.js');
  const database = await startPrivatePostgres();
  const db = createPool({ url: database.url, max: 1 });
  await migrate(db);
  const pgPort = Number(new URL(database.url).port);
  const n = args.instances;
  const servers = Array.from({ length: n }, (_, i) => spawn('server', ['pool', String(i + 1), database.url]));
  const clients = Array.from({ length: n }, () => spawn('client'));
  const per = Math.ceil(args.connections / n);
  try {
    const listening = await Promise.all(servers.map((server) => new Promise<Message>((resolve) => server.once('message', (m: Message) => resolve(m)))));
    await Promise.all(clients.map((client) => new Promise<void>((resolve) => client.once('message', () => resolve()))));
    const openedAt = now();
    const opened = await Promise.all(
      clients.map((client, i) => request(client, { type: 'open', port: listening[i].port, count: per, sources: args.sources }, 'opened', 120_000 + per * 30)),
    );
    const stats = await Promise.all(servers.map((server) => request(server, { type: 'stats' }, 'stats')));
    const held = stats.map((st) => Number(st.connections));
    console.log(
      `[instances] ${n} pool processes held ${held.reduce((a, b) => a + b, 0)} connections in total (${held.join(' + ')}; ` +
        `${opened.reduce((a, o) => a + Number(o.failed), 0)} failed to open) after ${((now() - openedAt) / 1000).toFixed(0)} s; ` +
        `open-file limit per process ${stats.map((st) => st.openFiles).join(', ')}; RSS ${stats.map((st) => `${(Number(st.rss) / 1e6).toFixed(0)} MB`).join(', ')}`,
    );

    const pgPids = postgresPids(pgPort);
    const serverPids = servers.map((server) => server.pid!);
    const clientPids = clients.map((client) => client.pid!);
    const rows = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM shares')).rows[0].n);
    const rowsStart = await rows();
    const cpuStart = [cpuSeconds(postgresPids(pgPort)), ...serverPids.map((pid) => cpuSeconds([pid])), cpuSeconds(clientPids)];
    const sharesStart = await Promise.all(clients.map((client) => request(client, { type: 'shares', on: true, clients: args.shareClients }, 'shares')));
    const windowStart = now();
    await new Promise((r) => setTimeout(r, 1000));
    const latencies: number[][] = servers.map(() => []);
    for (let round = 0; round < args.rounds; round++) {
      await Promise.all(clients.map((client) => request(client, { type: 'arm' }, 'armed')));
      const sent = await Promise.all(servers.map((server) => request(server, { type: 'broadcast' }, 'broadcast')));
      const collected = await Promise.all(clients.map((client) => request(client, { type: 'collect' }, 'collected', 60_000)));
      collected.forEach((c, i) => latencies[i].push(...(c.times as number[]).filter((t) => t > 0).map((t) => t - Number(sent[i].at))));
      await new Promise((r) => setTimeout(r, 500));
    }
    const rest = args.shareSeconds * 1000 - (now() - windowStart);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    const sharesEnd = await Promise.all(clients.map((client) => request(client, { type: 'shares', on: false, clients: 0 }, 'shares')));
    const cpuEnd = [cpuSeconds(postgresPids(pgPort)), ...serverPids.map((pid) => cpuSeconds([pid])), cpuSeconds(clientPids)];
    const windowSeconds = (now() - windowStart) / 1000;
    // the writers commit every few ms: what was acknowledged is in the table a moment later
    await new Promise((r) => setTimeout(r, 1000));
    const rowsEnd = await rows();

    console.log('');
    console.log('instance  held    notify p50   p99       max       shares/s  CPU (cores)');
    let totalShares = 0;
    servers.forEach((_, i) => {
      const sorted = latencies[i].sort((a, b) => a - b);
      const seconds = (Number(sharesEnd[i].at) - Number(sharesStart[i].at)) / 1000;
      const perSecond = (Number(sharesEnd[i].accepted) - Number(sharesStart[i].accepted)) / seconds;
      totalShares += perSecond;
      console.log(
        `${String(i + 1).padEnd(9)} ${String(held[i]).padEnd(7)} ${percentile(sorted, 50).toFixed(1).padStart(7)} ms ${percentile(sorted, 99).toFixed(1).padStart(7)} ms ` +
          `${(sorted[sorted.length - 1] ?? Number.NaN).toFixed(1).padStart(7)} ms ${perSecond.toFixed(0).padStart(8)}  ${((cpuEnd[i + 1] - cpuStart[i + 1]) / windowSeconds).toFixed(2)}`,
      );
    });
    const cpu = cpuEnd.map((c, i) => (c - cpuStart[i]) / windowSeconds);
    const poolCpu = cpu.slice(1, n + 1).reduce((a, b) => a + b, 0);
    console.log('');
    console.log(`shares: ${totalShares.toFixed(0)}/s accepted in total; database rows ${((rowsEnd - rowsStart) / windowSeconds).toFixed(0)}/s (${rowsEnd - rowsStart} rows in ${windowSeconds.toFixed(1)} s)`);
    console.log(
      `CPU over the ${windowSeconds.toFixed(1)} s window (cores of ${availableParallelism()}): PostgreSQL ${cpu[0].toFixed(2)} (${pgPids.length} processes), ` +
        `pool processes ${poolCpu.toFixed(2)}, load clients ${cpu[n + 1].toFixed(2)}; the database's share of the pool's CPU (PostgreSQL / (PostgreSQL + pool processes)) ${((100 * cpu[0]) / (cpu[0] + poolCpu)).toFixed(1)} %`,
    );
  } finally {
    for (const child of [...servers, ...clients]) if (child.connected) child.send({ type: 'exit' });
    await new Promise((r) => setTimeout(r, 500));
    for (const child of [...servers, ...clients]) child.kill();
    await db.end();
    await database.stop();
  }
}

async function coordinatorMain(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const guard = setTimeout(() => {
    console.error(`load run exceeded ${args.timeoutSeconds} s: stopping`);
    process.exit(0);
  }, args.timeoutSeconds * 1000);
  guard.unref();
  if (args.instances > 1) {
    console.log(
      `load: ${args.instances} instances on one PostgreSQL, ${args.connections} connections in total over ${args.sources} source addresses, ` +
        `${args.shareClients} connections per instance submitting shares for ${args.shareSeconds} s, ${args.rounds} broadcast rounds`,
    );
    return runInstances(args);
  }
  console.log(`load: ${args.connections} connections over ${args.sources} source addresses (127.0.0.1-${args.sources}), ${args.shareClients} submitting shares, ${args.rounds} broadcast rounds`);
  const results: RunResult[] = [];
  for (const kind of ['pool', 'bare'] as const) results.push(await runOne(kind, args));
  console.log('');
  console.log('kind  held    RSS/conn   notify p50   p99       max       shares/s  (accepted, same time)');
  for (const r of results) {
    console.log(
      `${r.kind.padEnd(5)} ${String(r.held).padEnd(7)} ${r.rssPerConnKB.toFixed(2).padStart(6)} KB  ${r.p50.toFixed(1).padStart(7)} ms ${r.p99.toFixed(1).padStart(7)} ms ${r.max.toFixed(1).padStart(7)} ms ${r.sharesPerSecond.toFixed(0).padStart(8)}`,
    );
  }
  const [pool, bare] = results;
  console.log('');
  console.log(`ratios pool/bare: RSS per connection ${(pool.rssPerConnKB / bare.rssPerConnKB).toFixed(2)}x, notify p50 ${(pool.p50 / bare.p50).toFixed(2)}x, p99 ${(pool.p99 / bare.p99).toFixed(2)}x, max ${(pool.max / bare.max).toFixed(2)}x (target: RSS and p99 within 1.25x)`);
  console.log('(bare "shares/s" are echoed answers, no Scrypt: an upper bound for the socket path, not a like-for-like figure)');
}

const role = process.argv[2];
// children never outlive the coordinator (bounded in time even if it dies)
if (role === 'server' || role === 'client') process.on('disconnect', () => process.exit(0));
if (role === 'server') void serverMain(process.argv[3] as Kind, Number(process.argv[4] ?? 1), process.argv[5]);
else if (role === 'client') void clientMain();
else
  coordinatorMain().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
