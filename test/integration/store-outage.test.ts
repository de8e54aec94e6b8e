import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlocksRepo } from '../../src/store/blocks.js';
import { createPool } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrations.js';
import { ShareWriter, type AcceptedShare } from '../../src/store/share-writer.js';
import type { SpoolStats } from '../../src/store/spool.js';
import { freePort } from '../harness/ports.js';

interface PrivateServer { url: string; stop(): Promise<void>; stopServer(): Promise<void>; startServer(): Promise<void> }

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** A throwaway PostgreSQL cluster this test may stop and start (initdb into a temp dir, as the postgres OS user when root). */
async function startOwnServer(): Promise<PrivateServer> {
  const root = mkdtempSync(path.join(tmpdir(), 'ltcpool-pg-'));
  const data = path.join(root, 'data');
  const asPostgres = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]): void => {
    const [file, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
    execFileSync(file, argv, { stdio: 'pipe' });
  };
  if (asPostgres) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(root, uid, gid);
  }
  run(`${PG_BIN}/initdb`, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const port = await freePort();
  const startServer = async (): Promise<void> => run(`${PG_BIN}/pg_ctl`, ['-D', data, '-l', path.join(root, 'log'), '-w', '-t', '60',
    '-o', `-p ${port} -k ${root} -c listen_addresses=127.0.0.1`, 'start']);
  // immediate = no shutdown checkpoint, like a crash or a pulled cable from the client's point of view
  const stopServer = async (): Promise<void> => run(`${PG_BIN}/pg_ctl`, ['-D', data, '-m', 'immediate', '-w', 'stop']);
  await startServer();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stopServer, startServer,
    async stop() {
      try { await stopServer(); } catch { /* already stopped */ }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Prefer the shared harness (test/harness/postgres.ts) once it exists. */
async function startPrivateServer(): Promise<PrivateServer> {
  const harness = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'harness', 'postgres.ts');
  if (existsSync(harness)) {
    const mod = (await import(pathToFileURL(harness).href)) as { startPrivatePostgres?: () => Promise<Partial<PrivateServer> & { url: string; stop(): Promise<void> }> };
    if (mod.startPrivatePostgres) {
      const s = await mod.startPrivatePostgres();
      if (s.stopServer && s.startServer) return s as PrivateServer;
      await s.stop();
    }
  }
  return startOwnServer();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ShareWriter through a PostgreSQL outage', () => {
  let server: PrivateServer;
  let pool: pg.Pool;
  let spoolDir: string;
  beforeAll(async () => {
    server = await startPrivateServer();
    pool = createPool({ url: server.url, connectionTimeoutMs: 1000, queryTimeoutMs: 10_000 });
    await migrate(pool);
    spoolDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-outage-spool-'));
  });
  afterAll(async () => {
    await pool?.end();
    await server?.stop();
    if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
  });

  it('acknowledges via the spool while the server is down and lands every acknowledged share exactly once', async () => {
    const spoolSamples: SpoolStats[] = [];
    const writer = new ShareWriter({ pool, spoolDir, reconnectProbeMs: 200, onSpoolStats: (s) => spoolSamples.push(s) });
    await writer.start();
    const t0 = Date.now();
    let next = 0;
    const acknowledged: string[] = [];
    const failures: unknown[] = [];
    const share = (i: number): AcceptedShare => ({
      time: new Date(t0 + i), address: `rltc1qminer${i % 20}`, worker: `w${i % 2}`, difficulty: 1, networkDifficulty: 0.002,
      height: 500, jobId: 'j', hash: i.toString(16).padStart(64, '0'), isBlock: false, ip: '127.0.0.1', instanceId: 1, shareId: `1:e:${i}`,
    });
    const writeGroup = async (n: number): Promise<void> => {
      const ids = Array.from({ length: n }, () => next++);
      const results = await Promise.allSettled(ids.map((i) => writer.write(share(i))));
      results.forEach((r, k) => (r.status === 'fulfilled' ? acknowledged.push(`1:e:${ids[k]}`) : failures.push(r.reason)));
    };

    let streaming = true;
    const stream = (async () => { while (streaming) { await writeGroup(200); await sleep(10); } })();

    await sleep(300);
    expect(acknowledged.length).toBeGreaterThan(0);
    await server.stopServer();
    const ackedAtStop = acknowledged.length;

    // Keep writing while the server is down: acknowledgements continue, from the spool, which grows.
    const spoolFile = path.join(spoolDir, 'spool.jsonl');
    const sizes: number[] = [];
    for (let k = 0; k < 6; k++) {
      await sleep(250);
      sizes.push(existsSync(spoolFile) ? statSync(spoolFile).size : 0);
    }
    expect(writer.stats().mode).toBe('spool');
    expect(sizes[0]).toBeGreaterThan(0);
    expect(sizes[sizes.length - 1]).toBeGreaterThan(sizes[0]);
    expect(acknowledged.length).toBeGreaterThan(ackedAtStop + 1000);
    expect(writer.stats().spool.shares).toBeGreaterThan(0);

    // A block found during the outage is kept too.
    const blocks = new BlocksRepo(pool, { spool: writer.spoolFile });
    const found = await blocks.insertCandidate({ height: 501, hash: 'e'.repeat(64), prevHash: 'f'.repeat(64), finder: 'rltc1qminer3', worker: 'w1',
      rewardLitoshis: 2_500_000_000n, shareDifficulty: 1, networkDifficulty: 0.002, blockHex: '01'.repeat(300), shareId: '1:e:x' });
    expect(found).toEqual({ id: null, spooled: true });

    await server.startServer();
    await sleep(500);
    streaming = false;
    await stream;

    // Replay drains the spool after the reconnect probe succeeds.
    const deadline = Date.now() + 30_000;
    while ((writer.stats().spool.bytes > 0 || writer.stats().mode !== 'db') && Date.now() < deadline) await sleep(100);
    await writer.close();

    expect(failures).toEqual([]);
    expect(writer.stats().spool).toEqual({ bytes: 0, shares: 0, records: 0 });
    expect(existsSync(spoolFile) || existsSync(`${spoolFile}.replaying`)).toBe(false);
    expect(Math.max(...spoolSamples.map((s) => s.shares))).toBeGreaterThan(0);
    expect(spoolSamples.at(-1)?.shares).toBe(0);

    const counts = await pool.query<{ n: number; d: number }>('SELECT count(*)::int AS n, count(DISTINCT share_id)::int AS d FROM shares');
    expect(counts.rows[0]).toEqual({ n: acknowledged.length, d: acknowledged.length });
    const stored = await pool.query<{ share_id: string }>('SELECT share_id FROM shares');
    const storedIds = new Set(stored.rows.map((r) => r.share_id));
    expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);
    expect(await blocks.getByHash('e'.repeat(64))).toMatchObject({ height: 501, status: 'candidate', rewardLitoshis: 2_500_000_000n });
  });
});

