import { createHash } from 'node:crypto';

const HEX_RE = /^(?:[0-9a-fA-F]{2})*$/;

export function isHex(value: string, byteLength?: number): boolean {
  if (byteLength !== undefined && value.length !== byteLength * 2) return false;
  return HEX_RE.test(value);
}

export function fromHex(hex: string): Buffer {
  if (!isHex(hex)) throw new Error(`not a hex string: ${hex.slice(0, 20)}`);
  return Buffer.from(hex, 'hex');
}

export function reversed(buf: Buffer): Buffer {
  return Buffer.from(buf).reverse();
}

export function sha256d(data: Buffer): Buffer {
  const first = createHash('sha256').update(data).digest();
  return createHash('sha256').update(first).digest();
}

export function u32LE(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value >>> 0);
  return out;
}

export function u64LE(value: bigint): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(value);
  return out;
}

export function varInt(n: number): Buffer {
  if (n < 0xfd) return Buffer.from([n]);
  if (n <= 0xffff) {
    const b = Buffer.alloc(3);
    b[0] = 0xfd;
    b.writeUInt16LE(n, 1);
    return b;
  }
  if (n <= 0xffffffff) {
    const b = Buffer.alloc(5);
    b[0] = 0xfe;
    b.writeUInt32LE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = 0xff;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** Script push of arbitrary data (direct push or OP_PUSHDATA1/2). */
export function pushData(data: Buffer): Buffer {
  const n = data.length;
  if (n < 0x4c) return Buffer.concat([Buffer.from([n]), data]);
  if (n <= 0xff) return Buffer.concat([Buffer.from([0x4c, n]), data]);
  if (n <= 0xffff) {
    const len = Buffer.alloc(2);
    len.writeUInt16LE(n);
    return Buffer.concat([Buffer.from([0x4d]), len, data]);
  }
  throw new Error(`push of ${n} bytes is too large for a scriptSig`);
}

/** Little-endian bytes read as an unsigned integer. */
export function leToBigInt(buf: Buffer): bigint {
  return BigInt('0x' + (reversed(buf).toString('hex') || '0'));
}

export function bigIntToHex64(value: bigint): string {
  return value.toString(16).padStart(64, '0');
}
