import type pg from 'pg';
import type { SpooledShareRow } from './spool.js';

/** Column-wise, idempotent insert of share rows plus the per-batch miners/workers last-seen upsert. */

const INSERT_SHARES = `INSERT INTO shares (time, share_id, address, worker, difficulty, network_difficulty, height, job_id, hash,
    is_block, ip, instance_id)
  SELECT to_timestamp(t / 1000.0), s, a, w, d, nd, h, j, hs, b, ip, inst
  FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::int4[],
    $8::text[], $9::text[], $10::bool[], $11::inet[], $12::int4[]) AS u(t, s, a, w, d, nd, h, j, hs, b, ip, inst)
  ON CONFLICT DO NOTHING`;

const UPSERT_MINERS = `INSERT INTO miners (address, first_seen, last_seen)
  SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[])
  ON CONFLICT (address) DO UPDATE SET
    first_seen = LEAST(miners.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(miners.last_seen, EXCLUDED.last_seen)
  WHERE miners.last_seen < EXCLUDED.last_seen OR miners.first_seen > EXCLUDED.first_seen`;

const UPSERT_WORKERS = `INSERT INTO workers (address, name, first_seen, last_seen)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[])
  ON CONFLICT (address, name) DO UPDATE SET
    first_seen = LEAST(workers.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(workers.last_seen, EXCLUDED.last_seen)
  WHERE workers.last_seen < EXCLUDED.last_seen OR workers.first_seen > EXCLUDED.first_seen`;

interface Seen { first: number; last: number }

function widen(map: Map<string, Seen>, key: string, t: number): void {
  const s = map.get(key);
  if (!s) map.set(key, { first: t, last: t });
  else {
    if (t < s.first) s.first = t;
    if (t > s.last) s.last = t;
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

/*
 * PostgreSQL array literals built here rather than by node-postgres: its generic per-element escaping was
 * about half of the client-side CPU of a 5000-row batch. Every element is double-quoted (so 'NULL' or
 * text with commas/braces stays text); only backslash and double quote need escaping inside quotes.
 */
const NEEDS_ESCAPE = /[\\"]/;
const ESCAPE = /[\\"]/g;
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? `"${s.replace(ESCAPE, '\\$&')}"` : `"${s}"`;
}
export function textArrayLiteral(values: readonly (string | null)[]): string {
  let plain = true;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || NEEDS_ESCAPE.test(v)) { plain = false; break; }
  }
  if (plain) return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    out += v === null ? 'NULL' : quote(v);
  }
  return out + '}';
}
/** Finite numbers only (validated at ShareWriter.write); JS number text (e.g. 1e+21) is valid float8/int4 input. */
export function numberArrayLiteral(values: readonly number[]): string {
  return `{${values.join(',')}}`;
}
export function boolArrayLiteral(values: readonly boolean[]): string {
  return `{${values.map((v) => (v ? 't' : 'f')).join(',')}}`;
}

/**
 * Inserts rows within the caller's transaction. Keys of the upserts are sorted so concurrent batches
 * (several flushes in flight, several instances) always lock miners/workers rows in the same order.
 * Returns how many shares were new.
 */
export async function insertShareRows(client: pg.PoolClient, rows: SpooledShareRow[]): Promise<number> {
  const n = rows.length;
  if (n === 0) return 0;
  const timeMs = new Array<number>(n), shareId = new Array<string>(n), address = new Array<string>(n), worker = new Array<string>(n);
  const diff = new Array<number>(n), netDiff = new Array<number>(n), height = new Array<number>(n), jobId = new Array<string>(n);
  const hash = new Array<string>(n), isBlock = new Array<boolean>(n), ip = new Array<string | null>(n), instance = new Array<number>(n);
  const miners = new Map<string, Seen>();
  const workers = new Map<string, Map<string, Seen>>();
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    timeMs[i] = r[0]; shareId[i] = r[1]; address[i] = r[2]; worker[i] = r[3]; diff[i] = r[4]; netDiff[i] = r[5];
    height[i] = r[6]; jobId[i] = r[7]; hash[i] = r[8]; isBlock[i] = r[9]; ip[i] = r[10] === '' ? null : r[10]; instance[i] = r[11];
    widen(miners, r[2], r[0]);
    let byName = workers.get(r[2]);
    if (!byName) workers.set(r[2], (byName = new Map()));
    widen(byName, r[3], r[0]);
  }
  const res = await client.query(INSERT_SHARES, [
    numberArrayLiteral(timeMs), textArrayLiteral(shareId), textArrayLiteral(address), textArrayLiteral(worker),
    numberArrayLiteral(diff), numberArrayLiteral(netDiff), numberArrayLiteral(height), textArrayLiteral(jobId),
    textArrayLiteral(hash), boolArrayLiteral(isBlock), textArrayLiteral(ip), numberArrayLiteral(instance),
  ]);

  const minerKeys = [...miners.keys()].sort();
  await client.query(UPSERT_MINERS, [
    minerKeys, minerKeys.map((k) => iso(miners.get(k)!.first)), minerKeys.map((k) => iso(miners.get(k)!.last)),
  ]);
  const wAddress: string[] = [], wName: string[] = [], wFirst: string[] = [], wLast: string[] = [];
  for (const a of minerKeys) {
    const byName = workers.get(a)!;
    for (const name of [...byName.keys()].sort()) {
      const seen = byName.get(name)!;
      wAddress.push(a); wName.push(name); wFirst.push(iso(seen.first)); wLast.push(iso(seen.last));
    }
  }
  await client.query(UPSERT_WORKERS, [wAddress, wName, wFirst, wLast]);
  return res.rowCount ?? 0;
}
