import { scrypt } from 'node:crypto';
import type { ScryptHasher } from '../src/work/scrypt.js';

/** Same as NodeScryptHasher in src/work/scrypt.ts: crypto.scrypt(header, header, N=1024, r=1, p=1, 32) on libuv's pool. */
class BenchNodeScryptHasher implements ScryptHasher {
  readonly name = 'node-crypto (bench copy)';
  hash(header: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      scrypt(header, header, 32, { N: 1024, r: 1, p: 1 }, (err, key) => (err ? reject(err) : resolve(key)));
    });
  }
}

/**
 * The pool's NodeScryptHasher when src/work/scrypt.ts loads under Node's ESM loader; otherwise (its named import
 * from the CommonJS scrypt-js fails outside vitest) an identical local copy, with the reason, so the bench still runs.
 */
export async function loadNodeHasher(): Promise<{ hasher: ScryptHasher; note?: string }> {
  try {
    const mod = await import('../src/work/scrypt.js');
    return { hasher: new mod.NodeScryptHasher() };
  } catch (error) {
    return {
      hasher: new BenchNodeScryptHasher(),
      note: `src/work/scrypt.ts does not load under tsx/node (${(error as Error).message.split('\n')[0]}); using an identical crypto.scrypt hasher from bench/hasher.ts`,
    };
  }
}
