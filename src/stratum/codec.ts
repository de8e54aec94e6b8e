/** Newline-delimited JSON framing for Stratum, bounded so a client can't grow our memory. */
export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`line longer than ${limit} bytes`);
  }
}

export class LineDecoder {
  /** Bytes of an unfinished line; allocated only while one is pending. */
  private pending: Buffer[] | undefined;
  private pendingBytes = 0;

  constructor(private readonly maxLineBytes: number) {}

  /** True while part of a line waits for its newline (a session drops an idle decoder otherwise). */
  get hasPending(): boolean {
    return this.pendingBytes > 0;
  }

  /** Complete lines in this chunk (without the newline, CR trimmed); throws LineTooLongError past the limit. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      if (this.pendingBytes + piece.length > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
      const line = this.pending !== undefined ? Buffer.concat([...this.pending, piece]) : piece;
      this.pending = undefined;
      this.pendingBytes = 0;
      const text = line.toString('utf8').replace(/\r$/, '').trim();
      if (text.length > 0) lines.push(text);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (this.pendingBytes + rest.length > this.maxLineBytes) throw new LineTooLongError(this.maxLineBytes);
      (this.pending ??= []).push(Buffer.from(rest));
      this.pendingBytes += rest.length;
    }
    return lines;
  }
}

export type RequestId = string | number | null;

export interface StratumRequest {
  id: RequestId;
  method: string;
  params: unknown[];
}

/**
 * `notification`: an object whose id is null or absent. Stratum notifications (bfgminer sends
 * `mining.suggest_target` as one before subscribing) are never answered: a client takes any answer with
 * `id: null` for the answer to whatever it is waiting for.
 */
export type ParsedMessage =
  | { kind: 'request'; request: StratumRequest; notification: boolean }
  | { kind: 'response'; id: RequestId }
  | { kind: 'invalid'; id: RequestId; reason: string; notification: boolean };

function idOf(value: unknown): RequestId {
  return typeof value === 'string' || typeof value === 'number' ? value : null;
}

/** Parses one line; never throws. */
export function parseMessage(line: string): ParsedMessage {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { kind: 'invalid', id: null, reason: 'malformed JSON', notification: false };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', id: null, reason: 'a JSON-RPC message must be an object', notification: false };
  }
  const message = value as Record<string, unknown>;
  const id = idOf(message.id);
  const notification = message.id === null || message.id === undefined;
  if (message.method === undefined && ('result' in message || 'error' in message)) return { kind: 'response', id };
  if (typeof message.method !== 'string' || message.method.length === 0 || message.method.length > 64) {
    return { kind: 'invalid', id, reason: 'method must be a short string', notification };
  }
  const params = message.params === undefined || message.params === null ? [] : message.params;
  if (!Array.isArray(params)) return { kind: 'invalid', id, reason: 'params must be an array', notification };
  return { kind: 'request', request: { id, method: message.method, params }, notification };
}

/** Stratum error triple: [code, message, traceback]. */
export type StratumError = [number, string, null];

export const ERROR_CODES = {
  other: 20,
  jobNotFound: 21,
  duplicate: 22,
  lowDifficulty: 23,
  unauthorized: 24,
  notSubscribed: 25,
} as const;

export function encodeResponse(id: RequestId, result: unknown, error: StratumError | null = null): string {
  return JSON.stringify({ id, result, error }) + '\n';
}

export function encodeNotification(method: string, params: unknown[]): string {
  return JSON.stringify({ id: null, method, params }) + '\n';
}
