import { describe, expect, it } from 'vitest';
import { LineDecoder, LineTooLongError, parseMessage } from '../../src/stratum/codec.js';
import { parseFixedDifficulty } from '../../src/stratum/session-methods.js';

describe('line codec', () => {
  it('splits several requests in one packet and joins one split across packets', () => {
    const decoder = new LineDecoder(1024);
    expect(decoder.push(Buffer.from('{"id":1}\n{"id":2}\r\n{"id"'))).toEqual(['{"id":1}', '{"id":2}']);
    expect(decoder.push(Buffer.from(':3}\n'))).toEqual(['{"id":3}']);
  });

  it('refuses a line past the limit, even without a newline', () => {
    const decoder = new LineDecoder(16);
    expect(() => decoder.push(Buffer.alloc(17, 0x41))).toThrow(LineTooLongError);
    expect(() => new LineDecoder(16).push(Buffer.from('a'.repeat(20) + '\n'))).toThrow(LineTooLongError);
  });

  it.each([
    ['not json', 'invalid'],
    ['[1,2]', 'invalid'],
    ['{"id":1,"method":5}', 'invalid'],
    ['{"id":1,"method":"mining.submit","params":{}}', 'invalid'],
    ['{"id":7,"result":true,"error":null}', 'response'],
    ['{"id":"a","method":"mining.subscribe"}', 'request'],
  ])('%s → %s', (line, kind) => {
    expect(parseMessage(line).kind).toBe(kind);
  });
});

describe('d= password option', () => {
  it.each([
    ['d=0.5', 0.5],
    ['x,d=2400000', 2400000],
    ['D=16', 16],
    ['d=1e-3', 0.001],
    ['x', undefined],
    ['d=0', undefined],
    ['d=-1', undefined],
    ['d=abc', undefined],
  ])('%s → %s', (password, expected) => {
    expect(parseFixedDifficulty(password)).toBe(expected);
  });
});
