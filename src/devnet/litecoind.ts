import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RpcClient, RpcError } from '../chain/rpc.js';
import { freePorts } from './ports.js';
import { killWhenParentDies, onProcessExit, sleep, tailFile, trackChild, waitForExit } from './exec.js';

/** The daemon itself: /usr/bin/litecoind is a Debian wrapper that writes ~/.litecoin. */
export const LITECOIND_BIN = process.env.LITECOIND_BIN ?? '/usr/lib/litecoin/litecoind';

/** MWEB activates at this height on regtest; the block at this height needs an MWEB peg-in in the mempool. */
export const REGTEST_MWEB_HEIGHT = 432;

/** Wallet on node 2 funded with this many whole coinbase outputs; each MWEB peg-in in fillMempool spends one. */
const PEGIN_WALLET = 'pegin';
export const PEGIN_COINBASES = 40;

export type AddressType = 'bech32' | 'legacy' | 'p2sh-segwit' | 'mweb';

export interface StartRegtestOptions {
  /** Activate MWEB (tip ends at 432 with a peg-in). Default false (tip 101). */
  mweb?: boolean;
  /** Wallet created on node 1. Default 'pool'. */
  walletName?: string;
  /** Extra litecoind arguments for node 1. */
  extraArgs?: string[];
}

export type RpcCall = <T = unknown>(method: string, params?: unknown[]) => Promise<T>;

export interface FillMempoolResult { segwit: string[]; mwebPegIns: string[] }

export interface RegtestNode {
  /** http://user:pass@127.0.0.1:port of node 1 (the one with the wallet, mine to it). */
  readonly rpcUrl: string;
  readonly rpcPort: number;
  readonly p2pPort: number;
  readonly datadir: string;
  readonly rpcUser: string;
  readonly rpcPassword: string;
  readonly walletName: string;
  /** Peer node (no wallet) connected to node 1. */
  readonly node2: { readonly rpcUrl: string; readonly rpcPort: number; readonly p2pPort: number; readonly datadir: string };
  /** Seconds the whole start-up took (both daemons, wallet, initial blocks, MWEB activation). */
  readonly setupSeconds: number;
  rpc: RpcCall;
  node2Rpc: RpcCall;
  newAddress(type?: AddressType): Promise<string>;
  /** generatetoaddress on node 1 (default: a fresh bech32 wallet address); returns block hashes. */
  mine(n: number, address?: string): Promise<string[]>;
  /** Waits until node 2 has node 1's best block. */
  waitForSync(timeoutMs?: number): Promise<void>;
  /** Puts transactions into node 1's mempool: `segwit` wallet sends of `amount` (default 0.01) to bech32 addresses, and `mwebPegIns` canonical-to-MWEB peg-ins of a whole 50 LTC coinbase each (needs mweb: true; at most PEGIN_COINBASES per node). Returns the txids. */
  fillMempool(o: { segwit?: number; mwebPegIns?: number; amount?: number }): Promise<FillMempoolResult>;
  /** Stops node 1 and starts it again on the same data dir and ports, with these extra arguments (default: the ones it started with); reloads the wallet. */
  restart(o?: { extraArgs?: string[] }): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A call function on the pool's own JSON-RPC client, without keep-alive: kept-alive sockets make litecoind's
 * shutdown wait ~4 s for them to time out.
 */
export function makeRpc(rpcPort: number, user: string, password: string, urlPath = '/', timeoutMs = 60_000): RpcCall {
  const client = new RpcClient({ url: `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${rpcPort}${urlPath}`, timeoutMs, keepAlive: false });
  return <T = unknown>(method: string, params: unknown[] = []) => client.call<T>(method, params);
}

interface Daemon {
  child: ChildProcess;
  datadir: string;
  rpcPort: number;
  p2pPort: number;
  rpc: RpcCall;
  dismissWatchdog: () => void;
  forgetExitCleanup: () => void;
  stderr: () => string;
}

function debugLogPath(datadir: string): string {
  return path.join(datadir, 'regtest', 'debug.log');
}

async function spawnDaemon(o: {
  datadir: string;
  rpcPort: number;
  p2pPort: number;
  user: string;
  password: string;
  extraArgs: string[];
}): Promise<Daemon> {
  if (!fs.existsSync(LITECOIND_BIN)) {
    throw new Error(`litecoind not found at ${LITECOIND_BIN} (install the Debian package 'litecoind' or set LITECOIND_BIN)`);
  }
  const args = [
    '-regtest',
    `-datadir=${o.datadir}`,
    `-port=${o.p2pPort}`,
    `-bind=127.0.0.1:${o.p2pPort}`,
    `-rpcport=${o.rpcPort}`,
    '-rpcbind=127.0.0.1',
    '-rpcallowip=127.0.0.1',
    `-rpcuser=${o.user}`,
    `-rpcpassword=${o.password}`,
    '-server=1',
    '-listen=1',
    '-txindex=1',
    '-fallbackfee=0.0001',
    '-printtoconsole=0',
    '-discover=0',
    '-dnsseed=0',
    '-upnp=0',
    '-listenonion=0',
    '-rpcworkqueue=64',
    '-rpcthreads=8',
    '-keypool=100',
    ...o.extraArgs,
  ];
  const child = spawn(LITECOIND_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (err) => resolve(err));
  });
  if (spawned) throw new Error(`cannot start ${LITECOIND_BIN}: ${spawned.message}`);
  return {
    child,
    datadir: o.datadir,
    rpcPort: o.rpcPort,
    p2pPort: o.p2pPort,
    rpc: makeRpc(o.rpcPort, o.user, o.password),
    dismissWatchdog: killWhenParentDies(child.pid!),
    // Children are SIGKILLed at exit (trackChild); this runs after that and removes the data dir.
    forgetExitCleanup: onProcessExit(() => fs.rmSync(o.datadir, { recursive: true, force: true })),
    stderr: () => stderr,
  };
}

