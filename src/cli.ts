#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, environmentVariables, loadConfig, loadDatabaseConfig, type Config } from './ops/config.js';
import { RpcError, RpcTransportError } from './chain/rpc.js';
import { configureLogging, createLogger } from './ops/logger.js';
import { describeDatabaseError } from './store/db.js';

/** database.url of the command running, once its configuration is read. */
let commandDatabaseUrl: string | undefined;

function packageVersion(): string {
  // src/cli.ts (tsx) and dist/cli.js (built) both sit one level below package.json.
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/** The environment part of --help: every variable, with the field it sets. */
export function environmentHelp(): string {
  const vars = environmentVariables();
  const width = Math.max(...vars.map((v) => v.name.length));
  return [
    '',
    'Configuration comes from the JSON file (--config; examples in config/) and the environment, which overrides it.',
    'Every field has a variable (arrays as JSON; fee addresses also as address[:weight],...):',
    ...vars.map((v) => `  ${v.name.padEnd(width)}  ${v.field} (${v.form})`),
  ].join('\n');
}

function readConfig(file: string | undefined): Config {
  const config = loadConfig(file);
  commandDatabaseUrl = config.database.url;
  configureLogging({ level: config.log.level });
  return config;
}

async function serve(file: string | undefined): Promise<void> {
  const config = readConfig(file);
  const { startPool } = await import('./pool.js');
  // SIGHUP: read the config file (and the environment's *_FILE secrets) again and rotate credentials without
  // dropping miners. Registered before start-up: Node's default for SIGHUP is to exit.
  let running: Awaited<ReturnType<typeof startPool>> | undefined;
  // From SIGHUP here, or from another instance's reload (announced through the database, not announced again).
  const reloadFromFile = (signal: 'SIGHUP' | 'cluster') => {
    const log = createLogger('cli');
    if (!running) {
      log.warn({ signal }, 'reload during start-up ignored: send SIGHUP again once the pool is serving');
      return;
    }
    try {
      running.reload(loadConfig(file), { fromCluster: signal === 'cluster' });
    } catch (error) {
      // A bad file changes nothing: the running credentials stay.
      log.error({ signal, problems: error instanceof ConfigError ? error.problems : [(error as Error).message] }, 'configuration NOT reloaded: the running one stays');
    }
  };
  process.on('SIGHUP', () => reloadFromFile('SIGHUP'));
  // A schema found to be behind after a start during a database outage: stop (shares stay in the spool).
  const onFatal = () => void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
  const pool = await startPool(config, { onFatal, onClusterReload: () => reloadFromFile('cluster') });
  running = pool;
  const shutdown = (signal: string) => {
    createLogger('cli').info({ signal }, 'signal received');
    pool.stop().then(
      () => process.exit(0),
      (error) => {
        createLogger('cli').error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function migrateCommand(file: string | undefined): Promise<void> {
  const config = loadDatabaseConfig(file);
  commandDatabaseUrl = config.database.url;
  configureLogging({ level: config.log.level });
  if (!config.database.url) throw new ConfigError(['database.url: required for migrate (or set DATABASE_URL or LTCPOOL_DATABASE_URL)']);
  const { createPool } = await import('./store/db.js');
  const { migrate } = await import('./store/migrations.js');
  const db = createPool({ url: config.database.url, max: 1 });
  try {
    const result = await migrate(db, { logger: createLogger('migrate') });
    console.log(result.applied.length > 0 ? `applied migrations ${result.applied.join(', ')}; schema at version ${result.version}` : `schema is up to date (version ${result.version})`);
  } finally {
    await db.end();
  }
}

async function statusCommand(file: string | undefined, urls: string[] | undefined, json: boolean): Promise<number> {
  const config = loadConfig(file);
  commandDatabaseUrl = config.database.url;
  configureLogging({ level: 'silent' });
  const { gatherStatus, formatStatus } = await import('./ops/status.js');
  const { createPool } = await import('./store/db.js');
  const db = config.database.url ? createPool({ url: config.database.url, max: 4, connectionTimeoutMs: 3000 }) : undefined;
  try {
    const report = await gatherStatus(config, { db, urls });
    console.log(json ? JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2) : formatStatus(report, config));
    return report.database.ok ? 0 : 1;
  } finally {
    await db?.end();
  }
}

async function spoolReplayCommand(file: string | undefined, dir: string, instance: string | undefined): Promise<number> {
  const config = loadDatabaseConfig(file);
  commandDatabaseUrl = config.database.url;
  configureLogging({ level: config.log.level });
  if (!config.database.url) throw new ConfigError(['database.url: required for spool replay (or set DATABASE_URL or LTCPOOL_DATABASE_URL)']);
  let instanceId: number | undefined;
  if (instance !== undefined) {
    instanceId = /^\d{1,3}$/.test(instance) ? Number(instance) : Number.NaN;
    if (!(instanceId >= 0 && instanceId <= 255)) throw new InvalidArgumentError(`--instance: 0..255, got "${instance}"`);
  }
  const { createPool } = await import('./store/db.js');
  const { replaySpoolDir } = await import('./store/spool-replay.js');
  const db = createPool({ url: config.database.url, max: 4 });
  try {
    const r = await replaySpoolDir({ db, dir, instanceId, logger: createLogger('spool-replay') });
    console.log(`${r.dir} (instance ${r.instanceId}): ${r.shares} shares in ${r.records} records and ${r.blocks} found blocks replayed (rows already in the database skipped)`);
    if (r.sharesLeft > 0 || r.blocksLeft > 0) {
      console.error(`not finished: ${r.sharesLeft} shares and ${r.blocksLeft} block records still in the spool (database unreachable?); run it again`);
      return 1;
    }
    return 0;
  } finally {
    await db.end();
  }
}

function positiveSeconds(value: string): string {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return value;
}

export function buildProgram(run: (code: number) => void): Command {
  const program = new Command('ltcpool')
    .description('Litecoin (Scrypt) mining pool: Stratum v1, PostgreSQL accounting, PPLNS/PROP/SOLO payouts')
    .version(packageVersion(), '-V, --version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(ltcpool --help lists the commands, ltcpool <command> --help their options)')
    .addHelpText('after', () => `${environmentHelp()}\n\nltcpool <command> --help shows a command's options.`)
    .exitOverride();
  const configOption = () => new Option('-c, --config <file>', 'JSON configuration file');
  program
    .command('serve')
    .addHelpText('after', environmentHelp)
    .description('run the Stratum pool (with its HTTP metrics, health and API)')
    .addOption(configOption())
    .action(async (o: { config?: string }) => {
      await serve(o.config);
    });
  program
    .command('migrate')
    .addHelpText('after', environmentHelp)
    .description('apply database migrations (needs only database.url / DATABASE_URL)')
    .addOption(configOption())
    .action(async (o: { config?: string }) => {
      await migrateCommand(o.config);
      run(0);
    });
  program
    .command('payouts')
    .addHelpText('after', environmentHelp)
    .description('unlock matured blocks, credit miners, pay; --release set-aside payments; --history')
    .addOption(configOption())
    .option('--once', 'one run, then exit (for cron)')
    .option('--interval [seconds]', 'run every <seconds> (default: payouts.intervalSeconds), serving metrics on http.port', positiveSeconds)
    .option('--release <address|all>', 'return set-aside payments to the balances')
    .option('--history', 'the audit trail: payout batches, releases, money config changes')
    .action(async (o: { config?: string; once?: boolean; interval?: string | true; release?: string; history?: boolean }) => {
      const config = readConfig(o.config);
      const { payoutsCommand } = await import('./payouts/cli.js');
      const interval = o.interval === true ? String(config.payouts.intervalSeconds) : o.interval;
      const code = await payoutsCommand(config, { once: o.once === true, interval, release: o.release, history: o.history === true, reloadConfig: () => loadConfig(o.config) });
      if (code >= 0) run(code);
    });
  program
    .command('status')
    .addHelpText('after', environmentHelp)
    .description('one-screen summary: instances, miners, hashrate, last block, template age, share queue, spool, payouts, wallet, alerts')
    .addOption(configOption())
    .option('--url <url...>', "a pool's HTTP address to read /metrics from (default: http.host:http.port)")
    .option('--json', 'the same as JSON')
    .action(async (o: { config?: string; url?: string[]; json?: boolean }) => {
      run(await statusCommand(o.config, o.url, o.json === true));
    });
  program
    .command('spool')
    .description('spool directories of instances (shares and found blocks fsync\'ed while the database was away)')
    .command('replay')
    .addHelpText('after', environmentHelp)
    .description('replay a dead instance\'s spool directory (<spoolDir>/instance-<id>) into the database, idempotently; refused while that instance is live')
    .addOption(configOption())
    .requiredOption('--dir <path>', 'the instance\'s spool directory')
    .option('--instance <id>', 'its instanceId when the directory is not named instance-<id>')
    .action(async (o: { config?: string; dir: string; instance?: string }) => {
      run(await spoolReplayCommand(o.config, o.dir, o.instance));
    });
  program
    .command('demo')
    .description('a whole pool on regtest (litecoind, PostgreSQL, miners, payouts), nothing to set up')
    .option('--short', 'fewer blocks (CI)')
    .action(async (o: { short?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      run(await runDemo({ short: o.short === true }));
    });
  return program;
}

/** What failed, in the operator's words: the database (where, and what to check), else the error's own message. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error instanceof RpcTransportError || error instanceof RpcError) return error.message;
  return describeDatabaseError(error, databaseUrlFromEnvironment()) ?? error.message;
}

/** The database URL as the command took it (for naming the server in an error); best effort. */
function databaseUrlFromEnvironment(): string | undefined {
  return commandDatabaseUrl ?? process.env.LTCPOOL_DATABASE_URL ?? process.env.DATABASE_URL;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram((code) => process.exit(code));
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    process.exit(2);
  }
  await program.parseAsync(argv, { from: 'user' });
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2); // commander printed it
  if (error instanceof ConfigError) console.error(error.message);
  else console.error(`error: ${describeFailure(error)}`);
  process.exit(1);
});
