import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient, RpcError, RpcTransportError } from '../../src/chain/rpc.js';

interface SeenRequest { method: string; params: unknown[]; id: unknown; jsonrpc: unknown; authorization: string | undefined; contentType: string | undefined }
type Reply = { status?: number; body?: string; json?: unknown } | 'hang' | 'destroy';

const servers: http.Server[] = [];
const clients: RpcClient[] = [];

async function fakeNode(handler: (req: SeenRequest) => Reply | Promise<Reply>): Promise<{ port: number; seen: SeenRequest[]; server: http.Server }> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', async () => {
      const body = JSON.parse(raw) as { method: string; params: unknown[]; id: unknown; jsonrpc: unknown };
      const r: SeenRequest = { ...body, authorization: req.headers.authorization, contentType: req.headers['content-type'] };
      seen.push(r);
      const reply = await handler(r);
      if (reply === 'hang') return;
      if (reply === 'destroy') { req.socket.destroy(); return; }
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json' });
      res.end(reply.json !== undefined ? JSON.stringify(reply.json) : (reply.body ?? ''));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, seen, server };
}

function client(url: string, extra: Partial<ConstructorParameters<typeof RpcClient>[0]> = {}): RpcClient {
  const c = new RpcClient({ url, ...extra });
  clients.push(c);
  return c;
}

function basic(user: string, pass: string): string {
  return 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the promise to reject');
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

describe('RpcClient request format', () => {
  it('sends JSON-RPC 1.0 with basic auth from percent-decoded url credentials and returns result', async () => {
    const node = await fakeNode(() => ({ json: { result: 'ok-result', error: null, id: 1 } }));
    const rpc = client(`http://us%40er:p%3Ass%2Fw@127.0.0.1:${node.port}`);
    await expect(rpc.call('getbestblockhash')).resolves.toBe('ok-result');
    await rpc.call('getblocktemplate', [{ rules: ['mweb', 'segwit'] }]);
    expect(node.seen[0]).toMatchObject({ method: 'getbestblockhash', params: [], jsonrpc: '1.0', authorization: basic('us@er', 'p:ss/w') });
    expect(node.seen[1].params).toEqual([{ rules: ['mweb', 'segwit'] }]);
    expect(node.seen[1].id).not.toEqual(node.seen[0].id);
  });

  it('returns a null result as null (submitblock accepted)', async () => {
    const node = await fakeNode(() => ({ json: { result: null, error: null, id: 1 } }));
    await expect(client(`http://u:p@127.0.0.1:${node.port}`).call('submitblock', ['00'])).resolves.toBeNull();
  });

  it('reuses keep-alive sockets and runs calls concurrently while one call hangs (long poll)', async () => {
    const sockets = new Set<unknown>();
    const node = await fakeNode((r) => (r.method === 'longpoll' ? 'hang' : { json: { result: r.params[0], error: null } }));
    node.server.on('connection', (s) => sockets.add(s));
    const rpc = client(`http://u:p@127.0.0.1:${node.port}`);
    const hanging = rpc.call('longpoll', [], { timeoutMs: 5000 }).catch((e: unknown) => e);
    for (let i = 0; i < 5; i++) await expect(rpc.call('echo', [i])).resolves.toBe(i);
    // one socket for the hanging call, one reused for the five sequential calls
    expect(sockets.size).toBe(2);
    const ac = new AbortController();
    const aborted = rpc.call('longpoll', [], { signal: ac.signal });
    ac.abort();
    const e = await rejection(aborted);
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as RpcTransportError).code).toBe('ABORT_ERR');
    void hanging;
  });
});