/** A child process that writes shares forever and prints each share id once write() resolved for it. */
const CHILD = `
const [url, spoolDir, label] = process.argv.slice(-3);
const { createPool } = await import(${JSON.stringify(pathToFileURL(path.resolve('src/store/db.ts')).href)});
const { ShareWriter } = await import(${JSON.stringify(pathToFileURL(path.resolve('src/store/share-writer.ts')).href)});
const pool = createPool({ url, connectionTimeoutMs: 1000 });
const writer = new ShareWriter({ pool, spoolDir, reconnectProbeMs: 200 });
await writer.start();
let i = 0;
for (;;) {
  const ids = Array.from({ length: 100 }, () => label + ':' + i++);
  await Promise.all(ids.map(async (id) => {
    await writer.write({ time: new Date(), address: 'rltc1qkill', worker: '', difficulty: 1, networkDifficulty: 1, height: 1, jobId: 'j',
      hash: '00', isBlock: false, ip: '127.0.0.1', instanceId: 9, shareId: id });
    process.stdout.write(id + '\\n');
  }));
}
`;

function spawnWriter(url: string, spoolDir: string, label: string): { acked: string[]; kill(): Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, url, spoolDir, label], { stdio: ['ignore', 'pipe', 'inherit'] });
  const acked: string[] = [];
  let rest = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop()!;
    acked.push(...lines);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return { acked, kill: async () => { child.kill('SIGKILL'); await exited; } };
}

describe('kill -9 loses no acknowledged share', () => {
  let server: PrivateServer;
  let pool: pg.Pool;
  let spoolDir: string;
  beforeAll(async () => {
    server = await startPrivateServer();
    pool = createPool({ url: server.url, connectionTimeoutMs: 1000 });
    await migrate(pool);
    spoolDir = mkdtempSync(path.join(tmpdir(), 'ltcpool-kill-spool-'));
  });
  afterAll(async () => {
    await pool?.end();
    await server?.stop();
    if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
  });

  const waitFor = async (cond: () => boolean, ms: number): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!cond() && Date.now() < deadline) await sleep(50);
    expect(cond()).toBe(true);
  };
  const missing = async (acked: string[], label: string): Promise<string[]> => {
    const rows = await pool.query<{ share_id: string }>('SELECT share_id FROM shares WHERE share_id LIKE $1', [`${label}:%`]);
    const stored = new Set(rows.rows.map((r) => r.share_id));
    return acked.filter((id) => !stored.has(id));
  };

  it('while committing to PostgreSQL', async () => {
    const child = spawnWriter(server.url, spoolDir, 'a');
    await waitFor(() => child.acked.length >= 3000, 60_000);
    await child.kill();
    expect(child.acked.length).toBeGreaterThanOrEqual(3000);
    expect(await missing(child.acked, 'a')).toEqual([]);
  });

  it('while spooling during an outage; the next process replays the spool', async () => {
    const child = spawnWriter(server.url, spoolDir, 'b');
    await waitFor(() => child.acked.length >= 500, 60_000);
    await server.stopServer();
    const atStop = child.acked.length;
    await waitFor(() => child.acked.length >= atStop + 2000, 60_000);
    await child.kill();
    await server.startServer();
    const next = new ShareWriter({ pool, spoolDir });
    await next.start(); // replays what the killed process spooled
    await next.close();
    expect(await missing(child.acked, 'b')).toEqual([]);
    const dup = await pool.query<{ n: number; d: number }>(`SELECT count(*)::int AS n, count(DISTINCT share_id)::int AS d FROM shares`);
    expect(dup.rows[0].n).toBe(dup.rows[0].d);
  });
});
