import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from '../ops/metrics.js';
import type { Job } from '../work/job.js';
import type { JobManager } from './job-manager.js';
import { Session, type SessionSettings } from './session.js';
import type { ShareProcessor, SubmitOutcome } from './share-processor.js';

export interface ListenPort {
  port: number;
  difficulty: number;
  name?: string;
}

export interface StratumServerOptions {
  host: string;
  ports: ListenPort[];
  instanceId: number;
  session: Omit<SessionSettings, 'startDifficulty'>;
  jobs: JobManager;
  shares: ShareProcessor;
  metrics: Metrics;
  logger: Logger;
  authorizeTimeoutMs: number;
  idleTimeoutMs: number;
  connectionsPerIp: number;
}

/**
 * The socket role: accepts miners, keeps their sessions, broadcasts work. Shares go to the
 * ShareProcessor; jobs come from the JobManager.
 */
export class StratumServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Session>();
  private readonly perIp = new Map<string, number>();
  private nextSessionId = 1;
  private extranonceCounter = Math.floor(Math.random() * 0xffffff);
  private tickTimer: NodeJS.Timeout | undefined;
  private shuttingDown = false;
  readonly boundPorts: number[] = [];

  constructor(private readonly options: StratumServerOptions) {
    options.jobs.on('job', (job: Job, clean: boolean) => this.broadcast(job, clean));
  }

  async listen(): Promise<void> {
    for (const portConfig of this.options.ports) {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket, portConfig));
      server.on('error', (error) => this.options.logger.error({ err: error, port: portConfig.port }, 'stratum listener error'));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.options.host, port: portConfig.port, backlog: 4096 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : portConfig.port;
      this.boundPorts.push(bound);
      this.servers.push(server);
      this.options.logger.info({ host: this.options.host, port: bound, difficulty: portConfig.difficulty }, 'stratum port listening');
    }
    this.tickTimer = setInterval(() => this.tick(), 5000);
    this.tickTimer.unref();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  stats(): { connections: number; workers: number; miners: number } {
    let workers = 0;
    const miners = new Set<string>();
    for (const session of this.sessions) {
      workers += session.workerCount;
      for (const address of session.addresses()) miners.add(address);
    }
    return { connections: this.sessions.size, workers, miners: miners.size };
  }

  broadcast(job: Job, cleanJobs: boolean): void {
    for (const session of this.sessions) session.sendJob(job, cleanJobs);
  }

  /** Stops accepting, asks every miner to reconnect (to a sibling instance), then closes. */
  async close(options: { reconnect?: boolean; graceMs?: number } = {}): Promise<void> {
    this.shuttingDown = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    // net.Server.close() only calls back once every connection is gone, so stop listening first and wait later.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const session of this.sessions) {
      if (options.reconnect !== false) session.sendReconnect();
    }
    const deadline = Date.now() + (options.graceMs ?? 500);
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const session of this.sessions) session.socket.destroy();
    await closed;
  }

  private nextExtranonce1(): Buffer {
    this.extranonceCounter = (this.extranonceCounter + 1) & 0xffffff;
    const out = Buffer.alloc(4);
    out.writeUInt32BE(((this.options.instanceId & 0xff) << 24) | this.extranonceCounter);
    return out;
  }

  private accept(socket: Socket, portConfig: ListenPort): void {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    const count = this.perIp.get(ip) ?? 0;
    if (count >= this.options.connectionsPerIp) {
      this.options.logger.warn({ ip, limit: this.options.connectionsPerIp }, 'connection refused: too many connections from this IP');
      socket.destroy();
      return;
    }
    this.perIp.set(ip, count + 1);
    const session = new Session(
      this.nextSessionId++,
      socket,
      ip,
      this.nextExtranonce1(),
      { ...this.options.session, startDifficulty: portConfig.difficulty },
      {
        currentJob: () => this.options.jobs.current,
        shares: this.options.shares,
        onAuthorized: () => this.updateGauges(),
        onSubmitResult: (_s: Session, _o: SubmitOutcome) => undefined,
        onProtocolError: (s, reason) => this.options.logger.debug({ ip: s.ip, reason }, 'protocol error'),
        onClose: (s) => this.onSessionClosed(s),
      },
      this.options.logger,
    );
    this.sessions.add(session);
    this.options.metrics.connections.set(this.sessions.size);
  }

  private onSessionClosed(session: Session): void {
    this.sessions.delete(session);
    const count = (this.perIp.get(session.ip) ?? 1) - 1;
    if (count <= 0) this.perIp.delete(session.ip);
    else this.perIp.set(session.ip, count);
    this.options.metrics.connections.set(this.sessions.size);
    this.updateGauges();
  }

  private updateGauges(): void {
    const { workers, miners } = this.stats();
    this.options.metrics.workersAuthorized.set(workers);
    this.options.metrics.minersAuthorized.set(miners);
  }

  private tick(): void {
    const now = Date.now();
    for (const session of this.sessions) {
      if (!session.authorized && now - session.connectedAt > this.options.authorizeTimeoutMs) {
        session.close('did not subscribe and authorize in time');
        continue;
      }
      if (now - session.lastActivityAt > this.options.idleTimeoutMs) {
        session.close('idle');
        continue;
      }
      session.tick(now);
    }
  }
}

/** IPv4-mapped IPv6 (::ffff:1.2.3.4) as plain IPv4. */
export function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
