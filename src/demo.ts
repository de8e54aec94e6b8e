import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { makeRpc, startRegtest, type RegtestNode } from './devnet/litecoind.js';
import { startPostgres, type TestDatabase } from './devnet/postgres.js';
import { TestMiner } from './miner/miner.js';
import { parseConfig, type Config } from './ops/config.js';
import { defaultWebDir } from './ops/web.js';
import { createMetrics } from './ops/metrics.js';
import { redactUrl } from './ops/logger.js';
import { createPayoutContext, formatSummary, runPayoutOnce } from './payouts/cli.js';
import { startPool, type RunningPool } from './pool.js';
import { createPool } from './store/db.js';
import { migrate } from './store/migrations.js';

export interface DemoOptions {
  /** Fewer blocks, for CI. */
  short?: boolean;
}

const LITOSHIS_PER_LTC = 100_000_000;

function say(message: string): void {
  const time = new Date().toISOString().slice(11, 19);
  console.log(`[demo ${time}] ${message}`);
}

function ltc(litoshis: number | bigint): string {
  return (Number(litoshis) / LITOSHIS_PER_LTC).toFixed(8);
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A whole pool on regtest with nothing set up by hand: litecoind, PostgreSQL, the pool, three miners of
 * different speeds, blocks, maturity, a payout run. Returns the process exit code.
 */
/**
 * One progress line per accepted block. The miners stop after the block wanted, but one more may be found
 * before they do: that one is said to be extra, never "13/12".
 */
export function blockProgressLine(n: number, wanted: number, block: { height: number; hash: string }): string {
  const which = n <= wanted ? `block ${n}/${wanted}` : `extra block (${n}, found before the miners stopped)`;
  return `${which} accepted by litecoind: height ${block.height} ${block.hash}`;
}

/** Which PostgreSQL the demo uses, password hidden. */
export function describeDemoDatabase(database: { url: string; canControlServer: boolean }): string {
  const where = redactUrl(database.url);
  if (process.env.TEST_DATABASE_URL) return `${where} (from TEST_DATABASE_URL)`;
  return database.canControlServer ? `${where} (a private server started in a temp dir, removed afterwards)` : `${where} (a fresh database on the local server, dropped afterwards)`;
}

export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const blocksWanted = options.short ? 4 : 12;
  let node: RegtestNode | undefined;
  let database: TestDatabase | undefined;
  const spoolDir = path.join(os.tmpdir(), `ltcpool-demo-spool-${process.pid}`);
  let pool: RunningPool | undefined;
  const miners: TestMiner[] = [];
  try {
    say('starting litecoind -regtest (two nodes, MWEB active) in a temp dir ...');
    node = await startRegtest({ mweb: true });
    say(`litecoind ready at height ${await node.rpc<number>('getblockcount')} in ${node.setupSeconds.toFixed(1)} s`);
    const poolWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, `/wallet/${node.walletName}`);
    await node.rpc('createwallet', ['miners']);
    const minersWallet = makeRpc(node.rpcPort, node.rpcUser, node.rpcPassword, '/wallet/miners');
    const poolAddress = await poolWallet<string>('getnewaddress', ['pool-coinbase', 'bech32']);
    const feeAddress = await poolWallet<string>('getnewaddress', ['pool-fee', 'bech32']);
    const minerAddresses = await Promise.all(['alice', 'bob', 'carol'].map((label) => minersWallet<string>('getnewaddress', [label, 'bech32'])));

    say('preparing PostgreSQL (TEST_DATABASE_URL, else the local server when there is one, else a private one) ...');
    database = await startPostgres();
    const admin = createPool({ url: database.url, max: 1 });
    const migrated = await migrate(admin);
    await admin.end();
    say(`database ready, schema version ${migrated.version}: ${describeDemoDatabase(database)}`);

    const config: Config = parseConfig({
      network: 'regtest',
      pool: { address: poolAddress, tag: '/ltcpool-demo/' },
      node: { rpcUrl: node.rpcUrl, pollIntervalMs: 250, refreshSeconds: 5 },
      stratum: { host: '127.0.0.1', ports: [{ port: 0, difficulty: 0.00001 }], vardiff: { enabled: false } },
      database: { url: database.url, spoolDir },
      http: { host: '127.0.0.1', port: 0 },
      payouts: {
        scheme: 'pplns',
        // regtest's network difficulty is tiny: a wide window so every demo miner's shares count
        pplnsWindowFactor: 1000,
        feePercent: 1,
        feeAddresses: [{ address: feeAddress }],
        minimumPayout: '100000',
        maturity: 100,
        walletName: node.walletName,
      },
      log: { level: 'silent' },
    });
    // the dashboard is served from dist/web: build it when this checkout has not (esbuild, well under a second)
    const webDir = defaultWebDir();
    if (!existsSync(path.join(webDir, 'index.html'))) {
      try {
        execFileSync(process.execPath, [path.join(webDir, '..', '..', 'scripts', 'build-web.mjs')], { stdio: 'ignore' });
      } catch {
        say('dashboard could not be built (npm run build); the API works');
      }
    }
    const metrics = createMetrics();
    pool = await startPool(config, { metrics, logger: pino({ level: process.env.LTCPOOL_LOG_LEVEL ?? 'warn' }) });
    const port = pool.stratumPorts[0];
    say(`pool serving: stratum+tcp://127.0.0.1:${port}`);
    say(`  dashboard ${pool.httpUrl}/   ${pool.httpUrl}/miners/${minerAddresses[0]}`);
    say(`  metrics  ${pool.httpUrl}/metrics`);
    say(`  API      ${pool.httpUrl}/api/pool   ${pool.httpUrl}/api/blocks   ${pool.httpUrl}/api/miners/${minerAddresses[0]}`);

    const speeds = [1, 2, 4];
    minerAddresses.forEach((address, i) => {
      miners.push(new TestMiner({ host: '127.0.0.1', port, username: `${address}.rig${i + 1}`, hashrate: speeds[i] }));
    });
    for (const [i, miner] of miners.entries()) {
      const answer = await miner.start();
      if (answer.result !== true) throw new Error(`miner ${i} was not authorized: ${JSON.stringify(answer.error)}`);
      miner.startMining();
      say(`miner ${['alice', 'bob', 'carol'][i]} (${speeds[i]} H/s) mining to ${minerAddresses[i]}`);
    }

    const accepted = () => pool!.blocks.outcomes.filter((o) => o.accepted);
    let shown = 0;
    await until(`${blocksWanted} blocks`, () => {
      for (const outcome of accepted().slice(shown)) {
        shown++;
        say(blockProgressLine(shown, blocksWanted, outcome));
      }
      return shown >= blocksWanted && miners.every((m) => m.accepted > 0);
    }, 180_000);
    for (const miner of miners) await miner.close();
    // let the last shares commit
    await new Promise((r) => setTimeout(r, 500));

    const shareRows = await pool.db!.query<{ address: string; shares: string; difficulty: number }>(
      'SELECT address, count(*) AS shares, sum(difficulty) AS difficulty FROM shares GROUP BY address ORDER BY address',
    );
    say('shares recorded in PostgreSQL:');
    for (const row of shareRows.rows) {
      const name = ['alice', 'bob', 'carol'][minerAddresses.indexOf(row.address)] ?? '?';
      console.log(`    ${name.padEnd(6)} ${row.address}  ${String(row.shares).padStart(6)} shares  difficulty ${Number(row.difficulty).toFixed(5)}`);
    }

    say('mining 101 blocks on top so the pool blocks mature (coinbase maturity 100) ...');
    const elsewhere = await node.node2Rpc<string>('getnewaddress').catch(async () => {
      await node!.node2Rpc('createwallet', ['elsewhere']);
      return node!.node2Rpc<string>('getnewaddress');
    });
    await node.rpc('generatetoaddress', [101, elsewhere]);
    await until('the pool to see the new tip', async () => (pool!.jobs.current?.height ?? 0) > (await node!.rpc<number>('getblockcount')), 20_000);

    say('running payouts (unlock matured blocks, credit by PPLNS, pay through the wallet) ...');
    const context = await createPayoutContext(config, { logger: pino({ level: 'warn' }), metrics });
    let summary;
    try {
      summary = await runPayoutOnce(context.deps);
    } finally {
      await context.close();
    }
    console.log(formatSummary(summary).replace(/^/gm, '    '));
    await node.rpc('generatetoaddress', [1, elsewhere]);
    say('what the miners\' wallet received:');
    for (const [i, address] of minerAddresses.entries()) {
      const received = await minersWallet<number>('getreceivedbyaddress', [address, 1]);
      console.log(`    ${['alice', 'bob', 'carol'][i].padEnd(6)} ${address}  ${received.toFixed(8)} LTC`);
    }
    const sent = summary.payments.filter((p) => p.status === 'sent');
    if (!summary.ok || sent.length === 0) {
      say('demo FAILED: no payment was made');
      return 1;
    }
    const txids = [...new Set(sent.map((p) => p.txid))];
    say(`demo finished: ${accepted().length} blocks, ${sent.length} payments totalling ${ltc(sent.reduce((n, p) => n + p.amount, 0n))} LTC in ${txids.join(', ')}`);
    return 0;
  } catch (error) {
    say(`demo FAILED: ${(error as Error).message}`);
    return 1;
  } finally {
    for (const miner of miners) await miner.close().catch(() => undefined);
    await pool?.stop().catch(() => undefined);
    await database?.stop().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true }).catch(() => undefined); // the demo leaves nothing in the temp dir
  }
}
