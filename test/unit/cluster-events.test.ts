import { describe, expect, it } from 'vitest';
import { parseClusterEvent } from '../../src/store/cluster-events.js';

describe('cluster events (NOTIFY payloads)', () => {
  it.each([
    ['{"kind":"ban","from":2,"ip":"127.0.0.7","seconds":599.9,"reason":"line-too-long"}', { kind: 'ban', from: 2, ip: '127.0.0.7', seconds: 599.9, reason: 'line-too-long' }],
    ['{"kind":"block","from":1,"chain":"litecoin"}', { kind: 'block', from: 1, chain: 'litecoin' }],
    ['{"kind":"reload","from":3}', { kind: 'reload', from: 3 }],
  ])('reads %s', (payload, event) => {
    expect(parseClusterEvent(payload)).toEqual(event);
  });

  it.each([
    undefined, '', 'not json', '[]', 'null', '{"kind":"ban","from":2,"ip":"127.0.0.7"}', '{"kind":"block","from":"1","chain":"litecoin"}',
    '{"kind":"shutdown","from":1}', '{"kind":"block","from":1}',
  ])('ignores %s', (payload) => {
    expect(parseClusterEvent(payload)).toBeUndefined();
  });
});