class DaemonExitedEarly extends Error {}

async function waitForRpc(daemon: Daemon, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new DaemonExitedEarly(
        `litecoind (datadir ${daemon.datadir}) exited with ${daemon.child.exitCode ?? daemon.child.signalCode} before RPC answered.\n` +
          `stderr: ${daemon.stderr().trim()}\n--- tail of debug.log ---\n${tailFile(debugLogPath(daemon.datadir))}`,
      );
    }
    try {
      await daemon.rpc('getblockchaininfo');
      return;
    } catch (err) {
      // -28 = warming up; connection refused = not listening yet.
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `litecoind RPC on 127.0.0.1:${daemon.rpcPort} did not answer within ${timeoutMs} ms (last error: ${lastError}).\n` +
          `--- tail of debug.log ---\n${tailFile(debugLogPath(daemon.datadir))}`,
      );
    }
    await sleep(100);
  }
}

async function stopDaemon(daemon: Daemon, timeoutMs = 20_000): Promise<void> {
  const running = () => daemon.child.exitCode === null && daemon.child.signalCode === null;
  if (running()) {
    await daemon.rpc('stop').catch(() => daemon.child.kill('SIGTERM'));
    if (!(await waitForExit(daemon.child, timeoutMs))) {
      daemon.child.kill('SIGKILL');
      await waitForExit(daemon.child, 5_000);
    }
  }
  daemon.dismissWatchdog();
  daemon.forgetExitCleanup();
}

/** Starts a daemon, retrying with new ports if it dies at start-up (a port taken between freePorts() and bind). */
async function startDaemon(o: { user: string; password: string; extraArgs: (p2pPorts: number[]) => string[]; label: string }): Promise<Daemon> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const datadir = await fs.promises.mkdtemp(path.join(os.tmpdir(), `ltcpool-regtest-${o.label}-`));
    const [rpcPort, p2pPort] = await freePorts(2);
    const daemon = await spawnDaemon({ datadir, rpcPort, p2pPort, user: o.user, password: o.password, extraArgs: o.extraArgs([p2pPort]) });
    try {
      await waitForRpc(daemon);
      return daemon;
    } catch (err) {
      lastError = err as Error;
      await stopDaemon(daemon, 5_000);
      await fs.promises.rm(datadir, { recursive: true, force: true });
      const portClash = err instanceof DaemonExitedEarly && /bind|already in use/i.test(err.message);
      if (!portClash) break;
    }
  }
  throw lastError;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface SoftforkInfo { active?: boolean; height?: number }

/**
 * Starts two connected litecoind -regtest nodes in fresh temp dirs, a wallet on node 1 with mature coins,
 * out of initial block download so getblocktemplate works; with `mweb: true` MWEB is active (tip 432).
 */
