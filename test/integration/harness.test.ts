import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import fs from 'node:fs';
import pg from 'pg';
import { freePort, freePorts } from '../harness/ports.js';
import { RpcError } from '../../src/chain/rpc.js';
import { startRegtest, type RegtestNode } from '../harness/litecoind.js';
import { findPostgresBinDir, startPostgres, startPrivatePostgres, type TestDatabase } from '../harness/postgres.js';

interface Template {
  height: number;
  mweb?: string;
  rules: string[];
  transactions: Array<{ txid: string; data: string }>;
}

const GBT_PARAMS = [{ rules: ['mweb', 'segwit'] }];

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

describe('ports', () => {
  it('freePort returns a port that can be bound on 127.0.0.1', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('freePorts returns distinct ports', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
  });
});

describe('litecoind regtest pair with MWEB', () => {
  let node: RegtestNode;

  beforeAll(async () => {
    node = await startRegtest({ mweb: true });
    console.log(`regtest pair + MWEB activation ready in ${node.setupSeconds.toFixed(1)} s`);
  });

  afterAll(async () => {
    await node?.stop();
  });

  it('is past the MWEB activation height, with the peer on the same tip', async () => {
    const info = await node.rpc<{ blocks: number; softforks: Record<string, { active: boolean }> }>('getblockchaininfo');
    expect(info.blocks).toBe(432);
    expect(info.softforks.mweb.active).toBe(true);
    expect(await node.node2Rpc<string>('getbestblockhash')).toBe(await node.rpc<string>('getbestblockhash'));
    expect(await node.rpc<number>('getconnectioncount')).toBeGreaterThan(0);
  });

  it('serves getblocktemplate with an mweb field and the HogEx last', async () => {
    const template = await node.rpc<Template>('getblocktemplate', GBT_PARAMS);
    expect(template.height).toBe(433);
    expect(template.rules).toContain('mweb');
    expect(typeof template.mweb).toBe('string');
    expect(template.mweb!.length).toBeGreaterThan(0);
    expect(template.transactions.length).toBeGreaterThanOrEqual(1); // the HogEx
  });

  it('throws an error carrying the JSON-RPC code (getblocktemplate without the mweb rule is -8)', async () => {
    const err = await node.rpc('getblocktemplate', [{ rules: ['segwit'] }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).code).toBe(-8);
  });

  it('newAddress gives each address type', async () => {
    expect(await node.newAddress()).toMatch(/^rltc1q/);
    expect(await node.newAddress('mweb')).toMatch(/^tmweb1/);
    const legacy = await node.newAddress('legacy');
    expect((await node.rpc<{ isvalid: boolean; isscript: boolean }>('validateaddress', [legacy])).isscript).toBe(false);
    const p2sh = await node.newAddress('p2sh-segwit');
    expect((await node.rpc<{ isvalid: boolean; isscript: boolean }>('validateaddress', [p2sh])).isscript).toBe(true);
  });

  it('fillMempool puts plain sends and MWEB peg-ins into the template', async () => {
    const filled = await node.fillMempool({ segwit: 3, mwebPegIns: 2 });
    expect(filled.segwit).toHaveLength(3);
    expect(filled.mwebPegIns).toHaveLength(2);
    const wanted = [...filled.segwit, ...filled.mwebPegIns];
    expect(await node.rpc<string[]>('getrawmempool')).toEqual(expect.arrayContaining(wanted));

    // getblocktemplate may serve a cached template for a few seconds after the mempool changes.
    let template = await node.rpc<Template>('getblocktemplate', GBT_PARAMS);
    const deadline = Date.now() + 15_000;
    while (!wanted.every((txid) => template.transactions.some((t) => t.txid === txid)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 500));
      template = await node.rpc<Template>('getblocktemplate', GBT_PARAMS);
    }
    const txids = template.transactions.map((t) => t.txid);
    expect(txids).toEqual(expect.arrayContaining(wanted));
    expect(template.transactions.length).toBe(wanted.length + 1); // + HogEx, which stays last
    expect(wanted).not.toContain(txids[txids.length - 1]);
    expect(typeof template.mweb).toBe('string');
  });

  it('mine confirms the mempool and the peer follows', async () => {
    const hashes = await node.mine(1);
    expect(hashes).toHaveLength(1);
    expect(await node.rpc<string[]>('getrawmempool')).toEqual([]);
    await node.waitForSync();
    expect(await node.node2Rpc<string>('getbestblockhash')).toBe(hashes[0]);
  });

  it('stop() ends both daemons and removes their data dirs', async () => {
    const extra = await startRegtest();
    expect(await extra.rpc<number>('getblockcount')).toBe(101);
    const template = await extra.rpc<Template>('getblocktemplate', GBT_PARAMS);
    expect(template.height).toBe(102);
    expect(template.mweb).toBeUndefined();
    await extra.stop();
    expect(fs.existsSync(extra.datadir)).toBe(false);
    expect(fs.existsSync(extra.node2.datadir)).toBe(false);
    await expect(extra.rpc('getblockcount')).rejects.toThrow();
  });
});

describe('postgres', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await startPostgres();
  });

  afterAll(async () => {
    await db?.stop();
  });

  it('gives a fresh, usable database', async () => {
    expect(db.url).toMatch(/^postgres:\/\//);
    await withClient(db.url, async (client) => {
      expect((await client.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      expect((await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n).toBe(0);
      await client.query('CREATE TABLE harness_check (id bigint PRIMARY KEY, note text NOT NULL)');
      await client.query(`INSERT INTO harness_check VALUES (1, 'ok')`);
      expect((await client.query('SELECT note FROM harness_check WHERE id = 1')).rows[0].note).toBe('ok');
    });
  });

  it('stop() removes the database', async () => {
    const other = await startPostgres();
    const name = new URL(other.url).pathname.slice(1);
    await withClient(other.url, (client) => client.query('CREATE TABLE t (x int)'));
    await other.stop();
    if (!other.canControlServer) {
      const exists = await withClient(other.adminUrl, (client) => client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
      expect(exists.rowCount).toBe(0);
    } else {
      await expect(withClient(other.url, (client) => client.query('SELECT 1'))).rejects.toThrow();
    }
  });
});

describe('private postgres', () => {
  const hasInitdb = findPostgresBinDir() !== null;
  if (!hasInitdb) console.warn('skipping private PostgreSQL tests: no initdb binary found (install the Debian package postgresql)');

  it.skipIf(!hasInitdb)('starts, stops and starts again with data kept, then cleans up', async () => {
    const db = await startPrivatePostgres();
    try {
      expect(db.canControlServer).toBe(true);
      await withClient(db.url, async (client) => {
        await client.query('CREATE TABLE outage (n int)');
        await client.query('INSERT INTO outage VALUES (42)');
      });
      await db.stopServer!();
      await expect(withClient(db.url, (client) => client.query('SELECT 1'))).rejects.toThrow();
      await db.startServer!();
      const rows = await withClient(db.url, (client) => client.query('SELECT n FROM outage'));
      expect(rows.rows).toEqual([{ n: 42 }]);
    } finally {
      await db.stop();
    }
    await expect(withClient(db.url, (client) => client.query('SELECT 1'))).rejects.toThrow();
  });
});
