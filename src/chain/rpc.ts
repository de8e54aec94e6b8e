import http from 'node:http';
import { readFile } from 'node:fs/promises';

export interface RpcClientOptions {
  /** http://user:pass@host:port (credentials percent-decoded); credentials may be omitted when cookieFile is set. */
  url: string;
  /** litecoind's .cookie file (`user:pass`); re-read on every (re)connect and on HTTP 401 because litecoind rewrites it on restart. */
  cookieFile?: string;
  /** Per-call timeout, default 10 s. */
  timeoutMs?: number;
  onCall?: (method: string, seconds: number, ok: boolean) => void;
  /** Sockets kept per host; the template long poll holds one for minutes, so more than one is needed. Default 8. */
  maxSockets?: number;
  /**
   * Keep sockets open between calls (default true). A short-lived client (the dev network's) turns it off: a node
   * being stopped waits for idle kept-alive sockets to time out (~4 s for litecoind).
   */
  keepAlive?: boolean;
}

export interface RpcCallOptions {
  timeoutMs?: number;
  /** Aborting destroys the request; the call rejects with an RpcTransportError. */
  signal?: AbortSignal;
}

/** The node answered with a JSON-RPC error object. */
export class RpcError extends Error {
  readonly code: number;
  readonly method: string;
  /** The node's message without our prefix (e.g. 'Block decode failed'). */
  readonly rpcMessage: string;
  constructor(method: string, code: number, message: string) {
    super(`rpc ${method} failed: ${code} ${message}`);
    this.name = 'RpcError';
    this.code = code;
    this.method = method;
    this.rpcMessage = message;
  }
}

/** The node could not be asked or its answer was not JSON-RPC: unreachable, timeout, HTTP 401, HTTP 5xx without JSON, bad JSON. */
export class RpcTransportError extends Error {
  readonly method: string;
  /** HTTP status when there was a response. */
  readonly status?: number;
  /** Node error code (ECONNREFUSED, ETIMEDOUT, ABORT_ERR, ...) when there was no response. */
  readonly code?: string;
  constructor(method: string, message: string, o: { status?: number; code?: string; cause?: unknown } = {}) {
    super(`rpc ${method}: ${message}`, o.cause === undefined ? undefined : { cause: o.cause });
    this.name = 'RpcTransportError';
    this.method = method;
    this.status = o.status;
    this.code = o.code;
  }
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

interface Credentials { user: string; pass: string }

interface RawResponse { status: number; body: string }

export class RpcClient {
  private host: string;
  private port: number;
  private path: string;
  private urlCredentials: Credentials | undefined;
  private cookieFile: string | undefined;
  private readonly timeoutMs: number;
  private readonly onCall: RpcClientOptions['onCall'];
  private agent: http.Agent;
  private readonly maxSockets: number;
  private readonly keepAlive: boolean;
  private cookieCredentials: Credentials | undefined;
  private nextId = 1;

  constructor(o: RpcClientOptions) {
    const target = RpcClient.parseTarget(o.url, o.cookieFile);
    this.host = target.host;
    this.port = target.port;
    this.path = target.path;
    this.urlCredentials = target.urlCredentials;
    this.cookieFile = o.cookieFile;
    this.timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.onCall = o.onCall;
    this.maxSockets = o.maxSockets ?? 8;
    this.keepAlive = o.keepAlive ?? true;
    this.agent = new http.Agent({ keepAlive: this.keepAlive, maxSockets: this.maxSockets });
  }

