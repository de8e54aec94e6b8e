import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import pino from 'pino';

/**
 * Forward-only SQL migrations: src/store/migrations/NNN_name.sql, applied in version order.
 *
 * Where the files are found: `tsc` does not copy .sql files, so the directory is resolved
 *   1. next to this module (`<dir of migrations.ts|js>/migrations`) — running from src via tsx, or a dist
 *      where the build copied them;
 *   2. otherwise `<package root>/src/store/migrations`, the package root being the nearest ancestor directory
 *      holding a package.json — running from dist/ after `tsc` (the package ships src/store/migrations).
 * LTCPOOL_MIGRATIONS_DIR overrides both.
 *
 * Each file runs in its own transaction (so no CREATE INDEX CONCURRENTLY inside a migration), under a
 * session advisory lock so two processes never migrate at once.
 */

export interface Migration { version: number; name: string; file: string; sql: string; checksum: string }

const MIGRATION_FILE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;
/** 'ltcpool\0' as an int8: the advisory lock key for migrations. */
const MIGRATION_LOCK_KEY = '8462373617430298624';

export function defaultMigrationsDir(): string {
  const fromEnv = process.env.LTCPOOL_MIGRATIONS_DIR;
  if (fromEnv) return fromEnv;
  const moduleDir = path.dirname(fileURLToPath(import.meta.url));
  const beside = path.join(moduleDir, 'migrations');
  if (existsSync(beside)) return beside;
  let dir = moduleDir;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) {
      const candidate = path.join(dir, 'src', 'store', 'migrations');
      if (existsSync(candidate)) return candidate;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`migrations directory not found: looked in ${beside} and <package root>/src/store/migrations (set LTCPOOL_MIGRATIONS_DIR)`);
}

export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const migrations: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const match = MIGRATION_FILE.exec(file);
    if (!match) throw new Error(`bad migration file name ${file}: expected NNN_name.sql`);
    const sql = readFileSync(path.join(dir, file), 'utf8');
    migrations.push({
      version: Number(match[1]), name: match[2], file, sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i].version === migrations[i - 1].version) {
      throw new Error(`two migrations with version ${migrations[i].version}: ${migrations[i - 1].file}, ${migrations[i].file}`);
    }
  }
  return migrations;
}

export interface MigrateOptions { dir?: string; logger?: pino.Logger }
export interface MigrateResult { applied: number[]; version: number }

interface AppliedRow { version: number; name: string; checksum: string }

async function readApplied(client: pg.PoolClient | pg.Pool): Promise<AppliedRow[] | null> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('schema_migrations')::text AS t`);
  if (exists.rows[0].t === null) return null;
  const res = await client.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
  return res.rows;
}

function verifyChecksums(applied: AppliedRow[], known: Migration[]): void {
  const byVersion = new Map(known.map((m) => [m.version, m]));
  for (const row of applied) {
    const m = byVersion.get(row.version);
    if (m && m.checksum !== row.checksum) {
      throw new Error(`migration ${m.file} was changed after it was applied (checksum mismatch); migrations are forward-only: add a new file instead`);
    }
  }
}

export async function migrate(pool: pg.Pool, options: MigrateOptions = {}): Promise<MigrateResult> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const migrations = loadMigrations(options.dir);
  const client = await pool.connect();
  client.on('error', () => undefined); // a dropped connection surfaces as the failing query instead
  const appliedNow: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now())`);
      const applied = (await readApplied(client)) ?? [];
      verifyChecksums(applied, migrations);
      const done = new Set(applied.map((r) => r.version));
      for (const m of migrations) {
        if (done.has(m.version)) continue;
        logger.info({ version: m.version, file: m.file }, 'applying migration');
        try {
          await client.query('BEGIN');
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.file} failed: ${(err as Error).message}`, { cause: err });
        }
        appliedNow.push(m.version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
  const version = migrations.length ? migrations[migrations.length - 1].version : 0;
  return { applied: appliedNow, version };
}

/**
 * Throws unless every migration this build knows is applied (unchanged). A database ahead of this build
 * (newer instance already migrated during a rolling deploy) is accepted with a warning.
 */
export async function checkSchema(pool: pg.Pool, options: MigrateOptions = {}): Promise<{ version: number }> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const migrations = loadMigrations(options.dir);
  const needed = migrations.length ? migrations[migrations.length - 1].version : 0;
  const applied = (await readApplied(pool)) ?? [];
  const current = applied.length ? applied[applied.length - 1].version : 0;
  const appliedSet = new Set(applied.map((r) => r.version));
  const missing = migrations.filter((m) => !appliedSet.has(m.version)).map((m) => m.version);
  if (current < needed || missing.length > 0) {
    throw new Error(`database schema is at version ${current} but this ltcpool needs ${needed}: run \`ltcpool migrate\`` +
      (missing.length && current >= needed ? ` (missing migrations ${missing.join(', ')})` : ''));
  }
  verifyChecksums(applied, migrations);
  if (current > needed) logger.warn({ current, needed }, 'database schema is newer than this ltcpool build');
  return { version: current };
}
