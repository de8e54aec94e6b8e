import { pushData, u32LE, u64LE, varInt } from './bytes.js';

/** BIP34 height as Bitcoin Core writes it: `CScript() << height` (OP_0, OP_1..OP_16, else a minimal number push). */
export function bip34HeightPush(height: number): Buffer {
  if (!Number.isInteger(height) || height < 0) throw new RangeError(`bad block height ${height}`);
  if (height === 0) return Buffer.from([0x00]);
  if (height <= 16) return Buffer.from([0x50 + height]);
  const bytes: number[] = [];
  let n = height;
  while (n > 0) {
    bytes.push(n & 0xff);
    n = Math.floor(n / 256);
  }
  if (bytes[bytes.length - 1] & 0x80) bytes.push(0x00);
  return pushData(Buffer.from(bytes));
}

export interface CoinbaseOutput {
  value: bigint;
  script: Buffer;
}

export interface CoinbaseSpec {
  height: number;
  /** Bytes reserved for extranonce1 + extranonce2, pushed as one item. */
  extranonceSize: number;
  poolTag: Buffer;
  outputs: CoinbaseOutput[];
  /** Merged-mining commitment (44 bytes, see auxpow.ts), pushed right after the height. */
  auxCommitment?: Buffer;
}

/**
 * Non-witness coinbase split around the extranonce: coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2.
 * scriptSig = height push, [merged-mining commitment push], one push holding the extranonce, then the pool tag push.
 */
export interface CoinbaseParts {
  coinb1: Buffer;
  coinb2: Buffer;
}

const COINBASE_VERSION = 1;
const MAX_SCRIPTSIG = 100;

export function buildCoinbaseParts(spec: CoinbaseSpec): CoinbaseParts {
  const heightPush = bip34HeightPush(spec.height);
  const extranoncePushOpcode = Buffer.from([spec.extranonceSize]);
  if (spec.extranonceSize < 1 || spec.extranonceSize > 0x4b) throw new RangeError('extranonce size must be 1..75 bytes');
  const tagPush = spec.poolTag.length > 0 ? pushData(spec.poolTag) : Buffer.alloc(0);
  const auxPush = spec.auxCommitment ? pushData(spec.auxCommitment) : Buffer.alloc(0);
  const scriptSigLength = heightPush.length + auxPush.length + 1 + spec.extranonceSize + tagPush.length;
  if (scriptSigLength < 2 || scriptSigLength > MAX_SCRIPTSIG) {
    throw new RangeError(`coinbase scriptSig would be ${scriptSigLength} bytes (allowed 2..${MAX_SCRIPTSIG}): shorten the pool tag`);
  }
  const coinb1 = Buffer.concat([
    u32LE(COINBASE_VERSION),
    varInt(1),
    Buffer.alloc(32, 0),
    Buffer.from('ffffffff', 'hex'),
    varInt(scriptSigLength),
    heightPush,
    auxPush,
    extranoncePushOpcode,
  ]);
  const coinb2 = Buffer.concat([
    tagPush,
    Buffer.from('ffffffff', 'hex'),
    serializeOutputs(spec.outputs),
    u32LE(0),
  ]);
  return { coinb1, coinb2 };
}

export function serializeOutputs(outputs: CoinbaseOutput[]): Buffer {
  const parts: Buffer[] = [varInt(outputs.length)];
  for (const output of outputs) parts.push(u64LE(output.value), varInt(output.script.length), output.script);
  return Buffer.concat(parts);
}

/**
 * The witness serialisation of a non-witness coinbase: marker and flag after the version, and the
 * 32-byte zero witness reserved value before the locktime (BIP141 commitment).
 */
export function withWitnessReservedValue(coinbase: Buffer): Buffer {
  return Buffer.concat([
    coinbase.subarray(0, 4),
    Buffer.from([0x00, 0x01]),
    coinbase.subarray(4, coinbase.length - 4),
    Buffer.from([0x01, 0x20]),
    Buffer.alloc(32, 0),
    coinbase.subarray(coinbase.length - 4),
  ]);
}
