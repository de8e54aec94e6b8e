import http from 'node:http';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient, RpcTransportError } from '../../src/chain/rpc.js';
import { isAcceptedResult, submitBlock } from '../../src/chain/block-submitter.js';

interface FixtureCase { case: string; response: { result: string | null; error: { code: number; message: string } | null }; block_hex?: string }
const fixture = JSON.parse(fs.readFileSync(new URL('../fixtures/regtest/rpc-errors.json', import.meta.url), 'utf8')) as { submitblock: FixtureCase[] };

type Reply = { status: number; body: string };
const servers: http.Server[] = [];
const clients: RpcClient[] = [];

/** A fake litecoind answering submitblock with scripted replies (in order; the last one repeats). */
async function fakeNode(replies: Reply[]): Promise<{ port: number; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (d: string) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as { method: string; params: unknown[] };
      hits.push(`${body.method}:${String(body.params[0]).slice(0, 16)}`);
      const reply = replies[Math.min(hits.length - 1, replies.length - 1)];
      res.writeHead(reply.status, { 'content-type': 'application/json' });
      res.end(reply.body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, hits };
}

/** litecoind (JSON-RPC 1.0) sends RPC errors with HTTP 500 and the JSON body. */
function asLitecoind(response: FixtureCase['response']): Reply {
  return { status: response.error ? 500 : 200, body: JSON.stringify({ ...response, id: 1 }) };
}

function client(port: number): RpcClient {
  const c = new RpcClient({ url: `http://u:p@127.0.0.1:${port}` });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

describe('submitBlock against the 20 real submitblock answers (test/fixtures/regtest/rpc-errors.json)', () => {
  it('has the 20 cases', () => {
    expect(fixture.submitblock).toHaveLength(20);
  });

  for (const row of fixture.submitblock) {
    const { result, error } = row.response;
    const expected = error
      ? { accepted: false, reason: `rpc ${error.code}: ${error.message}` }
      : result === null ? { accepted: true, reason: null } : { accepted: false, reason: result };
    it(`${row.case} -> ${JSON.stringify(expected)}`, async () => {
      const node = await fakeNode([asLitecoind(row.response)]);
      const r = await submitBlock(client(node.port), row.block_hex ?? '00', { retries: 3, retryDelayMs: 1 });
      expect(r).toEqual(expected);
      expect(node.hits).toHaveLength(1); // node verdicts are never retried
      expect(node.hits[0]).toBe(`submitblock:${(row.block_hex ?? '00').slice(0, 16)}`);
      expect(isAcceptedResult(r)).toBe(result === null && !error ? true : result === 'duplicate');
    });
  }

  it('maps -22 to the documented reason', async () => {
    const garbage = fixture.submitblock.find((c) => c.case === 'garbage_hex')!;
    const node = await fakeNode([asLitecoind(garbage.response)]);
    await expect(submitBlock(client(node.port), '00')).resolves.toEqual({ accepted: false, reason: 'rpc -22: Block decode failed' });
  });
});

describe('submitBlock transport retries', () => {
  it('retries transport failures (5xx without JSON) and then returns the node verdict', async () => {
    const node = await fakeNode([
      { status: 503, body: 'Work queue depth exceeded' },
      { status: 500, body: '' },
      { status: 200, body: JSON.stringify({ result: null, error: null, id: 1 }) },
    ]);
    const r = await submitBlock(client(node.port), 'abcd', { retries: 5, retryDelayMs: 5 });
    expect(r).toEqual({ accepted: true, reason: null });
    expect(node.hits).toHaveLength(3);
  });

  it('throws an RpcTransportError after 1 + retries attempts, with exponential delays', async () => {
    const node = await fakeNode([{ status: 503, body: 'busy' }]);
    const t0 = Date.now();
    const e = await submitBlock(client(node.port), 'abcd', { retries: 3, retryDelayMs: 20 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RpcTransportError);
    expect((e as Error).message).toMatch(/gave up after 4 attempts: HTTP 503/);
    expect(node.hits).toHaveLength(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(20 + 40 + 80 - 5);
  });

  it('retries=0 tries exactly once', async () => {
    const node = await fakeNode([{ status: 502, body: 'bad gateway' }]);
    await expect(submitBlock(client(node.port), 'abcd', { retries: 0 })).rejects.toBeInstanceOf(RpcTransportError);
    expect(node.hits).toHaveLength(1);
  });
});

describe('isAcceptedResult', () => {
  const rows: [Parameters<typeof isAcceptedResult>[0], boolean][] = [
    [null, true],
    ['duplicate', true],
    ['duplicate-invalid', false],
    ['inconclusive', false],
    ['high-hash', false],
    [{ accepted: true, reason: null }, true],
    [{ accepted: false, reason: 'duplicate' }, true],
    [{ accepted: false, reason: 'rpc -22: Block decode failed' }, false],
  ];
  for (const [input, expected] of rows) {
    it(`${JSON.stringify(input)} -> ${expected}`, () => expect(isAcceptedResult(input)).toBe(expected));
  }
});
