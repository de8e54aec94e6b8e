// Issue 10: the CLI an operator meets first. Real child processes of `ltcpool` (src/cli.ts through tsx).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { run } from '../harness/exec.js';
import { freePort } from '../harness/ports.js';
import { startPostgres, type TestDatabase } from '../harness/postgres.js';
import { environmentVariables } from '../../src/ops/config.js';

/** Runs `ltcpool <args>` with exactly `env` (plus PATH): no USER, no HOME unless given. */
const ltcpool = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeoutMs: 60_000 });

describe('ltcpool CLI', () => {
  it('--help and -h list the commands and every environment variable; --version prints the version', async () => {
    const [help, h, version] = await Promise.all([ltcpool(['--help']), ltcpool(['-h']), ltcpool(['--version'])]);
    expect(help.code).toBe(0);
    expect(h.stdout).toBe(help.stdout);
    for (const command of ['serve', 'migrate', 'payouts', 'demo']) expect(help.stdout).toContain(`  ${command} `);
    const missing = environmentVariables().map((v) => v.name).filter((name) => !help.stdout.includes(`  ${name} `));
    expect(missing).toEqual([]);
    expect(help.stdout).toContain('LTCPOOL_PAYOUTS_FEE_ADDRESSES');
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  }, 60_000);

  it('<command> --help shows its options; an option of another command is an error', async () => {
    const [payoutsHelp, serveOnce, unknown, badInterval] = await Promise.all([
      ltcpool(['payouts', '--help']),
      ltcpool(['serve', '--once']),
      ltcpool(['srve']),
      ltcpool(['payouts', '--interval', 'soon']),
    ]);
    expect(payoutsHelp.code).toBe(0);
    expect(payoutsHelp.stdout).toMatch(/--interval \[seconds\]/);
    expect(payoutsHelp.stdout).toMatch(/--release <address\|all>/);
    expect(serveOnce.code).toBe(2); // was: ignored, and the pool started
    expect(serveOnce.stderr).toContain("error: unknown option '--once'");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'srve'.*\n.*|did you mean serve/);
    expect(badInterval.code).toBe(2);
    expect(badInterval.stderr).toContain('must be a positive number of seconds');
  }, 60_000);

  describe('migrate', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await startPostgres();
    });
    afterAll(async () => {
      await db?.stop();
    });

    it('needs only the database: no network, pool address or node; works without USER in the environment', async () => {
      const result = await ltcpool(['migrate'], { DATABASE_URL: db.url, LTCPOOL_LOG_LEVEL: 'silent' });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/^applied migrations 1, 2, .*schema at version \d+$/m);
      const again = await ltcpool(['migrate'], { DATABASE_URL: db.url, LTCPOOL_LOG_LEVEL: 'silent' });
      expect(again.stdout).toMatch(/^schema is up to date \(version \d+\)$/m);
    }, 60_000);

    it('still validates what is given', async () => {
      const result = await ltcpool(['migrate'], { DATABASE_URL: db.url, LTCPOOL_NETWORK: 'dogecoin', LTCPOOL_DATABASE_POOL_SIZE: '-1' });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^ {2}- network: /m);
      expect(result.stderr).toMatch(/^ {2}- database\.poolSize: /m);
      expect(result.stderr).not.toMatch(/pool\.address|node\.rpcUrl|^ {2}- pool:|^ {2}- node:/m);
    }, 60_000);

    it('names a database that refuses the connection', async () => {
      const port = await freePort();
      const result = await ltcpool(['migrate'], { DATABASE_URL: `postgres://ltcpool@127.0.0.1:${port}/ltcpool` });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`error: ECONNREFUSED 127.0.0.1:${port} — is PostgreSQL running? (database.url / DATABASE_URL)`);
    }, 60_000);
  });
});
