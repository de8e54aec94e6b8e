import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailableError } from '../../src/store/pg-errors.js';
import { boolArrayLiteral, numberArrayLiteral, textArrayLiteral } from '../../src/store/share-rows.js';

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
  it('writes numbers and booleans plainly', () => {
    expect(numberArrayLiteral([1, 0.5, 1e21, -3])).toBe('{1,0.5,1e+21,-3}');
    expect(boolArrayLiteral([true, false])).toBe('{t,f}');
  });
});
