import { describe, expect, it } from 'vitest';
import { ProxyHeaderReader, parseProxyHeader, type ProxyHeader } from '../../src/stratum/proxy-protocol.js';

const SIG = '0d0a0d0a000d0a515549540a';
const STRATUM = Buffer.from('{"id":1,"method":"mining.subscribe","params":[]}\n');

/** Real header bytes as HAProxy writes them (send-proxy / send-proxy-v2), followed by the first Stratum line. */
const vectors: Array<{ name: string; bytes: Buffer; header: ProxyHeader }> = [
  {
    name: 'v1 TCP4',
    bytes: Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n', 'latin1'),
    header: { version: 1, command: 'PROXY', family: 'TCP4', sourceAddress: '192.168.0.1', destinationAddress: '192.168.0.11', sourcePort: 56324, destinationPort: 443 },
  },
  {
    name: 'v1 TCP6',
    bytes: Buffer.from('PROXY TCP6 2001:db8::1 2001:db8::2 4000 3333\r\n', 'latin1'),
    header: { version: 1, command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::1', destinationAddress: '2001:db8::2', sourcePort: 4000, destinationPort: 3333 },
  },
  {
    name: 'v1 TCP6 longest legal line (107 bytes)',
    bytes: Buffer.from('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n', 'latin1'),
    header: {
      version: 1, command: 'PROXY', family: 'TCP6',
      sourceAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', destinationAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', sourcePort: 65535, destinationPort: 65535,
    },
  },
  { name: 'v1 UNKNOWN', bytes: Buffer.from('PROXY UNKNOWN\r\n', 'latin1'), header: { version: 1, command: 'PROXY', family: 'UNKNOWN' } },
  {
    name: 'v1 UNKNOWN with addresses (ignored)',
    bytes: Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n', 'latin1'),
    header: { version: 1, command: 'PROXY', family: 'UNKNOWN' },
  },
  {
    name: 'v2 PROXY TCP over IPv4',
    bytes: Buffer.from(`${SIG}21` + '11' + '000c' + 'c0a80001' + 'c0a8000b' + 'dc04' + '01bb', 'hex'),
    header: { version: 2, command: 'PROXY', family: 'TCP4', sourceAddress: '192.168.0.1', destinationAddress: '192.168.0.11', sourcePort: 56324, destinationPort: 443 },
  },
  {
    name: 'v2 PROXY TCP over IPv4 with a TLV (NOOP) after the addresses',
    bytes: Buffer.from(`${SIG}21` + '11' + '000f' + '0a000005' + '7f000001' + '3039' + '0d05' + '040000', 'hex'),
    header: { version: 2, command: 'PROXY', family: 'TCP4', sourceAddress: '10.0.0.5', destinationAddress: '127.0.0.1', sourcePort: 12345, destinationPort: 3333 },
  },
  {
    name: 'v2 PROXY TCP over IPv6',
    bytes: Buffer.from(
      `${SIG}21` + '21' + '0024' + '20010db8000000000000000000000001' + '20010db8000000000000000000000002' + '0fa0' + '0d05',
      'hex',
    ),
    header: { version: 2, command: 'PROXY', family: 'TCP6', sourceAddress: '2001:db8::1', destinationAddress: '2001:db8::2', sourcePort: 4000, destinationPort: 3333 },
  },
  {
    name: 'v2 PROXY TCP over IPv6, no zero run',
    bytes: Buffer.from(`${SIG}21` + '21' + '0024' + '2a0104f8000112340005000600070008' + '00000000000000000000000000000001' + '0001' + '0002', 'hex'),
    header: { version: 2, command: 'PROXY', family: 'TCP6', sourceAddress: '2a01:4f8:1:1234:5:6:7:8', destinationAddress: '::1', sourcePort: 1, destinationPort: 2 },
  },
  { name: 'v2 LOCAL (health check)', bytes: Buffer.from(`${SIG}20` + '00' + '0000', 'hex'), header: { version: 2, command: 'LOCAL', family: 'UNKNOWN' } },
  {
    name: 'v2 LOCAL with an IPv4 block (addresses must be ignored)',
    bytes: Buffer.from(`${SIG}20` + '11' + '000c' + 'c0a80001' + 'c0a8000b' + 'dc04' + '01bb', 'hex'),
    header: { version: 2, command: 'LOCAL', family: 'UNKNOWN' },
  },
  { name: 'v2 PROXY AF_UNSPEC', bytes: Buffer.from(`${SIG}21` + '00' + '0000', 'hex'), header: { version: 2, command: 'PROXY', family: 'UNKNOWN' } },
];

describe('PROXY protocol header parser', () => {
  for (const vector of vectors) {
    it(`parses ${vector.name} and hands back the Stratum bytes after it`, () => {
      const result = parseProxyHeader(Buffer.concat([vector.bytes, STRATUM]));
      expect(result.status).toBe('done');
      if (result.status !== 'done') return;
      expect(result.header).toEqual(vector.header);
      expect(result.rest.equals(STRATUM)).toBe(true);
    });

    it(`parses ${vector.name} fed one byte at a time`, () => {
      const reader = new ProxyHeaderReader();
      const all = Buffer.concat([vector.bytes, STRATUM]);
      let result = reader.push(all.subarray(0, 1));
      let i = 1;
      while (result.status === 'incomplete' && i < all.length) result = reader.push(all.subarray(i, ++i));
      expect(result.status).toBe('done');
      // the header completes exactly at its last byte
      expect(i).toBe(vector.bytes.length);
      if (result.status === 'done') expect(result.header).toEqual(vector.header);
    });
  }

  const bad: Array<[string, Buffer]> = [
    ['plain Stratum without a header', STRATUM],
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['v1 with a bad IPv4 address', Buffer.from('PROXY TCP4 300.1.1.1 192.168.0.11 56324 443\r\n')],
    ['v1 TCP4 family with IPv6 addresses', Buffer.from('PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n')],
    ['v1 with a port above 65535', Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n')],
    ['v1 with a leading-zero port', Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 0443 443\r\n')],
    ['v1 with too few fields', Buffer.from('PROXY TCP4 192.168.0.1 192.168.0.11 443\r\n')],
    ['v1 with an unknown family', Buffer.from('PROXY UDP4 192.168.0.1 192.168.0.11 1 2\r\n')],
    ['v1 without CRLF past 107 bytes', Buffer.from('PROXY TCP4 ' + '1'.repeat(120))],
    ['v2 with version 3', Buffer.from(`${SIG}31` + '11' + '000c' + 'c0a80001c0a8000bdc0401bb', 'hex')],
    ['v2 with command 2', Buffer.from(`${SIG}22` + '11' + '000c' + 'c0a80001c0a8000bdc0401bb', 'hex')],
    ['v2 over UDP', Buffer.from(`${SIG}21` + '12' + '000c' + 'c0a80001c0a8000bdc0401bb', 'hex')],
    ['v2 IPv4 with a short address block', Buffer.from(`${SIG}21` + '11' + '0004' + 'c0a80001', 'hex')],
    ['v2 IPv6 with a short address block', Buffer.from(`${SIG}21` + '21' + '000c' + 'c0a80001c0a8000bdc0401bb', 'hex')],
    ['v2 announcing a huge payload', Buffer.from(`${SIG}21` + '11' + 'ffff', 'hex')],
  ];
  for (const [name, bytes] of bad) {
    it(`refuses ${name}`, () => {
      const result = parseProxyHeader(bytes);
      expect(result.status).toBe('error');
    });
  }

  it('waits for more bytes on every proper prefix of a valid header, and never buffers past the largest header', () => {
    for (const vector of vectors) {
      for (let n = 1; n < vector.bytes.length; n++) expect(parseProxyHeader(vector.bytes.subarray(0, n)).status).toBe('incomplete');
    }
    const reader = new ProxyHeaderReader();
    // a v2 header that claims the largest allowed payload but never delivers it
    let result = reader.push(Buffer.from(`${SIG}21` + '11' + '0800', 'hex'));
    for (let i = 0; i < 10 && result.status === 'incomplete'; i++) result = reader.push(Buffer.alloc(1024));
    expect(result.status).not.toBe('incomplete');
  });
});
