import { reversed, sha256d, u32LE } from './bytes.js';

export interface HeaderFields {
  version: number;
  prevHashInternal: Buffer;
  merkleRootInternal: Buffer;
  ntime: number;
  nbits: number;
  nonce: number;
}

export function serializeHeader(h: HeaderFields): Buffer {
  return Buffer.concat([
    u32LE(h.version),
    h.prevHashInternal,
    h.merkleRootInternal,
    u32LE(h.ntime),
    u32LE(h.nbits),
    u32LE(h.nonce),
  ]);
}

/** Swap every 4-byte word: internal order <-> the order mining.notify carries prevhash in. */
export function swapWords(buf: Buffer): Buffer {
  const out = Buffer.alloc(buf.length);
  for (let i = 0; i < buf.length; i += 4) {
    out[i] = buf[i + 3];
    out[i + 1] = buf[i + 2];
    out[i + 2] = buf[i + 1];
    out[i + 3] = buf[i];
  }
  return out;
}

/** Block id as shown by litecoind (sha256d of the header, byte-reversed). Not the proof of work. */
export function blockHash(header: Buffer): string {
  return reversed(sha256d(header)).toString('hex');
}
