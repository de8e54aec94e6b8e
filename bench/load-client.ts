/**
 * Stratum load generator, run as a separate process (child_process.fork with tsx) so its CPU is not the pool's.
 * Never hashes: every share is a unique (extranonce2, nonce) pair, and the pool under test sends a tiny port
 * difficulty so every one of them passes after the pool's Scrypt. Two modes:
 *  - closed loop: each connection keeps `inFlightPerConnection` submits outstanding (max throughput);
 *  - open loop: `ratePerSec` submits per second across all connections, whatever the answers do (latency).
 * Parent → child: one LoadConfig message. Child → parent: {type:'measuring'}, {type:'window-end'}, then {type:'result', result}.
 */
import net from 'node:net';
import { onLines } from '../test/support/stratum-lines.js';

export interface LoadConfig {
  host: string;
  port: number;
  connections: number;
  /** Username prefix; `.w<i>` is appended per connection. */
  address: string;
  warmupMs: number;
  measureMs: number;
  /** Closed loop: outstanding submits per connection. Open loop: safety cap per connection. */
  inFlightPerConnection: number;
  /** Set for open loop (paced) mode. */
  ratePerSec?: number;
  /** After the window, wait this long at most for outstanding answers. */
  drainMs: number;
  /** Give up on connections that have no job after this long. */
  readyTimeoutMs: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LoadResult {
  mode: 'closed' | 'open';
  connectionsReady: number;
  windowSeconds: number;
  /** Accepted answers that arrived inside the measurement window. */
  acceptedInWindow: number;
  rejectedInWindow: number;
  acceptedPerSec: number;
  /** Submits sent inside the window (open loop: the offered load actually achieved). */
  sentInWindow: number;
  offeredPerSec: number;
  /** Open loop: submit→answer of shares sent inside the window; closed loop: of answers inside the window. Milliseconds. */
  latency: LatencySummary;
  /** Shares sent in the window still unanswered after the drain. */
  unanswered: number;
  rejectSamples: string[];
  closedEarly: number;
  clientCpuPercent: number;
}

interface Conn {
  socket: net.Socket;
  user: string;
  jobId: string | undefined;
  ntime: string;
  nonce: number;
  nextId: number;
  outstanding: number;
  sentAt: Map<number, number>;
  closed: boolean;
}

const FIRST_SUBMIT_ID = 100;

function summarize(values: number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const sorted = Float64Array.from(values).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1], mean: sum / sorted.length };
}

