import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import pino from 'pino';
import type { Registry } from 'prom-client';
import { apiRoutes } from './api/routes.js';
import { installErrorHandlers } from './api/errors.js';
import { type ReadinessCheck, runReadinessChecks } from './api/readiness.js';
import type { ApiDeps } from './api/types.js';
import { registry as defaultRegistry } from './metrics.js';
import { registerWeb } from './web.js';

export type { ReadinessCheck, CheckResult } from './api/readiness.js';
export { litecoindCheck, templateFreshCheck, databaseCheck } from './api/readiness.js';
export type { ApiDeps, PoolStatsProvider, PoolSummary } from './api/types.js';

export interface HttpServerOptions {
  /** How long listen waits for a port in use to be released (default 30 s). */
  listenRetryMs?: number;
  /** Default 127.0.0.1. In a container set 0.0.0.0 and publish the port to the host's loopback only. */
  host?: string;
  /** 0 picks a free port (see the returned url). */
  port: number;
  readiness: ReadinessCheck[];
  /** Without it /api/* is not mounted (e.g. the payouts process serving only metrics and health). */
  api?: ApiDeps;
  logger?: pino.Logger;
  /** Default: the process-wide registry from metrics.ts. */
  registry?: Registry;
  /**
   * True while the process drains (SIGTERM): /readyz answers 404 "draining" without running the checks, which a
   * load balancer reads as "no new connections here, keep the current ones" (HAProxy `http-check disable-on-404`).
   */
  draining?: () => boolean;
  /** A readiness check slower than this counts as failed. Default 3000 ms. */
  readinessTimeoutMs?: number;
  /** Serve the miners' dashboard at / (with the API only). Default true; `webDir` default dist/web. */
  dashboard?: boolean;
  webDir?: string;
}

export interface HttpServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** GET /metrics, /healthz, /readyz and the read-only JSON API under /api. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const registry = options.registry ?? defaultRegistry;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Prometheus scrapes every few seconds; per-request info logs would drown the useful ones. Errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    // Long enough for any address the validator should see (MWEB addresses run ~120 chars); longer gets 414.
    routerOptions: { maxParamLength: 200 },
  });
  installErrorHandlers(app);

  app.get('/metrics', async (_request, reply) => {
    const body = await registry.metrics();
    return reply.header('content-type', registry.contentType).send(body);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    if (options.draining?.()) return reply.status(404).send({ status: 'draining', checks: [] });
    const result = await runReadinessChecks(options.readiness, options.readinessTimeoutMs);
    return reply.status(result.ready ? 200 : 503).send({ status: result.ready ? 'ready' : 'not-ready', checks: result.checks });
  });

  if (options.api) {
    await app.register(apiRoutes(options.api), { prefix: '/api' });
    if (options.dashboard !== false) {
      const { built } = registerWeb(app, options.webDir);
      if (!built) logger.warn('dashboard not built (npm run build): / answers 503, the API works');
    }
  }

  const host = options.host ?? '127.0.0.1';
  // A process being replaced holds the port until its miners are sent on: wait for it (never come up half).
  const giveUpAt = Date.now() + (options.listenRetryMs ?? 30_000);
  for (let attempt = 0; ; attempt++) {
    try {
      await app.listen({ host, port: options.port });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || options.port === 0 || Date.now() >= giveUpAt) throw error;
      if (attempt === 0) logger.warn({ host, port: options.port }, 'http port in use (a previous process shutting down?): waiting for it');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('http server: could not read the bound address');
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  logger.info({ host: address.address, port: address.port }, 'http server listening');
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    close: () => app.close(),
  };
}
