import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { AuthorizeRejectReason, Metrics } from '../ops/metrics.js';
import { notifyParams, type Job } from '../work/job.js';
import { BanList, normalizeIp as normalizeAddress, type BanOptions, type Offence } from './bans.js';
import { encodeNotification } from './codec.js';
import type { JobManager } from './job-manager.js';
import { ProxyHeaderReader } from './proxy-protocol.js';
import { isTlsRecordStart, Session } from './session.js';
import type { ProtocolErrorReason, SessionEnvironment, SessionHooks, SessionSettings } from './session-environment.js';
import type { ShareProcessor, SubmitOutcome } from './share-processor.js';
import { loadTlsContext, type TlsFiles } from './tls.js';

export interface ListenPort {
  port: number;
  difficulty: number;
  /** Floor of every difficulty on this port; default min(difficulty, vardiff.minDifficulty). */
  minDifficulty?: number;
  name?: string;
  proxyProtocol?: boolean;
  tls?: TlsFiles;
}

export interface ShutdownOptions {
  /** Share of the sessions asked to reconnect per wave (0..1]. */
  waveFraction: number;
  waveIntervalMs: number;
  /** After the last wave, time for miners to leave before the rest are dropped. */
  graceMs: number;
  /** Named in client.reconnect (another instance); unset: no host, miners come back to the address they used. */
  reconnectTo?: { host: string; port: number };
}

const OFFENCE_FOR: Partial<Record<ProtocolErrorReason, Offence>> = {
  malformed: 'malformed',
  'line-too-long': 'line-too-long',
  flood: 'flood',
  'too-many-pending': 'flood',
};

/** Sessions written per event-loop turn while broadcasting, so shares and accepts interleave with a big broadcast. */
const BROADCAST_BATCH = 2000;
/** Refused mining.authorize: one log line per reason per this long (the metric counts every one). */
const AUTHORIZE_LOG_INTERVAL_MS = 10_000;

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
  bans?: Omit<BanOptions, 'logger' | 'metrics' | 'now'>;
  shutdown?: ShutdownOptions;
  proxyHeaderTimeoutMs?: number;
  /** How long listen() waits for a port in use to be released (default 20 s). */
  listenRetryMs?: number;
  /** A miner gave aux chain addresses in its password (remember the last one per chain). */
  onAuxAddresses?: (address: string, entries: Array<[string, string]>) => void;
  /** Housekeeping period (timeouts, vardiff, ban expiry); defaults from the shortest timeout, at most 5 s. */
  tickIntervalMs?: number;
}

/**
 * The socket role: accepts miners, keeps their sessions, broadcasts work. Shares go to the
 * ShareProcessor; jobs come from the JobManager.
 */
export class StratumServer {
  private readonly servers: Server[] = [];
  private readonly sessions = new Set<Session>();
  /** Connections per IP; the entry's `ip` is the one copy of the address string every session from it shares. */
  private readonly perIp = new Map<string, { ip: string; count: number }>();
  /** Kept as workers come and go (recounting every session on each authorize is quadratic in connections). */
  private workerTotal = 0;
  private readonly workersPerAddress = new Map<string, number>();
  private readonly sessionsPerAddress = new Map<string, Set<Session>>();
  private nextSessionId = 1;
  private extranonceCounter = Math.floor(Math.random() * 0xffffff);
  private tickTimer: NodeJS.Timeout | undefined;
  /** Listeners closed (after the reconnect waves): connections still arriving are refused. */
  private listenersClosed = false;
  private broadcastGeneration = 0;
  private broadcastPendingClean = false;
  private readonly pendingProxy = new Set<Socket>();
  /** One hooks object and one environment (settings, hooks, logger) per port, shared by every session (memory per connection). */
  private readonly hooks: SessionHooks;
  private readonly portEnvironments = new Map<ListenPort, SessionEnvironment>();
  readonly boundPorts: number[] = [];
  readonly bans: BanList;
  /** Told of every worker authorised on a connection and of its end (connected_workers, for pool-wide views). */
  workerPresence: { online(address: string, worker: string, ip: string): void; offline(address: string, worker: string, ip: string): void } | undefined;

