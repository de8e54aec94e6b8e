#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from './ops/config.js';
import { configureLogging, createLogger } from './ops/logger.js';

const USAGE = `usage: ltcpool <command> [options]

commands:
  serve     [--config <file>]                 run the Stratum pool
  migrate   [--config <file>]                 apply database migrations
  payouts   [--config <file>] (--once | --interval <seconds>)
                                              unlock matured blocks, credit miners, pay
  payouts   [--config <file>] --release <address|all>
                                              return set-aside payments to the balances
  payouts   [--config <file>] --history        the audit trail: payout batches, releases, money config changes
  demo      [--short]                         a whole pool on regtest, nothing to set up

Configuration comes from the JSON file (see config/) and the environment:
  LTCPOOL_NETWORK, LTCPOOL_RPC_URL, LTCPOOL_POOL_ADDRESS, LTCPOOL_STRATUM_PORT, LTCPOOL_HTTP_PORT, DATABASE_URL`;

function readConfig(file: string | undefined): Config {
  const config = loadConfig(file);
  configureLogging({ level: config.log.level });
  return config;
}

async function serve(file: string | undefined): Promise<void> {
  const config = readConfig(file);
  const { startPool } = await import('./pool.js');
  const pool = await startPool(config);
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
  const config = readConfig(file);
  if (!config.database.url) throw new ConfigError(['database.url: required for migrate (or set DATABASE_URL)']);
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      once: { type: 'boolean' },
      interval: { type: 'string' },
      release: { type: 'string' },
      history: { type: 'boolean' },
      short: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (!command || values.help || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case 'serve':
      await serve(values.config);
      return -1;
    case 'migrate':
      await migrateCommand(values.config);
      return 0;
    case 'payouts': {
      const { payoutsCommand } = await import('./payouts/cli.js');
      return payoutsCommand(readConfig(values.config), { once: values.once === true, interval: values.interval, release: values.release, history: values.history === true });
    }
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo({ short: values.short === true });
    }
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    if (error instanceof ConfigError) console.error(error.message);
    else if (error instanceof Error && 'code' in error && (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') console.error(`${error.message}\n\n${USAGE}`);
    else console.error(error instanceof Error ? `error: ${error.message}` : error);
    process.exit(1);
  },
);
