import { fromHex, reversed, sha256d } from './bytes.js';
import type { Job } from './job.js';

/** Reads a Bitcoin varint at `at`; returns [value, next offset]. */
function readVarInt(data: Buffer, at: number): [number, number] {
  const first = data[at];
  if (first === undefined) throw new RangeError('transaction ends inside a varint');
  if (first < 0xfd) return [first, at + 1];
  if (first === 0xfd) return [data.readUInt16LE(at + 1), at + 3];
  if (first === 0xfe) return [data.readUInt32LE(at + 1), at + 5];
  const value = Number(data.readBigUInt64LE(at + 1));
  if (!Number.isSafeInteger(value)) throw new RangeError('varint too large');
  return [value, at + 9];
}

/**
 * The serialization a transaction's txid is the sha256d of: version ‖ inputs ‖ outputs ‖ locktime, without the
 * segwit witnesses or the MWEB part a marker/flag (0x00, flags: 1 witness, 8 MWEB; the HogEx carries 8) adds.
 */
export function txidSerialization(data: Buffer): Buffer {
  if (data.length < 10) throw new RangeError('transaction too short');
  const extended = data[4] === 0x00 && data[5] !== 0x00;
  if (!extended) return data;
  let at = 6;
  const [inputs, afterInputCount] = readVarInt(data, at);
  at = afterInputCount;
  for (let i = 0; i < inputs; i++) {
    const [scriptLength, next] = readVarInt(data, at + 36);
    at = next + scriptLength + 4;
  }
  const [outputs, afterOutputCount] = readVarInt(data, at);
  at = afterOutputCount;
  for (let i = 0; i < outputs; i++) {
    const [scriptLength, next] = readVarInt(data, at + 8);
    at = next + scriptLength;
  }
  if (at + 4 > data.length) throw new RangeError('transaction ends inside its outputs');
  return Buffer.concat([data.subarray(0, 4), data.subarray(6, at), data.subarray(data.length - 4)]);
}

const jobTransactions = new WeakMap<Job, string[]>();

/**
 * `mining.get_transactions`: the job's transactions (the coinbase excluded) in txid serialization, hex, so
 * sha256d of each is the txid its merkle branch was built from (cgminer and bfgminer check exactly that).
 * A transaction litecoind hands us that does not hash to its txid is an error here, not a silent mismatch.
 */
export function jobTransactionsHex(job: Job): string[] {
  let out = jobTransactions.get(job);
  if (out === undefined) {
    out = job.template.transactions.map((tx) => {
      const plain = txidSerialization(fromHex(tx.data));
      if (!reversed(sha256d(plain)).equals(fromHex(tx.txid))) throw new Error(`transaction ${tx.txid}: its data does not hash to its txid`);
      return plain.toString('hex');
    });
    jobTransactions.set(job, out);
  }
  return out;
}
