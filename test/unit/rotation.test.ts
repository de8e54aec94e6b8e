/** Credential rotation pieces: RpcClient.setUrl, setPoolPassword, and which config changes a reload can apply. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RpcClient } from '../../src/chain/rpc.js';
import { changedPaths } from '../../src/pool.js';
import { createPool, setPoolPassword } from '../../src/store/db.js';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); })));
});

describe('RpcClient.setUrl', () => {
  it('calls after a rotation carry the new credentials; a bad URL changes nothing', async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString());
      req.resume().on('end', () => res.end(JSON.stringify({ result: 1, error: null, id: 1 })));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const rpc = new RpcClient({ url: `http://pool:old@127.0.0.1:${port}` });
    await rpc.call('getblockcount');
    expect(rpc.setUrl(`http://pool:old@127.0.0.1:${port}`)).toBe(false);
    expect(rpc.setUrl(`http://pool:new%40pw@127.0.0.1:${port}`)).toBe(true);
    await rpc.call('getblockcount');
    expect(() => rpc.setUrl('not a url')).toThrow(/not a valid URL/);
    expect(() => rpc.setUrl('not a url')).not.toThrow(/new/);
    await rpc.call('getblockcount');
    expect(seen).toEqual(['pool:old', 'pool:new@pw', 'pool:new@pw']);
    rpc.close();
  });
});

describe('setPoolPassword', () => {
  it('rotates only the password; other URL changes need a restart', async () => {
    const pool = createPool({ url: 'postgres://ltcpool:one@127.0.0.1:5999/pool' });
    expect(setPoolPassword(pool, 'postgres://ltcpool:one@127.0.0.1:5999/pool')).toBe('unchanged');
    expect(setPoolPassword(pool, 'postgres://ltcpool:two@127.0.0.1:5999/pool')).toBe('rotated');
    expect(setPoolPassword(pool, 'postgres://other:two@127.0.0.1:5999/pool')).toBe('restart-needed');
    expect(setPoolPassword(pool, 'postgres://ltcpool:two@127.0.0.1:5999/elsewhere')).toBe('restart-needed');
    expect(setPoolPassword(pool, 'postgres://ltcpool@127.0.0.1:5999/pool')).toBe('restart-needed');
    await pool.end();
    const noPassword = createPool({ url: 'postgres://ltcpool@127.0.0.1:5999/pool' });
    expect(setPoolPassword(noPassword, 'postgres://ltcpool:x@127.0.0.1:5999/pool')).toBe('restart-needed');
    await noPassword.end();
  });
});

describe('changedPaths', () => {
  it('names the fields that differ, never their values', () => {
    const a = { node: { rpcUrl: 'http://a:1@h:1', timeoutMs: 1 }, stratum: { ports: [{ port: 1 }] } };
    const b = { node: { rpcUrl: 'http://a:2@h:1', timeoutMs: 1 }, stratum: { ports: [{ port: 2 }] }, extra: true };
    expect(changedPaths(a, b)).toEqual(['extra', 'node.rpcUrl', 'stratum.ports']);
    expect(changedPaths(a, structuredClone(a))).toEqual([]);
  });
});