  constructor(private readonly options: StratumServerOptions) {
    this.hooks = {
      currentJob: () => this.options.jobs.current,
      findJob: (jobId) => this.options.jobs.lookup(jobId)?.job,
      shares: options.shares,
      onWorkerAdded: (session, address) => this.onWorkerAdded(session, address),
      onAuxAddresses: (_s, address, entries) => this.options.onAuxAddresses?.(address, entries),
      onSubmitResult: (_s: Session, _o: SubmitOutcome) => undefined,
      onProtocolError: (s, reason) => this.onProtocolError(s, reason),
      onAuthorizeRejected: (s, reason, username, detail) => this.onAuthorizeRejected(s, reason, username, detail),
      onTlsProbe: (s) => {
        this.options.metrics.tlsProbesTotal.inc();
        this.options.logger.debug({ ip: s.ip, session: s.id }, 'TLS ClientHello on a plain port: closed without ban score');
      },
      onClose: (s) => this.onSessionClosed(s),
    };
    this.bans = new BanList({
      enabled: false,
      threshold: 100,
      banSeconds: 600,
      scoreHalfLifeSeconds: 60,
      allowList: [],
      ...options.bans,
      logger: options.logger,
      metrics: { bansTotal: options.metrics.bansTotal, bannedIps: options.metrics.bannedIps },
    });
    this.bans.onBan = (ip) => {
      for (const session of this.sessions) if (session.ip === ip) session.close('IP banned');
    };
    options.jobs.on('job', (job: Job, clean: boolean) => this.broadcast(job, clean));
  }

  async listen(): Promise<void> {
    for (const portConfig of this.options.ports) {
      const onSocket = (socket: Socket) => {
        try {
          this.accept(socket, portConfig);
        } catch (error) {
          this.options.logger.error({ err: error }, 'accepting a connection failed');
          socket.destroy();
        }
      };
      let server: Server;
      if (portConfig.tls) {
        const { cert, key } = loadTlsContext(portConfig.tls);
        const tlsServer = createTlsServer({ cert, key, handshakeTimeout: 10_000 }, onSocket);
        // Handshake failures (plain-text clients, scanners) are the client's problem, not a listener error.
        tlsServer.on('tlsClientError', (error, socket) => {
          this.options.logger.debug({ err: error, ip: socket.remoteAddress }, 'TLS handshake failed');
          socket.destroy();
        });
        server = portConfig.tls.optional
          ? createServer({ noDelay: true }, (socket) => this.sniffTls(socket, portConfig, tlsServer))
          : tlsServer;
      } else {
        server = createServer({ noDelay: true }, onSocket);
      }
      server.on('error', (error) => this.options.logger.error({ err: error, port: portConfig.port }, 'stratum listener error'));
      await this.bind(server, portConfig.port);
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : portConfig.port;
      this.boundPorts.push(bound);
      this.servers.push(server);
      this.options.logger.info(
        { host: this.options.host, port: bound, difficulty: portConfig.difficulty, tls: Boolean(portConfig.tls), proxyProtocol: Boolean(portConfig.proxyProtocol) },
        'stratum port listening',
      );
    }
    const shortestTimeout = Math.min(this.options.authorizeTimeoutMs, this.options.idleTimeoutMs);
    this.tickTimer = setInterval(() => this.tick(), this.options.tickIntervalMs ?? Math.min(5000, Math.max(100, shortestTimeout / 4)));
    this.tickTimer.unref();
  }

