import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { BLOCK_STATUSES } from '../../src/store/blocks.js';
import { createPool } from '../../src/store/db.js';
import { checkSchema, defaultMigrationsDir, loadMigrations, migrate } from '../../src/store/migrations.js';
import { dropOldSharePartitions, ensureSharePartitions } from '../../src/store/partitions.js';


describe('store migrations', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await startPostgres();
    pool = createPool({ url: db.url });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.stop();
  });

  it('finds the migrations directory and parses NNN_name.sql files in order', () => {
    const migrations = loadMigrations();
    expect(migrations[0]).toMatchObject({ version: 1, name: 'core', file: '001_core.sql' });
    expect(migrations.map((m) => m.version)).toEqual([...migrations.map((m) => m.version)].sort((a, b) => a - b));
    expect(defaultMigrationsDir()).toMatch(/src[\\/]store[\\/]migrations$/);
  });

  it('checkSchema fails clearly on an empty database', async () => {
    await expect(checkSchema(pool)).rejects.toThrow(/database schema is at version 0 but this ltcpool needs \d+: run `ltcpool migrate`/);
  });

  it('applies every migration once, is idempotent, and checkSchema then passes', async () => {
    const all = loadMigrations();
    const first = await migrate(pool);
    expect(first.applied).toEqual(all.map((m) => m.version));
    const second = await migrate(pool);
    expect(second.applied).toEqual([]);
    const rows = await pool.query('SELECT version, checksum FROM schema_migrations ORDER BY version');
    expect(rows.rows.map((r) => r.version)).toEqual(all.map((m) => m.version));
    expect(rows.rows.map((r) => r.checksum)).toEqual(all.map((m) => m.checksum));
    await expect(checkSchema(pool)).resolves.toEqual({ version: all[all.length - 1].version });
    const tables = await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
    expect(tables.rows.map((r) => r.tablename)).toEqual(expect.arrayContaining(['blocks', 'miners', 'shares_default', 'workers']));
  });

  it("allows exactly the block statuses the code knows (BLOCK_STATUSES is the schema's CHECK list)", async () => {
    const { rows } = await pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'blocks'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%status%'`,
    );
    expect(rows).toHaveLength(1);
    const allowed = [...rows[0].def.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(allowed.sort()).toEqual([...BLOCK_STATUSES].sort());
  });

  it('two processes migrating at once apply each file exactly once (advisory lock)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-mig-'));
    try {
      for (const m of loadMigrations()) writeFileSync(path.join(dir, m.file), m.sql);
      writeFileSync(path.join(dir, '900_race.sql'), 'CREATE TABLE race_once (x int); SELECT pg_sleep(0.2);');
      const other = createPool({ url: db.url });
      const results = await Promise.all([migrate(pool, { dir }), migrate(other, { dir })]);
      await other.end();
      expect(results.flatMap((r) => r.applied)).toEqual([900]);
      await expect(checkSchema(pool, { dir })).resolves.toEqual({ version: 900 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('checkSchema names both versions when the database is behind this build', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-mig-'));
    try {
      for (const m of loadMigrations()) writeFileSync(path.join(dir, m.file), m.sql);
      writeFileSync(path.join(dir, '900_race.sql'), 'CREATE TABLE race_once (x int); SELECT pg_sleep(0.2);');
      writeFileSync(path.join(dir, '901_later.sql'), 'CREATE TABLE later_thing (x int);');
      await expect(checkSchema(pool, { dir })).rejects.toThrow('database schema is at version 900 but this ltcpool needs 901: run `ltcpool migrate`');
      await migrate(pool, { dir });
      await expect(checkSchema(pool, { dir })).resolves.toEqual({ version: 901 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a migration file edited after it was applied', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-mig-'));
    try {
      for (const m of loadMigrations()) writeFileSync(path.join(dir, m.file), m.sql);
      const core = path.join(dir, '001_core.sql');
      writeFileSync(core, readFileSync(core, 'utf8') + '\n-- edited\n');
      await expect(migrate(pool, { dir })).rejects.toThrow(/001_core\.sql was changed after it was applied/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('creates daily partitions ahead, moves default-partition rows into them, and drops old ones', async () => {
    const now = new Date('2030-03-10T12:00:00Z');
    // A share that arrived before its partition existed lands in the default partition...
    await pool.query(`INSERT INTO shares (time, share_id, address, worker, difficulty, network_difficulty, height, job_id, hash, instance_id)
      VALUES ('2030-03-11T01:00:00Z', 'p1', 'addr', '', 1, 1, 1, 'j', 'h', 1)`);
    const created = await ensureSharePartitions(pool, 2, now);
    expect(created).toEqual(['shares_p20300310', 'shares_p20300311', 'shares_p20300312']);
    expect(await ensureSharePartitions(pool, 2, now)).toEqual([]);
    // ...and is moved into its day's partition, still exactly once.
    const where = await pool.query(`SELECT tableoid::regclass::text AS part FROM shares WHERE share_id = 'p1'`);
    expect(where.rows).toEqual([{ part: 'shares_p20300311' }]);
    const idx = await pool.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'shares_p20300311' ORDER BY 1`);
    expect(idx.rows.map((r) => r.indexdef).join('\n')).toMatch(/UNIQUE.*\(share_id, "time"\)/);

    const dropped = await dropOldSharePartitions(pool, 1, new Date('2030-03-12T08:00:00Z'));
    expect(dropped).toEqual(['shares_p20300310']);
    const left = await pool.query(`SELECT count(*)::int AS n FROM shares WHERE share_id = 'p1'`);
    expect(left.rows[0].n).toBe(1);
  });

  it('a share inserted while its day partition is being created ends up in it (a fresh database: no failed run)', async () => {
    // An insert in flight into shares_default for the day being created. Before, ensureSharePartitions moved
    // the committed rows, then ATTACH waited for this one and failed: "updated partition constraint for default
    // partition "shares_default" would be violated by some row", logged as a failed maintenance run.
    const inserter = await pool.connect();
    try {
      await inserter.query('BEGIN');
      await inserter.query(`INSERT INTO shares (time, share_id, address, worker, difficulty, network_difficulty, height, job_id, hash, instance_id)
        VALUES ('2031-05-05T10:00:00Z', 'race1', 'addr', '', 1, 1, 1, 'j', 'h', 1)`);
      const ensuring = ensureSharePartitions(pool, 0, new Date('2031-05-05T12:00:00Z'));
      const waiting = async () => (await pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`)).rows[0].n > 0;
      for (let i = 0; i < 200 && !(await waiting()); i++) await new Promise((resolve) => setTimeout(resolve, 25));
      expect(await waiting(), 'ensureSharePartitions waits for the open insert').toBe(true);
      await inserter.query('COMMIT');
      expect(await ensuring).toEqual(['shares_p20310505']);
    } finally {
      inserter.release();
    }
    const where = await pool.query(`SELECT tableoid::regclass::text AS part FROM shares WHERE share_id = 'race1'`);
    expect(where.rows).toEqual([{ part: 'shares_p20310505' }]);
  });
});
