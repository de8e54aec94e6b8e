/** How the start-up probe reads litecoind's answers to getwalletinfo (a real RpcClient against a small HTTP node). */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/chain/rpc.js';
import { checkPoolCannotSpend, probeWalletAccess } from '../../src/chain/wallet-probe.js';

const servers: http.Server[] = [];
const clients: RpcClient[] = [];

/** A node answering every call with this HTTP status and body. */
async function node(status: number, body: unknown): Promise<RpcClient> {
  const server = http.createServer((req, res) => {
    req.resume().on('end', () => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body === undefined ? '' : JSON.stringify(body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new RpcClient({ url: `http://u:secretpass@127.0.0.1:${(server.address() as AddressInfo).port}` });
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

describe('probeWalletAccess', () => {
  it.each([
    ['HTTP 403 (rpcwhitelist refusal)', 403, undefined, 'refused'],
    ['method not found (-disablewallet)', 200, { result: null, error: { code: -32601, message: 'Method not found' }, id: 1 }, 'refused'],
    ['an answer', 200, { result: { walletname: 'pool', balance: 1 }, error: null, id: 1 }, 'wallet-access'],
    ['no wallet loaded (-18): it could load one', 500, { result: null, error: { code: -18, message: 'No wallet is loaded.' }, id: 1 }, 'wallet-access'],
    ['several wallets (-19)', 500, { result: null, error: { code: -19, message: 'Wallet file not specified' }, id: 1 }, 'wallet-access'],
    ['a 401 (wrong credentials)', 401, undefined, 'unknown'],
  ] as const)('%s → %s', async (_what, status, body, expected) => {
    expect((await probeWalletAccess(await node(status, body))).status).toBe(expected);
  });

  it('logs a warning with the fix when the wallet answers, without the password', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(l) });
    await checkPoolCannotSpend(await node(200, { result: {}, error: null, id: 1 }), logger);
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]) as { level: number; msg: string };
    expect(entry.level).toBe(40);
    expect(entry.msg).toMatch(/SECURITY WARNING.*rpcwhitelist=<pooluser>:getblocktemplate,submitblock/);
    expect(lines[0]).not.toContain('secretpass');
  });
});
