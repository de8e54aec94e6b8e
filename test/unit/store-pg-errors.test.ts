import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailableError } from '../../src/store/pg-errors.js';
import { boolArrayBinary, float8ArrayBinary, int4ArrayBinary, textArrayBinary, textArrayLiteral } from '../../src/store/share-rows.js';

const err = (props: Record<string, unknown>, message = 'x'): Error => Object.assign(new Error(message), props);

describe('isDatabaseUnavailableError', () => {
  const cases: [string, unknown, boolean][] = [
    ['ECONNREFUSED', err({ code: 'ECONNREFUSED', errno: -111 }), true],
    ['ECONNRESET', err({ code: 'ECONNRESET' }), true],
    ['admin shutdown 57P01', err({ code: '57P01' }), true],
    ['cannot connect now 57P03', err({ code: '57P03' }), true],
    ['connection failure 08006', err({ code: '08006' }), true],
    ['too many connections 53300', err({ code: '53300' }), true],
    ['read-only (failover) 25006', err({ code: '25006' }), true],
    ['pg: connection terminated', err({}, 'Connection terminated unexpectedly'), true],
    ['pg-pool connect timeout', err({}, 'timeout exceeded when trying to connect'), true],
    ['query read timeout', err({}, 'Query read timeout'), true],
    ['AggregateError of refusals', Object.assign(new AggregateError([err({ code: 'ECONNREFUSED' }), err({ code: 'ECONNREFUSED' })]), {}), true],
    ['unique violation 23505', err({ code: '23505' }), false],
    ['invalid text 22P02', err({ code: '22P02' }), false],
    ['check violation 23514', err({ code: '23514' }), false],
    ['undefined table 42P01', err({ code: '42P01' }), false],
    ['plain error', new Error('boom'), false],
    ['not an error', 'ECONNREFUSED', false],
  ];
  it.each(cases)('%s', (_name, e, expected) => {
    expect(isDatabaseUnavailableError(e)).toBe(expected);
  });
});

describe('array literals', () => {
  it('quotes every text element and escapes backslash and double quote only', () => {
    expect(textArrayLiteral(['a', 'NULL', 'x,y', '{}', ' sp '])).toBe('{"a","NULL","x,y","{}"," sp "}');
    expect(textArrayLiteral(['q"', 'b\\s', null])).toBe('{"q\\"","b\\\\s",NULL}');
    expect(textArrayLiteral([])).toBe('{}');
  });
});

describe('binary array parameters (PostgreSQL array_recv layout)', () => {
  // ndim 1, no nulls, element oid, length, lower bound 1; then per element: int32 byte length, bytes
  const header = (oid: string, n: number) => `00000001` + `00000000` + oid + n.toString(16).padStart(8, '0') + `00000001`;
  it.each([
    ['float8', float8ArrayBinary([1.5, -2]), header('000002bd', 2) + '00000008' + '3ff8000000000000' + '00000008' + 'c000000000000000'],
    ['int4', int4ArrayBinary([2_900_000, -1]), header('00000017', 2) + '00000004' + '002c4020' + '00000004' + 'ffffffff'],
    ['bool', boolArrayBinary([true, false]), header('00000010', 2) + '00000001' + '01' + '00000001' + '00'],
    ['text', textArrayBinary(['é', '', 'a"{,}']), header('00000019', 3) + '00000002' + 'c3a9' + '00000000' + '00000005' + '61227b2c7d'],
    ['empty', textArrayBinary([]), header('00000019', 0)],
  ])('%s', (_name, encoded, hex) => {
    expect(encoded.toString('hex')).toBe(hex);
  });
});
