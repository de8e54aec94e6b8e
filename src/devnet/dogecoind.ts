import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killWhenParentDies, onProcessExit, sleep, tailFile, trackChild, waitForExit } from './exec.js';
import { makeRpc, type RpcCall } from './litecoind.js';
import { freePorts } from './ports.js';

/** Regtest: aux work (createauxblock) is available from this height on. */
export const DOGECOIN_AUXPOW_START_HEIGHT = 20;

/**
 * Where a real dogecoind is: DOGECOIND (a path), else `dogecoind` on PATH. Returns the reason when there is
 * none, so merged-mining tests and the demo can say why they did not run.
 */
export function findDogecoind(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  const fromEnv = env.DOGECOIND;
  if (fromEnv) {
    if (fs.existsSync(fromEnv)) return { path: fromEnv };
    return { missing: `DOGECOIND=${fromEnv} does not exist` };
  }
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'dogecoind');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return { path: candidate };
    } catch {
      // not here
    }
  }
  return { missing: 'no dogecoind: set DOGECOIND to a Dogecoin Core 1.14.x dogecoind (e.g. ../shared/bin/dogecoind) or put one on PATH' };
}

/** A binary without the run bit (copied from read-only media) is copied to a temp dir and made executable. */
function runnable(bin: string): string {
  try {
    fs.accessSync(bin, fs.constants.X_OK);
    return bin;
  } catch {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-dogecoind-bin-'));
    const copy = path.join(dir, 'dogecoind');
    fs.copyFileSync(bin, copy);
    fs.chmodSync(copy, 0o755);
    return copy;
  }
}

export interface DogecoinNode {
  /** http://user:pass@127.0.0.1:port */
  readonly rpcUrl: string;
  readonly rpcPort: number;
  readonly datadir: string;
  rpc: RpcCall;
  /** A fresh legacy (base58) address of the node's wallet. */
  newAddress(): Promise<string>;
  mine(n: number, address?: string): Promise<string[]>;
  /** Stops the daemon keeping its data dir (restart() brings it back on the same ports). */
  halt(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A dogecoind -regtest in a temp dir on loopback, with 20 blocks mined so createauxblock answers. */
export async function startDogecoinRegtest(o: { bin?: string } = {}): Promise<DogecoinNode> {
  const found = o.bin ? { path: o.bin } : findDogecoind();
  if ('missing' in found) throw new Error(found.missing);
  const bin = runnable(found.path);
  const datadir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'ltcpool-dogecoin-'));
  const [rpcPort, p2pPort] = await freePorts(2);
  const user = `doge${randomBytes(4).toString('hex')}`;
  const password = randomBytes(16).toString('hex');
  const rpc = makeRpc(rpcPort, user, password, '/', 30_000);
  let child: ChildProcess | undefined;
  let stderr = '';
  let dismiss: () => void = () => undefined;
  const forgetCleanup = onProcessExit(() => fs.rmSync(datadir, { recursive: true, force: true }));

  const launch = async (): Promise<void> => {
    const args = [
      '-regtest', `-datadir=${datadir}`, '-server=1', `-rpcuser=${user}`, `-rpcpassword=${password}`, '-rpcbind=127.0.0.1',
      '-rpcallowip=127.0.0.1', `-rpcport=${rpcPort}`, `-port=${p2pPort}`, '-listen=0', '-dnsseed=0', '-discover=0',
      '-upnp=0', '-printtoconsole=0', '-rpcworkqueue=32', '-txindex=1',
    ];
    child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(child);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
    dismiss = killWhenParentDies(child.pid!);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`dogecoind exited with ${child.exitCode ?? child.signalCode} at start-up: ${stderr.trim()}\n${tailFile(path.join(datadir, 'regtest', 'debug.log'))}`);
      }
      try {
        await rpc('getblockchaininfo');
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`dogecoind RPC did not answer within 60 s: ${(error as Error).message}`);
      }
      await sleep(100);
    }
  };

  const halt = async (): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await rpc('stop').catch(() => c.kill('SIGTERM'));
    if (!(await waitForExit(c, 20_000))) {
      c.kill('SIGKILL');
      await waitForExit(c, 5_000);
    }
    dismiss();
  };

  try {
    await launch();
    const newAddress = () => rpc<string>('getnewaddress');
    const mine = async (n: number, address?: string) => rpc<string[]>('generatetoaddress', [n, address ?? (await newAddress())]);
    await mine(DOGECOIN_AUXPOW_START_HEIGHT);
    let stopped: Promise<void> | undefined;
    return {
      rpcUrl: `http://${user}:${password}@127.0.0.1:${rpcPort}`,
      rpcPort,
      datadir,
      rpc,
      newAddress,
      mine,
      halt,
      restart: launch,
      stop: () =>
        (stopped ??= (async () => {
          await halt();
          forgetCleanup();
          await fs.promises.rm(datadir, { recursive: true, force: true });
        })()),
    };
  } catch (error) {
    await halt().catch(() => undefined);
    forgetCleanup();
    await fs.promises.rm(datadir, { recursive: true, force: true });
    throw error;
  }
}
