import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { killWhenParentDies, trackChild } from '../../src/devnet/exec.js';
import { waitFor } from './pool.js';

export interface PoolProcess {
  child: ChildProcess;
  output: () => string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

const CLI = path.resolve('src/cli.ts');

/** `ltcpool serve --config <file>` as a real child process; resolves once the Stratum port accepts connections. */
export async function spawnPool(configFile: string, stratumPort: number, env: NodeJS.ProcessEnv = {}): Promise<PoolProcess> {
  // One process (not the tsx wrapper, which forks another node): SIGKILL must hit the pool itself.
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--config', configFile], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never outlive the test run, even when a test fails before it kills the pool (or vitest itself is killed).
  trackChild(child);
  const dismissWatchdog = child.pid ? killWhenParentDies(child.pid) : () => undefined;
  child.once('exit', () => dismissWatchdog());
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d.toString()).slice(-2_000_000)));
  child.stderr!.on('data', (d) => (log = (log + d.toString()).slice(-2_000_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    `pool on port ${stratumPort}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`pool exited with ${child.exitCode}:\n${log}`);
      return log.includes('ltcpool is serving');
    },
    60_000,
    100,
  );
  return {
    child,
    output: () => log,
    kill: async (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function writeJson(file: string, value: unknown): string {
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}
