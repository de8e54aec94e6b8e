import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { onLines } from './stratum-lines.js';

export interface Line {
  id?: number | string | null;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: [number, string, unknown] | null;
  at: number;
}

/** A bare Stratum client for hostile and edge-case traffic, from a chosen 127.0.0.x source address. */
export class RawClient {
  readonly lines: Line[] = [];
  closed = false;
  closedAt = 0;
  readonly closedPromise: Promise<void>;
  private nextId = 1;

  private constructor(readonly socket: Socket) {
    socket.setNoDelay(true);
    onLines(socket, (text) => {
      try {
        this.lines.push({ ...(JSON.parse(text) as object), at: Date.now() });
      } catch {
        this.lines.push({ method: '(unparseable)', params: [text], at: Date.now() });
      }
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.closedAt = Date.now();
        resolve();
      }),
    );
  }

  static connect(port: number, localAddress = '127.0.0.1', options: { tls?: boolean; firstBytes?: Buffer } = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const tcp = netConnect({ host: '127.0.0.1', port, localAddress });
      const socket = options.tls ? tlsConnect({ socket: tcp, rejectUnauthorized: false }) : tcp;
      if (options.tls) tcp.on('error', () => undefined);
      const client = new RawClient(socket);
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', reject);
        if (options.firstBytes) socket.write(options.firstBytes);
        resolve(client);
      });
      socket.once('error', reject);
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  send(method: string, params: unknown[] = []): number {
    const id = this.nextId++;
    this.write(JSON.stringify({ id, method, params }) + '\n');
    return id;
  }

  async request(method: string, params: unknown[] = [], timeoutMs = 5000): Promise<Line> {
    const id = this.send(method, params);
    return this.waitFor((l) => l.id === id, timeoutMs, `answer to ${method}`);
  }

  async waitFor(match: (line: Line) => boolean, timeoutMs = 5000, what = 'a line'): Promise<Line> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.lines.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Resolves true when the server closes the connection within timeoutMs. */
  async waitClosed(timeoutMs = 5000): Promise<boolean> {
    await Promise.race([this.closedPromise, new Promise((r) => setTimeout(r, timeoutMs))]);
    return this.closed;
  }

  async subscribeAndAuthorize(username: string): Promise<void> {
    await this.request('mining.subscribe', ['raw/1']);
    const auth = await this.request('mining.authorize', [username, 'x']);
    if (auth.result !== true) throw new Error(`authorize failed: ${JSON.stringify(auth.error)}`);
    await this.waitFor((l) => l.method === 'mining.notify', 5000, 'first notify');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
