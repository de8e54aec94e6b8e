import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { expect } from 'vitest';
import { killWhenParentDies, trackChild } from '../../src/devnet/exec.js';
import { waitFor } from './pool.js';

/** Helpers of the tests that run a real HAProxy (Debian package `haproxy`) in front of `serve` processes. */
export const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';

/** docker/haproxy/haproxy.cfg with only its addresses replaced by loopback ports. */
export function haproxyConfig(front: number, stats: number, instances: ReadonlyArray<{ stratumPort: number; httpPort: number }>): string {
  let cfg = fs.readFileSync('docker/haproxy/haproxy.cfg', 'utf8');
  const replace = (from: RegExp, to: string) => {
    expect(cfg, `docker/haproxy/haproxy.cfg has ${from}`).toMatch(from);
    cfg = cfg.replace(from, to);
  };
  cfg = cfg.replaceAll(/^( {4}maxconn) 100000$/gm, '$1 2000');
  replace(/^ {4}bind :3333$/m, `    bind 127.0.0.1:${front}`);
  replace(/^ {4}bind 127\.0\.0\.1:8404$/m, `    bind 127.0.0.1:${stats}`);
  instances.forEach((instance, i) => {
    replace(new RegExp(`^ {4}server pool${i + 1} pool${i + 1}:3334 check port 9100$`, 'm'), `    server pool${i + 1} 127.0.0.1:${instance.stratumPort} check port ${instance.httpPort}`);
  });
  return cfg;
}

export function startHaproxy(configFile: string): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(HAPROXY, ['-db', '-f', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  const dismiss = child.pid ? killWhenParentDies(child.pid) : () => undefined;
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d.toString()).slice(-200_000)));
  child.stderr!.on('data', (d) => (log = (log + d.toString()).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => log,
    stop: async () => {
      dismiss();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Server name -> status (UP, DOWN, NOLB, ...) from HAProxy's CSV stats. */
export async function haproxyServers(stats: number): Promise<Map<string, string>> {
  const csv = await (await fetch(`http://127.0.0.1:${stats}/;csv`)).text();
  const rows = csv.split('\n').map((l) => l.split(','));
  const status = rows[0].indexOf('status');
  return new Map(rows.filter((r) => r[0] === 'ltcpool' && r[1].startsWith('pool')).map((r) => [r[1], r[status]]));
}

/** Resolves once HAProxy reports `count` servers, all UP; throws at once if HAProxy exits. */
export async function waitForServersUp(haproxy: { child: ChildProcess; output: () => string }, stats: number, count: number): Promise<void> {
  await waitFor(`HAProxy sees the ${count} instances up`, async () => {
    if (haproxy.child.exitCode !== null) throw new Error(`haproxy exited:\n${haproxy.output()}`);
    const servers = await haproxyServers(stats).catch(() => new Map<string, string>());
    return servers.size === count && [...servers.values()].every((s) => s === 'UP');
  }, 30_000, 200);
}

/** The instance id a pool put in the first byte of extranonce1. */
export const instanceOf = (extranonce1: string) => Number.parseInt(extranonce1.slice(0, 2), 16);

export function writeFile(file: string, text: string): string {
  fs.writeFileSync(file, text);
  return file;
}