export async function runLoad(
  config: LoadConfig,
  onMeasuring: () => void = () => undefined,
  onWindowEnd: () => void = () => undefined,
): Promise<LoadResult> {
  const open = config.ratePerSec !== undefined;
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let sending = false;
  let accepted = 0;
  let rejected = 0;
  let sentInWindow = 0;
  let answeredFromWindow = 0;
  let closedEarly = 0;
  const latencies: number[] = [];
  const rejectSamples = new Map<string, number>();
  let onAnswer: (() => void) | undefined;

  const submitLine = (c: Conn): string => {
    const id = c.nextId++;
    const now = performance.now();
    c.sentAt.set(id, now);
    c.outstanding++;
    if (now >= windowStart && now < windowEnd) sentInWindow++;
    const nonce = (c.nonce++ >>> 0).toString(16).padStart(8, '0');
    return `{"id":${id},"method":"mining.submit","params":["${c.user}","${c.jobId}","00000000","${c.ntime}","${nonce}"]}\n`;
  };

  const refill = (c: Conn): void => {
    if (!sending || open || c.closed || c.jobId === undefined) return;
    let out = '';
    while (c.outstanding < config.inFlightPerConnection) out += submitLine(c);
    if (out) c.socket.write(out);
  };

  const onLine = (c: Conn, line: string): void => {
    if (line.includes('"method"')) {
      const message = JSON.parse(line) as { method: string; params: unknown[] };
      if (message.method === 'mining.notify') {
        c.jobId = String(message.params[0]);
        c.ntime = String(message.params[7]);
      }
      return;
    }
    // Answers are {"id":N,"result":...,"error":...}: read them without a JSON parse (this process must stay light).
    if (!line.startsWith('{"id":')) return;
    const id = parseInt(line.slice(6), 10);
    if (!(id >= FIRST_SUBMIT_ID)) return;
    const sent = c.sentAt.get(id);
    if (sent === undefined) return;
    c.sentAt.delete(id);
    c.outstanding--;
    const now = performance.now();
    const ok = line.includes('"result":true');
    const inWindow = now >= windowStart && now < windowEnd;
    if (inWindow) {
      if (ok) accepted++;
      else {
        rejected++;
        const reason = /"error":\[\d+,"([^"]*)"/.exec(line)?.[1] ?? line.slice(0, 120);
        rejectSamples.set(reason, (rejectSamples.get(reason) ?? 0) + 1);
      }
    }
    if (open) {
      if (sent >= windowStart && sent < windowEnd) {
        latencies.push(now - sent);
        answeredFromWindow++;
      }
    } else if (inWindow) latencies.push(now - sent);
    onAnswer?.();
  };

  const conns: Conn[] = [];
  const allReady = new Promise<void>((resolve) => {
    let ready = 0;
    const timer = setTimeout(resolve, config.readyTimeoutMs);
    for (let i = 0; i < config.connections; i++) {
      const socket = net.connect({ host: config.host, port: config.port, noDelay: true });
      const c: Conn = {
        socket, user: `${config.address}.w${i}`, jobId: undefined, ntime: '', nonce: 0, nextId: FIRST_SUBMIT_ID,
        outstanding: 0, sentAt: new Map(), closed: false,
      };
      conns.push(c);
      socket.setEncoding('utf8');
      socket.on('connect', () => {
        socket.write(
          `{"id":1,"method":"mining.subscribe","params":["ltcpool-bench/1"]}\n{"id":2,"method":"mining.authorize","params":["${c.user}","x"]}\n`,
        );
      });
      onLines(
        socket,
        (line) => {
          const had = c.jobId !== undefined;
          onLine(c, line);
          if (!had && c.jobId !== undefined && ++ready === config.connections) {
            clearTimeout(timer);
            resolve();
          }
        },
        () => refill(c),
      );
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (!c.closed && sending) closedEarly++;
        c.closed = true;
      });
    }
  });
  await allReady;
  const live = conns.filter((c) => c.jobId !== undefined && !c.closed);
  if (live.length === 0) {
    for (const c of conns) c.socket.destroy();
    throw new Error(`no connection received a job within ${config.readyTimeoutMs} ms`);
  }

  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  windowStart = started + config.warmupMs;
  windowEnd = windowStart + config.measureMs;
  sending = true;
  const measuringTimer = setTimeout(onMeasuring, config.warmupMs);
  let cpuAtWindowStart = cpuBefore;
  const cpuTimer = setTimeout(() => (cpuAtWindowStart = process.cpuUsage()), config.warmupMs);

  if (open) {
    const rate = config.ratePerSec!;
    let sent = 0;
    let rr = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        if (now >= windowEnd) {
          resolve();
          return;
        }
        const due = Math.floor(((now - started) / 1000) * rate) - sent;
        const batches = new Map<Conn, string>();
        for (let k = 0; k < due; k++) {
          // Round robin; skip a connection at its safety cap (counts as not offered).
          const c = live[rr++ % live.length];
          sent++;
          if (c.closed || c.outstanding >= config.inFlightPerConnection) continue;
          batches.set(c, (batches.get(c) ?? '') + submitLine(c));
        }
        for (const [c, text] of batches) c.socket.write(text);
        setTimeout(tick, 1);
      };
      tick();
    });
  } else {
    for (const c of live) refill(c);
    await new Promise((r) => setTimeout(r, config.warmupMs + config.measureMs));
  }
  sending = false;
  onWindowEnd();
  const cpuAfter = process.cpuUsage(cpuAtWindowStart);
  clearTimeout(measuringTimer);
  clearTimeout(cpuTimer);

  // Drain: wait (bounded) for answers to what is still outstanding.
  const outstanding = () => live.reduce((n, c) => n + (c.closed ? 0 : c.outstanding), 0);
  if (outstanding() > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, config.drainMs);
      onAnswer = () => {
        if (outstanding() === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
  }
  onAnswer = undefined;
  for (const c of conns) c.socket.destroy();

  const windowSeconds = config.measureMs / 1000;
  return {
    mode: open ? 'open' : 'closed',
    connectionsReady: live.length,
    windowSeconds,
    acceptedInWindow: accepted,
    rejectedInWindow: rejected,
    acceptedPerSec: accepted / windowSeconds,
    sentInWindow,
    offeredPerSec: sentInWindow / windowSeconds,
    latency: summarize(latencies),
    unanswered: open ? sentInWindow - answeredFromWindow : 0,
    rejectSamples: [...rejectSamples].slice(0, 5).map(([reason, n]) => `${n}× ${reason}`),
    closedEarly,
    clientCpuPercent: ((cpuAfter.user + cpuAfter.system) / 1000 / config.measureMs) * 100,
  };
}

if (process.send) {
  process.once('message', (config: LoadConfig) => {
    runLoad(config, () => process.send!({ type: 'measuring' }), () => process.send!({ type: 'window-end' }))
      .then((result) => process.send!({ type: 'result', result }, () => process.exit(0)))
      .catch((error: Error) => process.send!({ type: 'error', message: error.stack ?? error.message }, () => process.exit(1)));
  });
}
