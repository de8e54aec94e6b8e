import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeSpoolLine, encodeSpoolLine, Spool, type SpoolRecord, type SpooledShareRow } from '../../src/store/spool.js';

const row = (i: number): SpooledShareRow =>
  [1_700_000_000_000 + i, `1:e1:j:${i}`, 'ltc1qaddr', 'rig"1\\', 1.5, 2e7, 100, 'j', 'ab'.repeat(32), false, '10.0.0.1', 1];
const shares = (from: number, n: number): SpoolRecord => ({ kind: 'shares', rows: Array.from({ length: n }, (_, k) => row(from + k)) });

describe('spool line format', () => {
  it('round-trips a record and rejects any altered byte', () => {
    const record = shares(0, 3);
    const line = encodeSpoolLine(record);
    expect(line.endsWith('\n')).toBe(true);
    expect(JSON.parse(line)).toMatchObject({ v: 1, rec: record });
    expect(decodeSpoolLine(line.slice(0, -1))).toEqual(record);
    const body = line.slice(0, -1);
    for (const at of [0, 20, 90, Math.floor(body.length / 2), body.length - 2]) {
      const flipped = body.slice(0, at) + (body[at] === '1' ? '2' : '1') + body.slice(at + 1);
      expect(decodeSpoolLine(flipped)).toBeNull();
    }
    for (const cut of [1, 10, 100, body.length - 1]) expect(decodeSpoolLine(body.slice(0, cut))).toBeNull();
  });
});

