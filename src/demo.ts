import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { findDogecoind, startDogecoinRegtest, type DogecoinNode } from './devnet/dogecoind.js';
import { makeRpc, startRegtest, type RegtestNode } from './devnet/litecoind.js';
import { startPostgres, type TestDatabase } from './devnet/postgres.js';
import { TestMiner } from './miner/miner.js';
import { parseConfig, type Config } from './ops/config.js';
import { defaultWebDir } from './ops/web.js';
import { createMetrics } from './ops/metrics.js';
import { redactUrl } from './ops/logger.js';
import { createPayoutContext, formatSummary, runAllChains } from './payouts/cli.js';
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

/** What the demo says about merged mining: on with the dogecoind it found, or off and why. */
export function describeDemoMergedMining(found: { path: string } | { missing: string }): string {
  return 'missing' in found
    ? `merged mining: OFF, Litecoin only (${found.missing})`
    : `merged mining: ON, Dogecoin regtest with ${found.path} (both coins are mined and paid)`;
}

/** The demo's last line: what was paid on each chain (CI looks for "payments totalling"). */
export function demoFinishedLine(chains: Array<{ unit: string; blocks: number; payments: Array<{ amount: bigint; txid?: string }> }>): string {
  return `demo finished: ${chains.map((c) => {
    const txids = [...new Set(c.payments.map((p) => p.txid))];
    return `${c.blocks} ${c.unit} blocks, ${c.payments.length} payments totalling ${ltc(c.payments.reduce((n, p) => n + p.amount, 0n))} ${c.unit} in ${txids.join(', ')}`;
  }).join('; ')}`;
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
  let doge: DogecoinNode | undefined;
  let dogeStarting: Promise<DogecoinNode | undefined> | undefined;
  let database: TestDatabase | undefined;
  const spoolDir = path.join(os.tmpdir(), `ltcpool-demo-spool-${process.pid}`);
  let pool: RunningPool | undefined;
  const miners: TestMiner[] = [];
  try {
    const dogecoind = findDogecoind();
    say(describeDemoMergedMining(dogecoind));
    say(`starting litecoind -regtest (two nodes, MWEB active)${'path' in dogecoind ? ' and dogecoind -regtest' : ''} in a temp dir ...`);
    // Started beside litecoind; a dogecoind that does not start leaves a Litecoin-only demo, said so.
    dogeStarting = 'path' in dogecoind ? startDogecoinRegtest({ bin: dogecoind.path }).catch((error: unknown) => {
      say(`merged mining: OFF after all, dogecoind did not start: ${(error as Error).message.split('\n')[0]}`);
      return undefined;
    }) : undefined;
    node = await startRegtest({ mweb: true });
    say(`litecoind ready at height ${await node.rpc<number>('getblockcount')} in ${node.setupSeconds.toFixed(1)} s`);
    doge = await dogeStarting;
    // Alice and Bob give a Dogecoin address in the password (doge=...); Carol gives none: her DOGE waits.
    const dogeMiners = doge ? [await doge.newAddress(), await doge.newAddress(), undefined] : [undefined, undefined, undefined];
    const poolDogeAddress = doge ? await doge.newAddress() : undefined;
    if (doge) say(`dogecoind ready at height ${await doge.rpc<number>('getblockcount')} (aux work from height 20); the pool's DOGE address ${poolDogeAddress}`);
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
      merged: doge ? [{ chain: 'dogecoin', rpcUrl: doge.rpcUrl, address: poolDogeAddress!, pollIntervalMs: 250, payouts: { minimumPayout: '100000' } }] : [],
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
      const password = dogeMiners[i] ? `doge=${dogeMiners[i]}` : undefined;
      miners.push(new TestMiner({ host: '127.0.0.1', port, username: `${address}.rig${i + 1}`, password, hashrate: speeds[i] }));
    });
    for (const [i, miner] of miners.entries()) {
      const answer = await miner.start();
      if (answer.result !== true) throw new Error(`miner ${i} was not authorized: ${JSON.stringify(answer.error)}`);
      miner.startMining();
      const dogeNote = !doge ? '' : dogeMiners[i] ? `, password doge=${dogeMiners[i]}` : ', no DOGE address given';
      say(`miner ${['alice', 'bob', 'carol'][i]} (${speeds[i]} H/s) mining to ${minerAddresses[i]}${dogeNote}`);
    }

    const accepted = () => pool!.blocks.outcomes.filter((o) => o.accepted);
    const auxAccepted = () => pool!.aux.blocks.outcomes.filter((o) => o.accepted);
    let shown = 0;
    let auxShown = 0;
    await until(`${blocksWanted} blocks`, () => {
      for (const outcome of accepted().slice(shown)) {
        shown++;
        say(blockProgressLine(shown, blocksWanted, outcome));
      }
      for (const outcome of auxAccepted().slice(auxShown)) {
        auxShown++;
        say(`dogecoin block ${auxShown} accepted by dogecoind (on its best chain): height ${outcome.height} ${outcome.hash}`);
      }
      return shown >= blocksWanted && miners.every((m) => m.accepted > 0) && (!doge || auxShown >= 1);
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
    if (doge) {
      await pool.aux.blocks.drain();
      say('mining 61 Dogecoin blocks on top so the pool\'s DOGE blocks mature (regtest coinbase maturity 60) ...');
      await doge.mine(61);
    }

    say(`running payouts (unlock matured blocks, credit by PPLNS, pay through the wallet${doge ? '; then the same for Dogecoin from its own wallet' : ''}) ...`);
    const context = await createPayoutContext(config, { logger: pino({ level: 'warn' }), metrics });
    let results;
    try {
      results = await runAllChains(context);
    } finally {
      await context.close();
    }
    for (const r of results) {
      if (results.length > 1) say(`payout run on ${r.chain} (${r.unit}):`);
      console.log((r.summary ? formatSummary(r.summary, r.unit) : `ERROR: ${r.error}`).replace(/^/gm, '    '));
    }
    await node.rpc('generatetoaddress', [1, elsewhere]);
    if (doge) await doge.mine(1);
    say('what the miners\' wallets received:');
    for (const [i, address] of minerAddresses.entries()) {
      const received = await minersWallet<number>('getreceivedbyaddress', [address, 1]);
      const dogeAddress = dogeMiners[i];
      const dogeReceived = !doge ? '' : dogeAddress
        ? `   ${(await doge.rpc<number>('getreceivedbyaddress', [dogeAddress, 1])).toFixed(8)} DOGE to ${dogeAddress}`
        : '   DOGE waits until the miner gives an address (password doge=...)';
      console.log(`    ${['alice', 'bob', 'carol'][i].padEnd(6)} ${address}  ${received.toFixed(8)} LTC${dogeReceived}`);
    }
    const chains = results.map((r) => ({
      unit: r.unit,
      ok: r.summary?.ok === true,
      blocks: r.chain === 'litecoin' ? accepted().length : auxAccepted().length,
      payments: (r.summary?.payments ?? []).filter((p) => p.status === 'sent'),
    }));
    const failed = chains.filter((c) => !c.ok || c.payments.length === 0);
    if (failed.length > 0) {
      say(`demo FAILED: no payment was made in ${failed.map((c) => c.unit).join(', ')}`);
      return 1;
    }
    say(demoFinishedLine(chains));
    return 0;
  } catch (error) {
    say(`demo FAILED: ${(error as Error).message}`);
    return 1;
  } finally {
    for (const miner of miners) await miner.close().catch(() => undefined);
    await pool?.stop().catch(() => undefined);
    await database?.stop().catch(() => undefined);
    await node?.stop().catch(() => undefined);
    await (doge ?? (await dogeStarting))?.stop().catch(() => undefined);
    await rm(spoolDir, { recursive: true, force: true }).catch(() => undefined); // the demo leaves nothing in the temp dir
  }
}