export async function startRegtest(opts: StartRegtestOptions = {}): Promise<RegtestNode> {
  const started = Date.now();
  const walletName = opts.walletName ?? 'pool';
  const user = `ltcpool${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  const daemons: Daemon[] = [];

  const stopAll = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => stopDaemon(d)));
    await Promise.all(daemons.map((d) => fs.promises.rm(d.datadir, { recursive: true, force: true })));
  };

  try {
    const node1 = await startDaemon({ user, password, label: 'n1', extraArgs: () => opts.extraArgs ?? [] });
    daemons.push(node1);
    const rpc = node1.rpc;
    // The wallet is created while node 2 starts: both take about a second.
    const [node2] = await Promise.all([
      startDaemon({ user, password, label: 'n2', extraArgs: () => [`-connect=127.0.0.1:${node1.p2pPort}`, '-keypool=10'] }).then((d) => {
        daemons.push(d);
        return d;
      }),
      rpc('createwallet', [walletName]),
    ]);
    const node2Rpc = node2.rpc;

    const newAddress = (type: AddressType = 'bech32') => rpc<string>('getnewaddress', ['', type]);
    const mine = async (n: number, address?: string) => rpc<string[]>('generatetoaddress', [n, address ?? (await newAddress())]);
    const waitForSync = async (timeoutMs = 30_000) => {
      const tip = await rpc<string>('getbestblockhash');
      await waitUntil(`node 2 to reach block ${tip}`, async () => (await node2Rpc<string>('getbestblockhash')) === tip, timeoutMs);
    };

    await waitUntil('node 2 to connect to node 1', async () => (await rpc<number>('getconnectioncount')) > 0, 30_000);

    const coinbaseAddress = await newAddress();
    await mine(101, coinbaseAddress);

    // Peg-ins come from a wallet on node 2 that only ever holds whole canonical coinbase outputs: node 1's
    // wallet keeps MWEB change after the activation peg-in and would then send MWEB-to-MWEB instead of pegging in.
    const pegInWallet = opts.mweb ? makeRpc(node2.rpcPort, user, password, `/wallet/${PEGIN_WALLET}`) : undefined;
    if (pegInWallet) {
      await node2Rpc('createwallet', [PEGIN_WALLET]);
      await mine(PEGIN_COINBASES, await pegInWallet<string>('getnewaddress', ['', 'bech32']));
      const tip = await rpc<number>('getblockcount');
      if (tip < REGTEST_MWEB_HEIGHT - 1) await mine(REGTEST_MWEB_HEIGHT - 1 - tip, coinbaseAddress);
      // The activation block must contain a peg-in, or block assembly fails with bad-txns-vin-empty.
      await rpc('sendtoaddress', [await newAddress('mweb'), 1]);
      await mine(1, coinbaseAddress);
      const info = await rpc<{ blocks: number; softforks?: Record<string, SoftforkInfo> }>('getblockchaininfo');
      if (info.softforks?.mweb?.active !== true) {
        throw new Error(`MWEB did not activate at height ${info.blocks}: softforks=${JSON.stringify(info.softforks)}`);
      }
    }
    await waitForSync();

    const pegIn = async (): Promise<string> => {
      if (!pegInWallet) throw new Error('fillMempool: MWEB peg-ins need startRegtest({ mweb: true })');
      await waitForSync();
      const coins = await pegInWallet<Array<{ amount: number; spendable: boolean }>>('listunspent', [1]);
      const coin = coins.find((c) => c.spendable);
      if (!coin) throw new Error(`fillMempool: all ${PEGIN_COINBASES} peg-in coins are spent`);
      // Whole coin, fee subtracted: exact match, so no change (which would land on the MWEB side).
      const txid = await pegInWallet<string>('sendtoaddress', [await newAddress('mweb'), coin.amount, '', '', true]);
      const { hex } = await pegInWallet<{ hex: string }>('gettransaction', [txid]);
      await rpc('sendrawtransaction', [hex]).catch((err: unknown) => {
        if (!(err instanceof RpcError && /already/i.test(err.rpcMessage))) throw err;
      });
      return txid;
    };

    const fillMempool = async (o: { segwit?: number; mwebPegIns?: number; amount?: number }): Promise<FillMempoolResult> => {
      const amount = o.amount ?? 0.01;
      const result: FillMempoolResult = { segwit: [], mwebPegIns: [] };
      for (let i = 0; i < (o.segwit ?? 0); i++) {
        result.segwit.push(await rpc<string>('sendtoaddress', [await newAddress('bech32'), amount]));
      }
      for (let i = 0; i < (o.mwebPegIns ?? 0); i++) result.mwebPegIns.push(await pegIn());
      return result;
    };

    const restart = async (o: { extraArgs?: string[] } = {}): Promise<void> => {
      const old = daemons[0];
      await stopDaemon(old);
      const again = await spawnDaemon({ datadir: old.datadir, rpcPort: old.rpcPort, p2pPort: old.p2pPort, user, password, extraArgs: o.extraArgs ?? opts.extraArgs ?? [] });
      daemons[0] = again;
      await waitForRpc(again);
      await rpc('loadwallet', [walletName]).catch((err: unknown) => {
        if (!(err instanceof RpcError && /already loaded/i.test(err.rpcMessage))) throw err;
      });
    };

    const credentials = `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
    let stopped: Promise<void> | undefined;
    return {
      rpcUrl: `http://${credentials}@127.0.0.1:${node1.rpcPort}`,
      rpcPort: node1.rpcPort,
      p2pPort: node1.p2pPort,
      datadir: node1.datadir,
      rpcUser: user,
      rpcPassword: password,
      walletName,
      node2: { rpcUrl: `http://${credentials}@127.0.0.1:${node2.rpcPort}`, rpcPort: node2.rpcPort, p2pPort: node2.p2pPort, datadir: node2.datadir },
      setupSeconds: (Date.now() - started) / 1000,
      rpc,
      node2Rpc,
      newAddress,
      mine,
      waitForSync,
      fillMempool,
      restart,
      stop: () => (stopped ??= stopAll()),
    };
  } catch (err) {
    await stopAll().catch(() => {});
    throw err;
  }
}
