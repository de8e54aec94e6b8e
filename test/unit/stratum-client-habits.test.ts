import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../src/stratum/codec.js';
import { isTlsRecordStart } from '../../src/stratum/session.js';
import { suggestedTargetDifficulty } from '../../src/stratum/session-methods.js';
import { readFileSync } from 'node:fs';
import { fromHex, reversed, sha256d } from '../../src/work/bytes.js';
import { BITCOIN_DIFF1, difficultyToTarget } from '../../src/work/difficulty.js';
import { txidSerialization } from '../../src/work/transactions.js';
import { parseConfig } from '../../src/ops/config.js';
import { classifyUserAgent, compileDeviceClasses, DEFAULT_DEVICE_CLASSES } from '../../src/stratum/device-classes.js';

describe('notifications', () => {
  it.each([
    ['{"id":null,"method":"mining.suggest_target","params":["00"]}', 'request', true],
    ['{"method":"client.get_version"}', 'request', true],
    ['{"id":0,"method":"client.get_version"}', 'request', false],
    ['{"id":null,"method":"mining.submit","params":{}}', 'invalid', true],
    ['not json', 'invalid', false],
  ])('%s → %s, notification %s', (line, kind, notification) => {
    const parsed = parseMessage(line);
    expect(parsed.kind).toBe(kind);
    expect((parsed as { notification: boolean }).notification).toBe(notification);
  });
});

describe('mining.suggest_target', () => {
  it('a target becomes the share difficulty whose target it is (Scrypt diff1)', () => {
    for (const difficulty of [16, 0.001, 2_400_000]) {
      const target = difficultyToTarget(difficulty).toString(16).padStart(64, '0');
      expect(suggestedTargetDifficulty(target)).toBeCloseTo(difficulty, 6);
      expect(suggestedTargetDifficulty(`0x${target}`)).toBeCloseTo(difficulty, 6);
    }
    // Bitcoin's diff1 target (0x00000000ffff0000...) is 65,536 in the Scrypt share units the pool uses
    expect(suggestedTargetDifficulty(BITCOIN_DIFF1.toString(16).padStart(64, '0'))).toBe(65536);
  });

  it.each(['', '0', '00', 'xyz', 'f'.repeat(65), '0x'])('refuses %j', (text) => {
    expect(suggestedTargetDifficulty(text)).toBeUndefined();
  });
});

describe('TLS record on a plain port', () => {
  it('a ClientHello record header is recognised; JSON and whitespace are not', () => {
    expect(isTlsRecordStart(Buffer.from('160301', 'hex'))).toBe(true);
    expect(isTlsRecordStart(Buffer.from('16', 'hex'))).toBe(true);
    expect(isTlsRecordStart(Buffer.from('{"id":1}'))).toBe(false);
    expect(isTlsRecordStart(Buffer.from(' {"id":1}'))).toBe(false);
    expect(isTlsRecordStart(Buffer.from('1604', 'hex'))).toBe(false);
  });
});

describe('txid serialization (mining.get_transactions)', () => {
  it.each(['gbt-mweb-with-txs', 'gbt-mweb-empty', 'gbt-mweb-activation', 'gbt-pre-mweb'])('every transaction of %s hashes to its txid, segwit and HogEx included', (name) => {
    const template = JSON.parse(readFileSync(new URL(`../fixtures/regtest/${name}.json`, import.meta.url), 'utf8')) as { transactions: Array<{ txid: string; hash: string; data: string }> };
    expect(template.transactions.length).toBeGreaterThan(0);
    for (const tx of template.transactions) {
      expect(reversed(sha256d(txidSerialization(fromHex(tx.data)))).toString('hex')).toBe(tx.txid);
    }
  });
});

describe('device classes', () => {
  const classes = compileDeviceClasses(DEFAULT_DEVICE_CLASSES);
  const nameOf = (agent: string) => classes[classifyUserAgent(agent, classes)]?.name;

  it.each([
    ['bfgminer/5.5.0', 'bfgminer'],
    ['cgminer/4.12.1', 'cgminer'],
    ['bmminer/2.0.0', 'antminer'],
    ['cpuminer/2.5.1', 'cpu'],
    ['cpuminer-opt/26.1', 'cpu'],
    ['NiceHash/1.0.0', 'rental'],
    ['ltcpool-testminer/1', undefined],
    ['', undefined],
  ])('built-in table: %j → %s', (agent, name) => {
    expect(nameOf(agent)).toBe(name);
  });

  it('config: a bad pattern or an inverted range is refused with the field named', () => {
    const base = { network: 'regtest', pool: { address: 'rltc1qc25zkuslfurlm2p408py7lv2hm8e4cvll726mg' }, node: { rpcUrl: 'http://127.0.0.1:1' } };
    expect(() => parseConfig({ ...base, stratum: { deviceClasses: [{ name: 'x', match: '(' }] } })).toThrow(/stratum\.deviceClasses\.0\.match: must be a regular expression/);
    expect(() => parseConfig({ ...base, stratum: { deviceClasses: [{ name: 'x', match: 'x', minDifficulty: 2, maxDifficulty: 1 }] } })).toThrow(/stratum\.deviceClasses\.0\.minDifficulty/);
    expect(() => parseConfig({ ...base, stratum: { deviceClasses: [{ name: 'x', match: 'x', floor: 16 }] } })).toThrow(/stratum\.deviceClasses\.0\.floor: unknown key/);
    expect(parseConfig({ ...base, stratum: { deviceClasses: [{ name: 'l9', match: 'L9', startDifficulty: 2400000 }] } }).stratum.deviceClasses).toEqual([
      { name: 'l9', match: 'L9', startDifficulty: 2400000 },
    ]);
  });
});
