/** Minimal transaction reader for tests: the non-witness serialisation of a (possibly segwit) transaction. */
export function readVarInt(buf: Buffer, offset: number): [number, number] {
  const first = buf[offset];
  if (first < 0xfd) return [first, 1];
  if (first === 0xfd) return [buf.readUInt16LE(offset + 1), 3];
  if (first === 0xfe) return [buf.readUInt32LE(offset + 1), 5];
  return [Number(buf.readBigUInt64LE(offset + 1)), 9];
}

export function stripWitness(tx: Buffer): Buffer {
  if (tx[4] !== 0x00 || tx[5] !== 0x01) return tx;
  let p = 6;
  const start = p;
  const [nIn, a] = readVarInt(tx, p);
  p += a;
  for (let i = 0; i < nIn; i++) {
    p += 36;
    const [len, b] = readVarInt(tx, p);
    p += b + len + 4;
  }
  const [nOut, c] = readVarInt(tx, p);
  p += c;
  for (let i = 0; i < nOut; i++) {
    p += 8;
    const [len, d] = readVarInt(tx, p);
    p += d + len;
  }
  const body = tx.subarray(start, p);
  return Buffer.concat([tx.subarray(0, 4), body, tx.subarray(tx.length - 4)]);
}