  private static parseTarget(raw: string, cookieFile: string | undefined): { host: string; port: number; path: string; urlCredentials: Credentials | undefined } {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      // Never echo the URL: it may carry the password.
      throw new Error('rpc url is not a valid URL (expected http://user:pass@host:port)');
    }
    if (url.protocol !== 'http:') throw new Error(`rpc url must use http:, got ${url.protocol}`);
    const urlCredentials = url.username || url.password
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined;
    if (!urlCredentials && !cookieFile) throw new Error('rpc needs credentials: user:pass in the url or a cookieFile');
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : 80, path: url.pathname || '/', urlCredentials };
  }

  /**
   * New URL and/or cookie file (credential rotation on SIGHUP): calls from now on use them; calls in flight finish
   * with what they started with. Returns whether anything changed. Throws (changing nothing) on a bad URL.
   */
  setUrl(url: string, cookieFile?: string): boolean {
    const target = RpcClient.parseTarget(url, cookieFile);
    const same = target.host === this.host && target.port === this.port && target.path === this.path && cookieFile === this.cookieFile &&
      target.urlCredentials?.user === this.urlCredentials?.user && target.urlCredentials?.pass === this.urlCredentials?.pass;
    if (same && !cookieFile) return false;
    if (target.host !== this.host || target.port !== this.port) {
      // Kept-alive sockets go to the old node.
      this.agent.destroy();
      this.agent = new http.Agent({ keepAlive: this.keepAlive, maxSockets: this.maxSockets });
    }
    this.host = target.host;
    this.port = target.port;
    this.path = target.path;
    this.urlCredentials = target.urlCredentials;
    this.cookieFile = cookieFile;
    this.cookieCredentials = undefined; // read the cookie again too
    return !same;
  }

  /** host:port, safe to log. */
  get endpoint(): string {
    return `${this.host}:${this.port}`;
  }

  async call<T = unknown>(method: string, params: unknown[] = [], o: RpcCallOptions = {}): Promise<T> {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const result = await this.callOnce<T>(method, params, o);
      ok = true;
      return result;
    } finally {
      if (this.onCall) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        try { this.onCall(method, seconds, ok); } catch { /* a metrics hook must not break RPC */ }
      }
    }
  }

  /** Closes idle keep-alive sockets and aborts nothing in flight. */
  close(): void {
    this.agent.destroy();
  }

  private async callOnce<T>(method: string, params: unknown[], o: RpcCallOptions): Promise<T> {
    const body = JSON.stringify({ jsonrpc: '1.0', id: this.nextId++, method, params });
    let creds = await this.credentials(method, false);
    let res: RawResponse;
    try {
      res = await this.post(method, body, creds, o);
      if (res.status === 401 && this.cookieFile) {
        // litecoind rewrites the cookie on restart: read it again once.
        creds = await this.credentials(method, true);
        res = await this.post(method, body, creds, o);
      }
    } catch (e) {
      // A refused/reset connection may mean litecoind restarted with a new cookie.
      this.cookieCredentials = undefined;
      throw e;
    }
    return this.parse<T>(method, res);
  }

  private parse<T>(method: string, res: RawResponse): T {
    if (res.status === 401) {
      throw new RpcTransportError(method, `HTTP 401 Unauthorized from ${this.endpoint}: check rpc credentials`, { status: 401 });
    }
    if (res.status === 403) {
      throw new RpcTransportError(method, `HTTP 403 Forbidden from ${this.endpoint}: this user may not call ${method} (-rpcwhitelist) or this host is not allowed (-rpcallowip)`, { status: 403 });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body);
    } catch {
      const snippet = res.body.slice(0, 120).replace(/\s+/g, ' ').trim();
      const what = res.status >= 200 && res.status < 300 ? 'invalid JSON in response' : 'response without a JSON body';
      throw new RpcTransportError(method, `HTTP ${res.status} ${what}${snippet ? ` (${snippet})` : ''}`, { status: res.status });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new RpcTransportError(method, `HTTP ${res.status} response is not a JSON-RPC object`, { status: res.status });
    }
    const reply = parsed as { result?: unknown; error?: unknown };
    if (reply.error !== null && reply.error !== undefined) {
      const err = reply.error as { code?: unknown; message?: unknown };
      const code = typeof err.code === 'number' ? err.code : 0;
      const message = typeof err.message === 'string' ? err.message : JSON.stringify(reply.error);
      throw new RpcError(method, code, message);
    }
    if (!('result' in reply)) {
      throw new RpcTransportError(method, `HTTP ${res.status} JSON-RPC response has neither result nor error`, { status: res.status });
    }
    if (res.status < 200 || res.status >= 300) {
      throw new RpcTransportError(method, `HTTP ${res.status} without a JSON-RPC error`, { status: res.status });
    }
    return reply.result as T;
  }

  private async credentials(method: string, reload: boolean): Promise<Credentials> {
    if (!this.cookieFile) return this.urlCredentials!;
    if (this.cookieCredentials && !reload) return this.cookieCredentials;
    let text: string;
    try {
      text = await readFile(this.cookieFile, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new RpcTransportError(method, `cannot read rpc cookie file ${this.cookieFile}: ${code ?? String(e)}`, { code, cause: e });
    }
    const line = text.trim();
    const colon = line.indexOf(':');
    if (colon <= 0) throw new RpcTransportError(method, `rpc cookie file ${this.cookieFile} is not in user:password form`);
    this.cookieCredentials = { user: line.slice(0, colon), pass: line.slice(colon + 1) };
    return this.cookieCredentials;
  }

  private post(method: string, body: string, creds: Credentials, o: RpcCallOptions, isRetry = false): Promise<RawResponse> {
    const timeoutMs = o.timeoutMs ?? this.timeoutMs;
    return new Promise<RawResponse>((resolve, reject) => {
      if (o.signal?.aborted) {
        reject(new RpcTransportError(method, 'aborted', { code: 'ABORT_ERR' }));
        return;
      }
      let settled = false;
      let failure: RpcTransportError | undefined;
      const finish = (err: RpcTransportError | undefined, res?: RawResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err); else resolve(res!);
      };
      const req = http.request({
        host: this.host,
        port: this.port,
        path: this.path,
        method: 'POST',
        agent: this.agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: 'Basic ' + Buffer.from(`${creds.user}:${creds.pass}`).toString('base64'),
        },
      });
      const timer = setTimeout(() => {
        failure = new RpcTransportError(method, `timeout after ${timeoutMs} ms talking to ${this.endpoint}`, { code: 'ETIMEDOUT' });
        req.destroy(failure);
      }, timeoutMs);
      const onAbort = (): void => {
        failure = new RpcTransportError(method, 'aborted', { code: 'ABORT_ERR' });
        req.destroy(failure);
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });

      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            failure = new RpcTransportError(method, `response larger than ${MAX_RESPONSE_BYTES} bytes`, { status: res.statusCode });
            req.destroy(failure);
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => finish(failure ?? this.transportError(method, e)));
        res.on('aborted', () => finish(failure ?? new RpcTransportError(method, `connection to ${this.endpoint} closed mid-response`, { code: 'ECONNRESET' })));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        // A kept-alive socket the node closed while idle: the request never reached it, so sending again is safe.
        if (!failure && req.reusedSocket && !isRetry && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
          settled = true;
          clearTimeout(timer);
          o.signal?.removeEventListener('abort', onAbort);
          this.post(method, body, creds, o, true).then(resolve, reject);
          return;
        }
        finish(failure ?? this.transportError(method, e));
      });
      req.end(body);
    });
  }

  private transportError(method: string, e: NodeJS.ErrnoException): RpcTransportError {
    const code = e.code;
    const why = code === 'ECONNREFUSED' ? `connection refused by ${this.endpoint} (is litecoind running?)`
      : code === 'ECONNRESET' ? `connection to ${this.endpoint} reset`
      : `${code ?? 'error'} talking to ${this.endpoint}: ${e.message}`;
    return new RpcTransportError(method, why, { code, cause: e });
  }
}
