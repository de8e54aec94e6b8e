import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { killWhenParentDies, onProcessExit, runChecked, runSync, tailFile } from './exec.js';

export interface TestDatabase {
  /** postgres://user@127.0.0.1:port/ltcpool_test_xxx — a fresh, empty database. */
  url: string;
  /** Same server, maintenance database `postgres`. */
  adminUrl: string;
  /** Drops the database (shared server) or shuts the private server down and removes its files. Idempotent. */
  stop(): Promise<void>;
  /** True only for a private server: stopServer/startServer are then present (database outage tests). */
  canControlServer: boolean;
  stopServer?(): Promise<void>;
  startServer?(): Promise<void>;
  /** Private server only: SIGSTOP / SIGCONT every process of the server (a hung database: connections stay open, nothing answers). */
  pauseServer?(): void;
  resumeServer?(): void;
}

/** `/usr/lib/postgresql/<highest version>/bin`, or null when PostgreSQL server binaries are not installed there. */
export function findPostgresBinDir(): string | null {
  const root = process.env.PG_BIN_ROOT ?? '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb')));
  } catch {
    versions = [];
  }
  versions.sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  if (versions.length > 0) return path.join(root, versions[0], 'bin');
  // Elsewhere (Homebrew, Fedora) initdb is usually on PATH.
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return null;
}

function databaseName(): string {
  return `ltcpool_test_${randomBytes(6).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 10_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  try {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
  } catch {
    // Before PostgreSQL 13 there is no FORCE.
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${database}"`);
  }
}

/** A fresh database on an existing server, dropped by stop(). */
async function freshDatabaseOn(adminUrl: string): Promise<TestDatabase> {
  const database = databaseName();
  await adminQuery(adminUrl, `CREATE DATABASE "${database}"`);
  let stopped: Promise<void> | undefined;
  return {
    url: withDatabase(adminUrl, database),
    adminUrl,
    canControlServer: false,
    stop: () => (stopped ??= dropDatabase(adminUrl, database)),
  };
}

/**
 * A database for a test. TEST_DATABASE_URL wins (a fresh database on that server when the role may create one,
 * else that database itself); then a local server on 127.0.0.1:5432 (user postgres, then root, no password);
 * else a private server started from the installed binaries (startPrivatePostgres).
 */
export async function startPostgres(): Promise<TestDatabase> {
  const configured = process.env.TEST_DATABASE_URL;
  if (configured) {
    const adminUrl = configured;
    try {
      return await freshDatabaseOn(adminUrl);
    } catch (err) {
      if (!(await canConnect(configured))) {
        throw new Error(`TEST_DATABASE_URL is set but its server does not answer: ${(err as Error).message}`);
      }
      // No CREATEDB right: use the given database as it is.
      return { url: configured, adminUrl, canControlServer: false, stop: async () => {} };
    }
  }
  for (const user of ['postgres', 'root']) {
    const adminUrl = `postgres://${user}@127.0.0.1:5432/postgres`;
    if (await canConnect(adminUrl)) {
      try {
        return await freshDatabaseOn(adminUrl);
      } catch {
        /* this role may not create databases; try the next, then a private server */
      }
    }
  }
  return startPrivatePostgres();
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Runs a PostgreSQL binary as the `postgres` OS user when we are root (initdb and postgres refuse root). */
function asServerUser(binary: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

/**
 * Always starts a private PostgreSQL server (initdb in a temp dir, pg_ctl on a free port, 127.0.0.1 only,
 * trust auth, fsync off) with a fresh database. The server can be stopped and started again (outage tests).
 */
export async function startPrivatePostgres(): Promise<TestDatabase> {
  const binDir = findPostgresBinDir();
  if (!binDir) {
    throw new Error('no PostgreSQL server binaries found (initdb under /usr/lib/postgresql/*/bin or on PATH); install the Debian package postgresql');
  }
  const initdb = path.join(binDir, 'initdb');
  const pgCtl = path.join(binDir, 'pg_ctl');
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ltcpool-pg-'));
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'server.log');
  if (isRoot()) {
    const ids = await runChecked('id', ['-u', 'postgres']).catch(() => {
      throw new Error('running as root needs an OS user `postgres` to run initdb/postgres (it is created by the Debian postgresql package)');
    });
    const gids = await runChecked('id', ['-g', 'postgres']);
    await fs.promises.chown(dir, Number(ids.stdout.trim()), Number(gids.stdout.trim()));
  }
  const removeDir = () => fs.promises.rm(dir, { recursive: true, force: true });

  const port = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let running = false;
  let dismissWatchdog = (): void => {};
  const ctl = (args: string[], timeoutMs = 60_000) => {
    const [cmd, argv] = asServerUser(pgCtl, args);
    return runChecked(cmd, argv, { timeoutMs });
  };
  const serverOptions = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;

  const startServer = async (): Promise<void> => {
    try {
      await ctl(['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- tail of ${logFile} ---\n${tailFile(logFile)}`);
    }
    running = true;
    // SIGQUIT = immediate shutdown, should this process die from SIGKILL with the server still up.
    const postmasterPid = Number.parseInt(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    if (postmasterPid > 0) dismissWatchdog = killWhenParentDies(postmasterPid, 'QUIT');
  };
  const stopServer = async (): Promise<void> => {
    await ctl(['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60']);
    running = false;
    dismissWatchdog();
  };

  /** The postmaster and its children (backends, checkpointer, walwriter ...). */
  const signalServer = (signal: 'SIGSTOP' | 'SIGCONT'): void => {
    const postmaster = Number.parseInt(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    if (!(postmaster > 0)) throw new Error('postmaster.pid unreadable');
    const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(postmaster);
      } catch {
        return false;
      }
    });
    // Children first on STOP (none notices its parent stopping), parent first on CONT.
    const order = signal === 'SIGSTOP' ? [...children.map(Number), postmaster] : [postmaster, ...children.map(Number)];
    for (const pid of order) {
      try {
        process.kill(pid, signal);
      } catch {
        /* exited meanwhile */
      }
    }
  };

  // pg_ctl detaches the server, so it is not our child: stop it explicitly if the test process exits first.
  const forgetExitCleanup = onProcessExit(() => {
    if (running) {
      const [cmd, argv] = asServerUser(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-t', '10']);
      runSync(cmd, argv);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  try {
    const [cmd, argv] = asServerUser(initdb, ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--locale=C']);
    await runChecked(cmd, argv, { timeoutMs: 120_000 });
    await startServer();
    const database = databaseName();
    await adminQuery(adminUrl, `CREATE DATABASE "${database}"`);
    let stopped: Promise<void> | undefined;
    return {
      url: withDatabase(adminUrl, database),
      adminUrl,
      canControlServer: true,
      stopServer,
      startServer,
      pauseServer: () => signalServer('SIGSTOP'),
      resumeServer: () => signalServer('SIGCONT'),
      stop: () =>
        (stopped ??= (async () => {
          try {
            if (running) await stopServer();
          } finally {
            forgetExitCleanup();
            await removeDir();
          }
        })()),
    };
  } catch (err) {
    if (running) await stopServer().catch(() => {});
    forgetExitCleanup();
    await removeDir();
    throw err;
  }
}