  /**
   * Listens, waiting while the port is in use: a process being replaced keeps accepting until its reconnect
   * waves and grace are over (miners that obey client.reconnect at once must find a port), so its successor,
   * started meanwhile, takes the port when it is released instead of dying. Gives up after listenRetryMs.
   */
  private async bind(server: Server, port: number): Promise<void> {
    const giveUpAt = Date.now() + (this.options.listenRetryMs ?? 20_000);
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host: this.options.host, port, backlog: 4096 }, () => {
            server.off('error', reject);
            resolve();
          });
        });
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0 || Date.now() >= giveUpAt) throw error;
        if (attempt === 0) this.options.logger.warn({ host: this.options.host, port }, 'stratum port in use (a previous process still sending its miners on?): waiting for it');
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  stats(): { connections: number; workers: number; miners: number } {
    return { connections: this.sessions.size, workers: this.workerTotal, miners: this.workersPerAddress.size };
  }

  /** Workers of `address` connected now, with the IP each connects from (the dashboard; settings authorisation). */
  connectedWorkers(address: string): { worker: string; ip: string }[] {
    const out: { worker: string; ip: string }[] = [];
    // only the address's own sessions (an index kept on authorize/close): a public API call never walks every connection
    for (const session of this.sessionsPerAddress.get(address) ?? []) {
      for (const w of session.workers()) if (w.address === address) out.push({ worker: w.worker, ip: session.ip });
    }
    return out;
  }

  /**
   * Sends a job to every session: one encoded line shared by all, written in batches so a broadcast to
   * tens of thousands of sockets never holds the event loop for long. A newer job supersedes a broadcast
   * still in progress (keeping its clean_jobs flag), so no session gets older work after newer.
   */
  broadcast(job: Job, cleanJobs: boolean): void {
    const generation = ++this.broadcastGeneration;
    const clean = cleanJobs || this.broadcastPendingClean;
    this.broadcastPendingClean = clean;
    const line = encodeNotification('mining.notify', notifyParams(job, clean));
    const targets = [...this.sessions];
    // New work first: shares arriving meanwhile are still read and checked, their Scrypt waits for the end.
    const resumeHashing = targets.length >= BROADCAST_BATCH ? this.options.shares.pauseHashing() : undefined;
    let index = 0;
    const writeBatch = () => {
      if (generation !== this.broadcastGeneration) {
        resumeHashing?.();
        return;
      }
      const end = Math.min(targets.length, index + BROADCAST_BATCH);
      for (; index < end; index++) targets[index].sendJob(job, clean, line);
      if (index < targets.length) setImmediate(writeBatch);
      else {
        this.broadcastPendingClean = false;
        resumeHashing?.();
      }
    };
    writeBatch();
  }

  /**
   * Asks miners to reconnect (to `reconnectTo`, or with no host: back to the address they used, where the new
   * process or a sibling takes them) in waves while the others keep being served, and keeps accepting until the
   * waves are out and the grace is over: a client that obeys at once (cgminer, bfgminer) must find a listening
   * port. Then stops listening and closes whatever is left.
   */
  async close(
    options: { reconnect?: boolean; graceMs?: number; waveFraction?: number; waveIntervalMs?: number; reconnectTo?: { host: string; port: number } } = {},
  ): Promise<void> {
    const shutdown = this.options.shutdown;
    const waveFraction = options.waveFraction ?? shutdown?.waveFraction ?? 1;
    const waveIntervalMs = options.waveIntervalMs ?? shutdown?.waveIntervalMs ?? 0;
    const graceMs = options.graceMs ?? shutdown?.graceMs ?? 500;
    const reconnectTo = options.reconnectTo ?? shutdown?.reconnectTo;
    if (options.reconnect !== false) {
      const asked = new Set<Session>();
      // Sessions present now, not a time comparison: a miner that obeys at once can be back within the same ms.
      const present = new Set(this.sessions);
      const perWave = Math.max(1, Math.ceil(this.sessions.size * Math.min(1, Math.max(0, waveFraction))));
      let wave = 0;
      for (;;) {
        // Sessions that arrived meanwhile are sent on too when there is somewhere else to go; without a target
        // they are miners that already obeyed (they came back here), and are served until the end.
        const remaining = [...this.sessions].filter((s) => !asked.has(s) && !s.isClosing && (reconnectTo !== undefined || present.has(s)));
        if (remaining.length === 0) break;
        if (wave > 0 && waveIntervalMs > 0) await new Promise((r) => setTimeout(r, waveIntervalMs));
        const batch = remaining.slice(0, perWave);
        for (const session of batch) {
          asked.add(session);
          if (!session.isClosing) session.sendReconnect(reconnectTo?.host, reconnectTo?.port);
        }
        this.options.logger.info({ wave: ++wave, sent: batch.length, left: remaining.length - batch.length, reconnectTo }, 'asked miners to reconnect');
      }
    }
    // Still listening through the grace: the last wave's miners are reconnecting right now.
    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    // net.Server.close() only calls back once every connection is gone: stop listening now, wait at the end.
    this.listenersClosed = true;
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const socket of this.pendingProxy) socket.destroy();
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const session of this.sessions) session.socket.destroy();
    await closed;
  }

  /**
   * A port serving both: TLS when the first bytes are a TLS record (bfgminer tries TLS first on a plain URL,
   * and gets it), plain Stratum otherwise. The TLS server takes the socket with its first bytes put back.
   */
  private sniffTls(socket: Socket, portConfig: ListenPort, tlsServer: Server): void {
    if (this.listenersClosed) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const timer = setTimeout(() => socket.destroy(), this.options.authorizeTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      socket.pause();
      if (isTlsRecordStart(chunk)) {
        socket.unshift(chunk);
        tlsServer.emit('connection', socket);
        return;
      }
      try {
        this.accept(socket, portConfig, chunk);
      } catch (error) {
        this.options.logger.error({ err: error }, 'accepting a connection failed');
        socket.destroy();
        return;
      }
      socket.resume();
    });
  }

  private nextExtranonce1(): number {
    this.extranonceCounter = (this.extranonceCounter + 1) & 0xffffff;
    return ((((this.options.instanceId & 0xff) << 24) | this.extranonceCounter) >>> 0);
  }

  private accept(socket: Socket, portConfig: ListenPort, firstBytes?: Buffer): void {
    if (this.listenersClosed) {
      socket.destroy();
      return;
    }
    const ip = normalizeIp(socket.remoteAddress ?? '');
    if (portConfig.proxyProtocol) {
      socket.on('error', () => undefined);
      this.readProxyHeader(socket, ip, portConfig);
      return;
    }
    this.startSession(socket, ip, portConfig, firstBytes);
  }

  /** The balancer's header comes first; the client IP in it is the one bans, limits and logs use. */
  private readProxyHeader(socket: Socket, peerIp: string, portConfig: ListenPort): void {
    const reader = new ProxyHeaderReader();
    this.pendingProxy.add(socket);
    const timer = setTimeout(() => {
      this.options.logger.debug({ ip: peerIp }, 'no PROXY header in time');
      socket.destroy();
    }, this.options.proxyHeaderTimeoutMs ?? 10_000);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      this.pendingProxy.delete(socket);
    };
    const onData = (chunk: Buffer) => {
      const result = reader.push(chunk);
      if (result.status === 'incomplete') return;
      done();
      if (result.status === 'error') {
        this.options.logger.debug({ ip: peerIp, reason: result.reason }, 'bad PROXY header: closing');
        socket.destroy();
        return;
      }
      const source = result.header.sourceAddress;
      const ip = source ? normalizeIp(source) : peerIp;
      this.startSession(socket, ip, portConfig, result.rest.length > 0 ? result.rest : undefined);
    };
    socket.on('data', onData);
    socket.once('close', () => {
      clearTimeout(timer);
      this.pendingProxy.delete(socket);
    });
  }

  private startSession(socket: Socket, ip: string, portConfig: ListenPort, firstBytes: Buffer | undefined): void {
    if (this.listenersClosed || socket.destroyed) {
      socket.destroy();
      return;
    }
    if (this.bans.isBanned(ip)) {
      this.options.logger.debug({ ip }, 'connection refused: IP banned');
      socket.destroy();
      return;
    }
    let perIp = this.perIp.get(ip);
    if ((perIp?.count ?? 0) >= this.options.connectionsPerIp) {
      this.options.logger.warn({ ip, limit: this.options.connectionsPerIp }, 'connection refused: too many connections from this IP');
      socket.destroy();
      return;
    }
    if (perIp === undefined) {
      perIp = { ip, count: 0 };
      this.perIp.set(ip, perIp);
    }
    perIp.count++;
    const session = new Session(this.nextSessionId++, socket, perIp.ip, this.nextExtranonce1(), this.environmentFor(portConfig));
    this.sessions.add(session);
    this.options.metrics.connections.set(this.sessions.size);
    if (firstBytes) session.receive(firstBytes);
  }

  private environmentFor(portConfig: ListenPort): SessionEnvironment {
    let environment = this.portEnvironments.get(portConfig);
    if (!environment) {
      const minDifficulty = portConfig.minDifficulty ?? Math.min(portConfig.difficulty, this.options.session.vardiff.minDifficulty);
      const settings: SessionSettings = Object.freeze({ ...this.options.session, startDifficulty: portConfig.difficulty, minDifficulty });
      environment = Object.freeze({ settings, hooks: this.hooks, logger: this.options.logger });
      this.portEnvironments.set(portConfig, environment);
    }
    return environment;
  }

  /** Per reason: when the last log line was written and how many refusals went unlogged since. */
  private readonly authorizeLogSamples = new Map<AuthorizeRejectReason, { loggedAt: number; suppressed: number }>();

  /** Counted always; logged at most once per reason every AUTHORIZE_LOG_INTERVAL_MS (a farm with a typo retries a lot). */
  private onAuthorizeRejected(session: Session, reason: AuthorizeRejectReason, username: string, detail: string): void {
    this.options.metrics.authorizeRejectsTotal.inc({ reason });
    const now = Date.now();
    const sample = this.authorizeLogSamples.get(reason);
    if (sample && now - sample.loggedAt < AUTHORIZE_LOG_INTERVAL_MS) {
      sample.suppressed++;
      return;
    }
    this.options.logger.warn(
      { ip: session.ip, session: session.id, reason, username, detail, ...(sample?.suppressed ? { alsoRefusedSinceLastLine: sample.suppressed } : {}) },
      'mining.authorize refused',
    );
    this.authorizeLogSamples.set(reason, { loggedAt: now, suppressed: 0 });
  }

  private onProtocolError(session: Session, reason: ProtocolErrorReason): void {
    this.options.logger.debug({ ip: session.ip, session: session.id, reason }, 'protocol error');
    const offence = OFFENCE_FOR[reason];
    if (offence) this.bans.record(session.ip, offence);
  }

  private onSessionClosed(session: Session): void {
    if (!this.sessions.delete(session)) return;
    const perIp = this.perIp.get(session.ip);
    if (perIp && --perIp.count <= 0) this.perIp.delete(session.ip);
    for (const address of session.addresses()) {
      const set = this.sessionsPerAddress.get(address);
      if (set?.delete(session) && set.size === 0) this.sessionsPerAddress.delete(address);
    }
    if (this.workerPresence) for (const w of session.workers()) this.workerPresence.offline(w.address, w.worker, session.ip);
    for (const address of session.workerAddresses()) {
      this.workerTotal--;
      const left = (this.workersPerAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.workersPerAddress.delete(address);
      else this.workersPerAddress.set(address, left);
    }
    this.options.metrics.connections.set(this.sessions.size);
    this.updateGauges();
  }

  private onWorkerAdded(session: Session, address: string): void {
    if (this.sessions.has(session)) {
      let set = this.sessionsPerAddress.get(address);
      if (!set) this.sessionsPerAddress.set(address, (set = new Set()));
      set.add(session);
    }
    this.workerTotal++;
    this.workersPerAddress.set(address, (this.workersPerAddress.get(address) ?? 0) + 1);
    if (this.workerPresence && this.sessions.has(session)) {
      const added = session.workers().at(-1); // the worker just added is the session's last one
      if (added) this.workerPresence.online(added.address, added.worker, session.ip);
    }
    this.updateGauges();
  }

  private updateGauges(): void {
    this.options.metrics.workersAuthorized.set(this.workerTotal);
    this.options.metrics.minersAuthorized.set(this.workersPerAddress.size);
  }

  private tick(): void {
    const now = Date.now();
    this.bans.sweep();
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
  return normalizeAddress(ip);
}
