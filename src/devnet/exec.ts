import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a command to completion and captures its output. Rejects only if it cannot be spawned. */
export function run(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const { timeoutMs = 60_000, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Like run(), but rejects with the command line and its output when the exit code is not 0. */
export async function runChecked(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.code ?? result.signal}\n${(result.stderr + result.stdout).trim().slice(-4000)}`,
    );
  }
  return result;
}

// ---- children that must never outlive the test process ----

const trackedChildren = new Set<ChildProcess>();
const exitCleanups = new Set<() => void>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on('exit', () => {
    for (const child of trackedChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
    for (const cleanup of exitCleanups) {
      try {
        cleanup();
      } catch {
        /* best effort at exit */
      }
    }
  });
}

/** SIGKILLs the child when this process exits (normal exit or process.exit). */
export function trackChild(child: ChildProcess): void {
  installExitHandler();
  trackedChildren.add(child);
  child.once('exit', () => trackedChildren.delete(child));
}

/**
 * Registers a synchronous cleanup run at process exit (e.g. `pg_ctl stop -m immediate`).
 * Returns a function that unregisters it.
 */
export function onProcessExit(cleanup: () => void): () => void {
  installExitHandler();
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

/**
 * A watchdog shell that signals `pid` (default SIGKILL) as soon as our end of its stdin pipe closes, which also happens when
 * this process dies from SIGKILL and 'exit' handlers never run. Call the returned function to dismiss it.
 */
export function killWhenParentDies(pid: number, signal: 'KILL' | 'QUIT' | 'TERM' = 'KILL'): () => void {
  const watchdog = spawn('/bin/sh', ['-c', `read _ignored; kill -${signal} ${pid} 2>/dev/null`], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  watchdog.on('error', () => {});
  watchdog.stdin?.on('error', () => {});
  watchdog.unref();
  (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return () => {
    try {
      watchdog.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  };
}

/** Waits for a child to exit; resolves false if it is still running after timeoutMs. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Last `maxBytes` of a file, or a note that it could not be read. */
export function tailFile(file: string, maxBytes = 4000): string {
  try {
    const stat = fs.statSync(file);
    const fd = fs.openSync(file, 'r');
    try {
      const length = Math.min(stat.size, maxBytes);
      const buffer = Buffer.alloc(length);
      fs.readSync(fd, buffer, 0, length, stat.size - length);
      return buffer.toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return `(could not read ${file}: ${(err as Error).message})`;
  }
}

/** Synchronous command for exit-time cleanups (async work cannot run in an 'exit' handler). */
export function runSync(command: string, args: string[], timeoutMs = 10_000): void {
  spawnSync(command, args, { stdio: 'ignore', timeout: timeoutMs });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