describe('RpcClient error mapping', () => {
  const password = 'S3cretPassw0rd';

  // Each row: what the fake node does -> which error class, and a fragment of the message.
  const rows: { name: string; reply: Reply; kind: 'rpc' | 'transport'; code?: number; status?: number; message: RegExp }[] = [
    { name: 'HTTP 500 with JSON error body (how litecoind reports RPC errors)', reply: { status: 500, json: { result: null, error: { code: -22, message: 'Block decode failed' }, id: 1 } }, kind: 'rpc', code: -22, message: /Block decode failed/ },
    { name: 'HTTP 404 with JSON method-not-found', reply: { status: 404, json: { result: null, error: { code: -32601, message: 'Method not found' }, id: 1 } }, kind: 'rpc', code: -32601, message: /Method not found/ },
    { name: 'HTTP 200 with JSON error', reply: { status: 200, json: { result: null, error: { code: -9, message: 'Litecoin Core is not connected!' }, id: 1 } }, kind: 'rpc', code: -9, message: /not connected/ },
    { name: 'HTTP 401 (wrong credentials)', reply: { status: 401, body: '' }, kind: 'transport', status: 401, message: /401.*check rpc credentials/ },
    { name: 'HTTP 500 without JSON', reply: { status: 500, body: '<html>Internal error</html>' }, kind: 'transport', status: 500, message: /HTTP 500 response without a JSON body/ },
    { name: 'HTTP 503 work queue exceeded (plain text)', reply: { status: 503, body: 'Work queue depth exceeded' }, kind: 'transport', status: 503, message: /HTTP 503.*Work queue depth exceeded/ },
    { name: 'HTTP 200 with invalid JSON', reply: { status: 200, body: '{"result": tru' }, kind: 'transport', status: 200, message: /invalid JSON/ },
    { name: 'HTTP 200 JSON that is not JSON-RPC', reply: { status: 200, json: [1, 2] }, kind: 'transport', status: 200, message: /not a JSON-RPC object/ },
    { name: 'connection dropped without a response', reply: 'destroy', kind: 'transport', message: /reset|socket hang up|ECONNRESET/ },
  ];

  for (const row of rows) {
    it(row.name, async () => {
      const node = await fakeNode(() => row.reply);
      const rpc = client(`http://user:${password}@127.0.0.1:${node.port}`);
      const e = await rejection(rpc.call('submitblock', ['00']));
      expect(e).toBeInstanceOf(row.kind === 'rpc' ? RpcError : RpcTransportError);
      expect(e).not.toBeInstanceOf(row.kind === 'rpc' ? RpcTransportError : RpcError);
      expect(e.message).toMatch(row.message);
      expect(e.message).not.toContain(password);
      expect((e as RpcError | RpcTransportError).method).toBe('submitblock');
      if (row.code !== undefined) expect((e as RpcError).code).toBe(row.code);
      if (row.status !== undefined) expect((e as RpcTransportError).status).toBe(row.status);
    });
  }

  it('times out per call (default and per-call override) with a transport error', async () => {
    const node = await fakeNode(() => 'hang');
    const rpc = client(`http://user:${password}@127.0.0.1:${node.port}`, { timeoutMs: 150 });
    const t0 = Date.now();
    const e = await rejection(rpc.call('getblocktemplate'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(e).toBeInstanceOf(RpcTransportError);
    expect(e.message).toMatch(/timeout after 150 ms/);
    expect((e as RpcTransportError).code).toBe('ETIMEDOUT');
    const e2 = await rejection(rpc.call('getblocktemplate', [], { timeoutMs: 400 }));
    expect(e2.message).toMatch(/timeout after 400 ms/);
    expect(e2.message).not.toContain(password);
  });

  it('maps connection refused to a transport error naming host:port but not the password', async () => {
    const node = await fakeNode(() => ({ json: { result: 1, error: null } }));
    const port = node.port;
    await new Promise<void>((resolve) => node.server.close(() => resolve()));
    const e = await rejection(client(`http://user:${password}@127.0.0.1:${port}`).call('getbestblockhash'));
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as RpcTransportError).code).toBe('ECONNREFUSED');
    expect(e.message).toContain(`127.0.0.1:${port}`);
    expect(e.message).not.toContain(password);
  });

  it('reports every call to onCall with method, duration and ok', async () => {
    const node = await fakeNode((r) => (r.method === 'bad' ? { status: 500, json: { result: null, error: { code: -1, message: 'x' } } } : { json: { result: 1, error: null } }));
    const calls: [string, number, boolean][] = [];
    const rpc = client(`http://u:p@127.0.0.1:${node.port}`, { onCall: (m, s, ok) => calls.push([m, s, ok]) });
    await rpc.call('good');
    await rejection(rpc.call('bad'));
    expect(calls.map(([m, , ok]) => [m, ok])).toEqual([['good', true], ['bad', false]]);
    for (const [, s] of calls) expect(s).toBeGreaterThan(0);
  });

  it('refuses a url without credentials and without cookie file, without echoing the url', () => {
    expect(() => new RpcClient({ url: 'http://127.0.0.1:1' })).toThrow(/credentials/);
    expect(() => new RpcClient({ url: 'not a url with secret' })).toThrow(/not a valid URL/);
    try { new RpcClient({ url: 'not a url with secret' }); } catch (e) { expect((e as Error).message).not.toContain('secret'); }
  });
});

describe('RpcClient cookie file auth', () => {
  it('reads user:pass from the cookie file and re-reads it after a 401 (litecoind restarted)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltcpool-cookie-'));
    const cookie = path.join(dir, '.cookie');
    fs.writeFileSync(cookie, '__cookie__:first');
    let valid = basic('__cookie__', 'first');
    const node = await fakeNode((r) => (r.authorization === valid ? { json: { result: 'hi', error: null } } : { status: 401, body: '' }));
    try {
      const rpc = client(`http://127.0.0.1:${node.port}`, { cookieFile: cookie });
      await expect(rpc.call('ping')).resolves.toBe('hi');
      // "restart": new cookie contents; the cached credentials now get 401 and the client reloads once
      fs.writeFileSync(cookie, '__cookie__:second\n');
      valid = basic('__cookie__', 'second');
      await expect(rpc.call('ping')).resolves.toBe('hi');
      expect(node.seen.map((s) => s.authorization)).toEqual([basic('__cookie__', 'first'), basic('__cookie__', 'first'), basic('__cookie__', 'second')]);
      // cookie overrides url credentials
      const rpc2 = client(`http://url:creds@127.0.0.1:${node.port}`, { cookieFile: cookie });
      await expect(rpc2.call('ping')).resolves.toBe('hi');
      // still wrong after reload -> 401 transport error
      valid = 'nobody';
      const e = await rejection(rpc.call('ping'));
      expect(e).toBeInstanceOf(RpcTransportError);
      expect(e.message).toMatch(/check rpc credentials/);
      expect(e.message).not.toContain('second');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a transport error naming the file when the cookie is missing', async () => {
    const missing = path.join(os.tmpdir(), 'ltcpool-no-such-dir', '.cookie');
    const e = await rejection(client('http://127.0.0.1:1', { cookieFile: missing }).call('ping'));
    expect(e).toBeInstanceOf(RpcTransportError);
    expect(e.message).toContain(missing);
    expect(e.message).toContain('ENOENT');
  });
});
