import type { Readable } from 'node:stream';

/**
 * Calls `onLine` with each newline-terminated line that arrives on `stream` (newline removed), in order; an
 * unfinished line waits for the rest. `afterChunk` runs once the lines of a chunk are handled. Stratum is
 * ASCII, so a Buffer chunk is decoded on its own; a stream with setEncoding gives strings, taken as they are.
 */
export function onLines(stream: Readable, onLine: (line: string) => void, afterChunk?: () => void): void {
  let rest = '';
  stream.on('data', (chunk: Buffer | string) => {
    const text = rest + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      onLine(text.slice(start, nl));
      start = nl + 1;
    }
    rest = text.slice(start);
    afterChunk?.();
  });
}
