import { isIP } from 'node:net';

/**
 * PROXY protocol v1 (text) and v2 (binary) header parsing, as sent by HAProxy and most TCP load balancers
 * in front of the Stratum port (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
 */
export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL (v2 health checks) and v1 UNKNOWN carry no client address: use the socket's own. */
  command: 'PROXY' | 'LOCAL';
  family: 'TCP4' | 'TCP6' | 'UNKNOWN';
  sourceAddress?: string;
  sourcePort?: number;
  destinationAddress?: string;
  destinationPort?: number;
}

export type ProxyParseResult =
  | { status: 'incomplete' }
  | { status: 'done'; header: ProxyHeader; rest: Buffer }
  | { status: 'error'; reason: string };

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** The v1 spec caps the line at 107 bytes including CRLF. */
const V1_MAX_BYTES = 107;
/** Addresses plus TLVs; anything larger than this from a balancer is not a header we want. */
export const V2_MAX_PAYLOAD = 2048;

function startsWithPartial(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 65535 ? value : undefined;
}

function parseV1(data: Buffer): ProxyParseResult {
  const end = data.indexOf('\r\n', 0, 'latin1');
  if (end === -1) {
    return data.length >= V1_MAX_BYTES ? { status: 'error', reason: 'PROXY v1 header longer than 107 bytes' } : { status: 'incomplete' };
  }
  if (end + 2 > V1_MAX_BYTES) return { status: 'error', reason: 'PROXY v1 header longer than 107 bytes' };
  const line = data.subarray(0, end).toString('latin1');
  const rest = data.subarray(end + 2);
  const parts = line.split(' ');
  if (parts[1] === 'UNKNOWN') return { status: 'done', header: { version: 1, command: 'PROXY', family: 'UNKNOWN' }, rest };
  if (parts.length !== 6) return { status: 'error', reason: 'PROXY v1 header must have 6 fields' };
  const [, family, source, destination, sourcePortText, destinationPortText] = parts;
  const expected = family === 'TCP4' ? 4 : family === 'TCP6' ? 6 : 0;
  if (expected === 0) return { status: 'error', reason: `PROXY v1 unknown family ${family.slice(0, 16)}` };
  if (isIP(source) !== expected || isIP(destination) !== expected) return { status: 'error', reason: 'PROXY v1 bad address' };
  const sourcePort = parsePort(sourcePortText);
  const destinationPort = parsePort(destinationPortText);
  if (sourcePort === undefined || destinationPort === undefined) return { status: 'error', reason: 'PROXY v1 bad port' };
  return {
    status: 'done',
    header: { version: 1, command: 'PROXY', family, sourceAddress: source, sourcePort, destinationAddress: destination, destinationPort } as ProxyHeader,
    rest,
  };
}

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  // Compress the longest run of zero groups (RFC 5952) so the text matches what node reports for sockets.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestStart === -1) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

function parseV2(data: Buffer): ProxyParseResult {
  if (data.length < 16) return { status: 'incomplete' };
  const versionCommand = data[12];
  if (versionCommand >> 4 !== 2) return { status: 'error', reason: 'PROXY v2 bad version' };
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return { status: 'error', reason: 'PROXY v2 unknown command' };
  const familyByte = data[13];
  const length = data.readUInt16BE(14);
  if (length > V2_MAX_PAYLOAD) return { status: 'error', reason: 'PROXY v2 header too long' };
  if (data.length < 16 + length) return { status: 'incomplete' };
  const payload = data.subarray(16, 16 + length);
  const rest = data.subarray(16 + length);
  if (commandBits === 0) return { status: 'done', header: { version: 2, command: 'LOCAL', family: 'UNKNOWN' }, rest };
  const addressFamily = familyByte >> 4;
  const transport = familyByte & 0x0f;
  if (addressFamily === 0 || (addressFamily !== 1 && addressFamily !== 2)) {
    // AF_UNSPEC or AF_UNIX: nothing usable as an IP; the spec says to use the socket's address.
    return { status: 'done', header: { version: 2, command: 'PROXY', family: 'UNKNOWN' }, rest };
  }
  if (transport !== 1) return { status: 'error', reason: 'PROXY v2 transport must be STREAM' };
  if (addressFamily === 1) {
    if (payload.length < 12) return { status: 'error', reason: 'PROXY v2 IPv4 block too short' };
    return {
      status: 'done',
      header: {
        version: 2,
        command: 'PROXY',
        family: 'TCP4',
        sourceAddress: [...payload.subarray(0, 4)].join('.'),
        destinationAddress: [...payload.subarray(4, 8)].join('.'),
        sourcePort: payload.readUInt16BE(8),
        destinationPort: payload.readUInt16BE(10),
      },
      rest,
    };
  }
  if (payload.length < 36) return { status: 'error', reason: 'PROXY v2 IPv6 block too short' };
  return {
    status: 'done',
    header: {
      version: 2,
      command: 'PROXY',
      family: 'TCP6',
      sourceAddress: ipv6Text(payload.subarray(0, 16)),
      destinationAddress: ipv6Text(payload.subarray(16, 32)),
      sourcePort: payload.readUInt16BE(32),
      destinationPort: payload.readUInt16BE(34),
    },
    rest,
  };
}

/** Parses the header at the start of `data` (everything received so far); never throws. */
export function parseProxyHeader(data: Buffer): ProxyParseResult {
  if (data.length === 0) return { status: 'incomplete' };
  if (startsWithPartial(data, V2_SIGNATURE) && data[0] === 0x0d) {
    return data.length < V2_SIGNATURE.length ? { status: 'incomplete' } : parseV2(data);
  }
  if (startsWithPartial(data, V1_PREFIX)) {
    return data.length < V1_PREFIX.length ? { status: 'incomplete' } : parseV1(data);
  }
  return { status: 'error', reason: 'expected a PROXY protocol header' };
}

/** Collects bytes until the header is complete; bounded by the largest legal header. */
export class ProxyHeaderReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): ProxyParseResult {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const result = parseProxyHeader(this.buffered);
    if (result.status === 'incomplete' && this.buffered.length > 16 + V2_MAX_PAYLOAD) {
      return { status: 'error', reason: 'PROXY header too long' };
    }
    return result;
  }
}
