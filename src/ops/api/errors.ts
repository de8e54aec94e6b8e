import type { FastifyError, FastifyInstance } from 'fastify';

/** Every error the HTTP server answers has this JSON body. */
export interface ErrorBody {
  error: string;
  statusCode: number;
}

export class HttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'HttpError';
  }
}

/**
 * JSON errors for the whole server: schema validation and client errors keep their status and message,
 * anything else is a 500 whose details (SQL, stack) go to the log, never to the client.
 */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | HttpError | Error, request, reply) => {
    const statusCode = statusOf(error);
    if (statusCode >= 500) {
      request.log.error({ err: error, url: request.url }, 'request failed');
      void reply.status(statusCode).send({ error: 'internal server error', statusCode } satisfies ErrorBody);
      return;
    }
    void reply.status(statusCode).send({ error: error.message, statusCode } satisfies ErrorBody);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: `no route ${request.method} ${request.url.split('?')[0]}`, statusCode: 404 } satisfies ErrorBody);
  });
}

function statusOf(error: Error & { statusCode?: unknown; validation?: unknown }): number {
  if (error.validation) return 400;
  const code = error.statusCode;
  return typeof code === 'number' && code >= 400 && code < 600 ? code : 500;
}