describe('Spool', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'ltcpool-spool-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const collect = async (spool: Spool): Promise<{ records: SpoolRecord[]; result: Awaited<ReturnType<Spool['replay']>> }> => {
    const records: SpoolRecord[] = [];
    const result = await spool.replay(async (r) => { records.push(r); });
    return { records, result };
  };

  it('appends durably, counts bytes/shares, replays in order, then removes the file', async () => {
    const stats: number[] = [];
    const spool = new Spool({ dir, onStats: (s) => stats.push(s.shares) });
    await spool.open();
    await spool.append(shares(0, 2));
    await spool.append({ kind: 'block', block: { height: 5, hash: 'h', prevHash: 'p', finder: 'a', worker: '', rewardLitoshis: '5000000000',
      shareDifficulty: 1, networkDifficulty: 1, blockHex: '00', shareId: null, createdAtMs: 1 } });
    await spool.append(shares(2, 3));
    expect(spool.stats()).toEqual({ bytes: statSync(spool.activePath).size, shares: 5, records: 3 });
    expect(stats.at(-1)).toBe(5);
    const { records, result } = await collect(spool);
    expect(records.map((r) => r.kind)).toEqual(['shares', 'block', 'shares']);
    expect(records.flatMap((r) => (r.kind === 'shares' ? r.rows.map((x) => x[1]) : []))).toEqual([0, 1, 2, 3, 4].map((i) => `1:e1:j:${i}`));
    expect(result).toEqual({ records: 3, shares: 5, skippedLines: 0 });
    expect(existsSync(spool.activePath) || existsSync(spool.replayingPath)).toBe(false);
    expect(spool.stats()).toEqual({ bytes: 0, shares: 0, records: 0 });
    expect(stats.at(-1)).toBe(0);
    await spool.close();
  });

  it('ignores a torn last line, and a later append after the torn line is not glued onto it', async () => {
    const first = new Spool({ dir });
    await first.append(shares(0, 2));
    await first.close();
    const whole = encodeSpoolLine(shares(100, 4));
    appendFileSync(first.activePath, whole.slice(0, whole.length - 30)); // crash mid-append
    const second = new Spool({ dir });
    await second.open();
    expect(second.stats().records).toBe(1);
    await second.append(shares(2, 1));
    const { records, result } = await collect(second);
    expect(records.map((r) => (r.kind === 'shares' ? r.rows.length : -1))).toEqual([2, 1]);
    expect(result.skippedLines).toBe(1);
  });

  it('skips a corrupt line in the middle and keeps the records around it', async () => {
    const spool = new Spool({ dir });
    await spool.append(shares(0, 1));
    await spool.append(shares(1, 1));
    await spool.append(shares(2, 1));
    await spool.close();
    const lines = readFileSync(spool.activePath, 'utf8').split('\n');
    lines[1] = lines[1].replace('1:e1:j:1', '1:e1:j:9');
    writeFileSync(spool.activePath, lines.join('\n'));
    const again = new Spool({ dir });
    const { records, result } = await collect(again);
    expect(records.map((r) => (r.kind === 'shares' ? r.rows[0][1] : ''))).toEqual(['1:e1:j:0', '1:e1:j:2']);
    expect(result.skippedLines).toBe(1);
  });

  it('a replay interrupted by an error keeps the file; the next replay applies it again from the start', async () => {
    const spool = new Spool({ dir });
    await spool.append(shares(0, 1));
    await spool.append(shares(1, 1));
    let calls = 0;
    await expect(spool.replay(async () => { if (++calls === 2) throw new Error('db went away'); })).rejects.toThrow('db went away');
    expect(existsSync(spool.replayingPath)).toBe(true);
    await spool.append(shares(2, 1)); // appends continue into a fresh active file meanwhile
    const { records } = await collect(spool);
    expect(records.map((r) => (r.kind === 'shares' ? r.rows[0][1] : ''))).toEqual(['1:e1:j:0', '1:e1:j:1', '1:e1:j:2']);
    expect(existsSync(spool.replayingPath) || existsSync(spool.activePath)).toBe(false);
  });

  it('a .replaying file left by a crashed process is replayed by the next one, before newer records', async () => {
    const spool = new Spool({ dir });
    writeFileSync(spool.replayingPath, encodeSpoolLine(shares(0, 1)));
    writeFileSync(spool.activePath, encodeSpoolLine(shares(1, 1)));
    await spool.open();
    expect(spool.stats().shares).toBe(2);
    const { records } = await collect(spool);
    expect(records.map((r) => (r.kind === 'shares' ? r.rows[0][1] : ''))).toEqual(['1:e1:j:0', '1:e1:j:1']);
  });

  it('reads a file larger than one read chunk, with multi-byte text across chunk edges, record for record', async () => {
    const spool = new Spool({ dir });
    // ~6 MB of lines whose worker names are multi-byte UTF-8: some line straddles the 4 MiB read boundary.
    const lines: string[] = [];
    for (let i = 0; i < 9000; i++) {
      const r = row(i);
      r[3] = `rig-€-${'ü'.repeat(i % 300)}`;
      lines.push(encodeSpoolLine({ kind: 'shares', rows: [r] }));
    }
    writeFileSync(spool.activePath, lines.join(''));
    expect(statSync(spool.activePath).size).toBeGreaterThan(4 << 20);
    const batches: number[] = [];
    const seen: string[] = [];
    const result = await spool.replayBatches(async (records) => {
      batches.push(records.length);
      for (const r of records) if (r.kind === 'shares') seen.push(`${r.rows[0][1]}|${r.rows[0][3]}`);
    }, 1000);
    expect(result).toEqual({ records: 9000, shares: 9000, skippedLines: 0 });
    expect(seen).toEqual(Array.from({ length: 9000 }, (_, i) => `1:e1:j:${i}|rig-€-${'ü'.repeat(i % 300)}`));
    expect(batches.every((n) => n <= 1000)).toBe(true);
  });

  it('replays batches several at a time, parsing ahead; on an error it waits for the batches in flight and keeps the file', async () => {
    const spool = new Spool({ dir });
    for (let i = 0; i < 10; i++) await spool.append(shares(i * 10, 10));
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const release: Array<() => void> = [];
    const replay = spool.replayBatches(async (records) => {
      started.push(records.length);
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
    }, 20, 2);
    while (release.length > 0 || started.length < 5) {
      await new Promise((r) => setTimeout(r, 5));
      release.shift()?.();
    }
    expect(await replay).toEqual({ records: 10, shares: 100, skippedLines: 0 });
    expect(started).toEqual([2, 2, 2, 2, 2]);
    expect(most).toBe(2);

    for (let i = 0; i < 6; i++) await spool.append(shares(i * 10, 10));
    let inFlight = 0;
    const failing = spool.replayBatches(async (records) => {
      if (records[0].kind === 'shares' && records[0].rows[0][1] === '1:e1:j:20') throw new Error('db went away');
      inFlight++;
      await new Promise((r) => setTimeout(r, 50));
      inFlight--;
    }, 20, 2);
    await expect(failing).rejects.toThrow('db went away');
    expect(inFlight).toBe(0); // the batches started beside the failed one had finished before the error came out
    expect(existsSync(spool.replayingPath)).toBe(true);
  });
});
