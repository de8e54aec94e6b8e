import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineDecoder, LineTooLongError, parseMessage, type ParsedMessage } from '../../src/stratum/codec.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/regtest/stratum-golden.json', import.meta.url), 'utf8')) as {
  transcript_first_lines: Array<{ dir: string; line: string }>;
};
export const GOLDEN_LINES = golden.transcript_first_lines.map((l) => l.line);

/** A golden Stratum line with a few random edits: the traffic of buggy firmware and fuzzers alike. */
export const mutatedLine = fc
  .tuple(
    fc.constantFrom(...GOLDEN_LINES),
    fc.array(
      fc.tuple(fc.constantFrom('delete', 'insert', 'replace', 'truncate', 'duplicate'), fc.nat(), fc.string({ minLength: 1, maxLength: 4 })),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([line, edits]) => {
    let out = line;
    for (const [kind, position, text] of edits) {
      const at = out.length === 0 ? 0 : position % out.length;
      if (kind === 'delete') out = out.slice(0, at) + out.slice(at + 1);
      else if (kind === 'insert') out = out.slice(0, at) + text + out.slice(at);
      else if (kind === 'replace') out = out.slice(0, at) + text + out.slice(at + text.length);
      else if (kind === 'truncate') out = out.slice(0, at);
      else out = out.slice(0, at) + out.slice(at, at + 20) + out.slice(at);
    }
    return out;
  });

function checkParsed(message: ParsedMessage): void {
  expect(['request', 'response', 'invalid']).toContain(message.kind);
  if (message.kind === 'request') {
    expect(typeof message.request.method).toBe('string');
    expect(message.request.method.length).toBeGreaterThan(0);
    expect(message.request.method.length).toBeLessThanOrEqual(64);
    expect(Array.isArray(message.request.params)).toBe(true);
    const id = message.request.id;
    expect(id === null || typeof id === 'string' || typeof id === 'number').toBe(true);
  }
}

describe('parseMessage never throws', () => {
  it('on random strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (line) => checkParsed(parseMessage(line))), { numRuns: 2000 });
  });

  it('on random JSON values', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 6 }), (line) => checkParsed(parseMessage(line))), { numRuns: 2000 });
  });

  it('on random request-shaped objects with hostile field types', () => {
    const anything = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant(undefined));
    const request = fc.record({ id: anything, method: fc.oneof(fc.string({ maxLength: 80 }), anything), params: anything }, { requiredKeys: [] });
    fc.assert(fc.property(request, (object) => checkParsed(parseMessage(JSON.stringify(object)))), { numRuns: 2000 });
  });

  it('on mutated golden Stratum lines', () => {
    fc.assert(fc.property(mutatedLine, (line) => checkParsed(parseMessage(line))), { numRuns: 3000 });
  });

  it('on deeply nested JSON near the line limit', () => {
    for (const depth of [1000, 5000, 8000]) {
      checkParsed(parseMessage('['.repeat(depth) + ']'.repeat(depth)));
      checkParsed(parseMessage(`{"id":1,"method":"mining.submit","params":${'['.repeat(depth)}${']'.repeat(depth)}}`));
    }
  });

  it('still understands every golden line unchanged', () => {
    const kinds = GOLDEN_LINES.map((line) => parseMessage(line).kind);
    expect(kinds).not.toContain('invalid');
    expect(kinds.filter((k) => k === 'request').length).toBe(GOLDEN_LINES.filter((l) => l.includes('"method"')).length);
    expect(kinds.filter((k) => k === 'response').length).toBe(GOLDEN_LINES.filter((l) => !l.includes('"method"')).length);
  });
});

describe('LineDecoder on arbitrary bytes', () => {
  const MAX = 512;
  const bytes = fc.uint8Array({ maxLength: 3000 });
  const cuts = fc.array(fc.nat({ max: 3000 }), { maxLength: 20 });

  function decodeAll(data: Uint8Array, cutPoints: number[], max = MAX): { lines: string[]; error?: unknown } {
    const decoder = new LineDecoder(max);
    const points = [...new Set(cutPoints.map((c) => Math.min(c, data.length)))].sort((a, b) => a - b);
    const lines: string[] = [];
    let start = 0;
    try {
      for (const end of [...points, data.length]) {
        lines.push(...decoder.push(Buffer.from(data.subarray(start, end))));
        start = end;
      }
    } catch (error) {
      return { lines, error };
    }
    return { lines };
  }

  it('only ever throws LineTooLongError, never returns a line over the limit, and ignores how bytes were split', () => {
    fc.assert(
      fc.property(bytes, cuts, (data, cutPoints) => {
        const split = decodeAll(data, cutPoints);
        const whole = decodeAll(data, []);
        if (split.error !== undefined) expect(split.error).toBeInstanceOf(LineTooLongError);
        if (whole.error !== undefined) expect(whole.error).toBeInstanceOf(LineTooLongError);
        for (const line of [...split.lines, ...whole.lines]) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX * 3);
        expect(split.error === undefined).toBe(whole.error === undefined);
        if (split.error === undefined) expect(split.lines).toEqual(whole.lines);
      }),
      { numRuns: 1500 },
    );
  });

  it('mixes newline-separated golden lines and garbage without losing the good lines', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...GOLDEN_LINES), fc.string({ maxLength: 100 }).map((s) => s.replace(/\n/g, ''))), { maxLength: 30 }), cuts, (parts, cutPoints) => {
        const data = Buffer.from(parts.map((p) => p + '\n').join(''));
        const out = decodeAll(data, cutPoints, 16 * 1024);
        expect(out.error).toBeUndefined();
        const goldenSent = parts.filter((p) => GOLDEN_LINES.includes(p)).length;
        expect(out.lines.filter((l) => GOLDEN_LINES.includes(l)).length).toBe(goldenSent);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps memory bounded when a line never ends', () => {
    const decoder = new LineDecoder(16 * 1024);
    let threw = false;
    let fed = 0;
    try {
      for (let i = 0; i < 1000; i++) {
        decoder.push(Buffer.alloc(1024, 0x41));
        fed += 1024;
      }
    } catch (error) {
      threw = error instanceof LineTooLongError;
    }
    expect(threw).toBe(true);
    expect(fed).toBeLessThanOrEqual(16 * 1024);
  });
});
