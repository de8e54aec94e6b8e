import { scrypt as nodeScrypt } from 'node:crypto';
import scryptJs from 'scrypt-js';

// scrypt-js is CommonJS: Node's ESM loader only sees its default export.
const { scrypt: jsScrypt, syncScrypt } = scryptJs;

/** Litecoin proof of work: scrypt(header, header, N=1024, r=1, p=1, dkLen=32). */
export const SCRYPT_PARAMS = { N: 1024, r: 1, p: 1, dkLen: 32 } as const;

export interface ScryptHasher {
  readonly name: string;
  hash(header: Buffer): Promise<Buffer>;
  /** Stops what the hasher started (worker threads); hash() must not be called afterwards. */
  close?(): Promise<void>;
}

/** OpenSSL's scrypt on libuv's thread pool: the event loop never waits on a hash. */
export class NodeScryptHasher implements ScryptHasher {
  readonly name = 'node-crypto';
  hash(header: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      nodeScrypt(header, header, SCRYPT_PARAMS.dkLen, { N: SCRYPT_PARAMS.N, r: SCRYPT_PARAMS.r, p: SCRYPT_PARAMS.p }, (err, key) =>
        err ? reject(err) : resolve(key),
      );
    });
  }
}

/** Pure JavaScript reference (scrypt-js). Async form yields to the event loop while it works. */
export class ScryptJsHasher implements ScryptHasher {
  readonly name = 'scrypt-js';
  async hash(header: Buffer): Promise<Buffer> {
    const key = await jsScrypt(header, header, SCRYPT_PARAMS.N, SCRYPT_PARAMS.r, SCRYPT_PARAMS.p, SCRYPT_PARAMS.dkLen);
    return Buffer.from(key);
  }
}

/** Synchronous reference hash, for the test miner and tests only. */
export function scryptSync(data: Buffer, params: { N: number; r: number; p: number; dkLen: number } = SCRYPT_PARAMS): Buffer {
  return Buffer.from(syncScrypt(data, data, params.N, params.r, params.p, params.dkLen));
}

export function createHasher(kind: 'node' | 'scrypt-js' = 'node'): ScryptHasher {
  return kind === 'scrypt-js' ? new ScryptJsHasher() : new NodeScryptHasher();
}
