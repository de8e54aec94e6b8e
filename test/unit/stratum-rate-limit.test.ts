// Issue 10: the message rate limit as sessions run it. The old tests covered a TokenBucket class no session used
// (sessions keep the bucket as integer thousandths of a token, refilled on every read); this drives a real
// Session over a fake socket with a faked clock, so a change to the refill, the burst or the per-line charge fails here.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ShareProcessor } from '../../src/stratum/share-processor.js';
import { Session } from '../../src/stratum/session.js';
import type { ProtocolErrorReason, SessionEnvironment, SessionSettings } from '../../src/stratum/session-environment.js';

const LIMITED = 'Too many messages, slow down';

class FakeSocket extends EventEmitter {
  readonly written: string[] = [];
  destroyed = false;
  writableLength = 0;
  setNoDelay(): this {
    return this;
  }
  write(line: string): boolean {
    this.written.push(...line.split('\n').filter((part) => part !== ''));
    return true;
  }
  end(): this {
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

function openSession(limits: Pick<SessionSettings, 'messagesPerSecond' | 'messagesBurst' | 'floodCloseAfter'>) {
  const socket = new FakeSocket();
  const protocolErrors: ProtocolErrorReason[] = [];
  const settings: SessionSettings = {
    network: 'regtest',
    extranonce2Size: 4,
    startDifficulty: 1,
    vardiff: { enabled: false, targetSeconds: 15, retargetSeconds: 60, variancePercent: 30, minDifficulty: 1, maxDifficulty: 1e9, idleSeconds: 120 },
    versionRollingMask: 0x1fffe000,
    maxLineBytes: 4096,
    maxWorkersPerConnection: 8,
    maxJobsRemembered: 8,
    ...limits,
  };
  const env: SessionEnvironment = {
    settings,
    logger: pino({ level: 'silent' }),
    hooks: {
      currentJob: () => undefined,
      shares: {} as ShareProcessor,
      onWorkerAdded: () => {},
      onSubmitResult: () => {},
      onProtocolError: (_session, reason) => void protocolErrors.push(reason),
      onClose: () => {},
    },
  };
  new Session(1, socket as unknown as Socket, '203.0.113.9', 1, env);
  let nextId = 1;
  /** Sends `count` client.get_version requests in one read; returns how many were answered and how many limited. */
  const burst = (count: number) => {
    const before = socket.written.length;
    const lines = Array.from({ length: count }, () => `${JSON.stringify({ id: nextId++, method: 'client.get_version', params: [] })}\n`);
    socket.emit('data', Buffer.from(lines.join('')));
    const replies = socket.written.slice(before).map((line) => JSON.parse(line) as { result: unknown; error: [number, string, null] | null });
    expect(replies).toHaveLength(count); // every request is answered, one way or the other
    return { answered: replies.filter((r) => r.error === null).length, limited: replies.filter((r) => r.error?.[1] === LIMITED).length };
  };
  return { socket, protocolErrors, burst };
}

describe("a session's message rate limit (token bucket in thousandths of a message)", () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['Date'] }));
  afterEach(() => void vi.useRealTimers());
  const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);

  it('allows the burst, then the sustained rate; a steady rate at the limit never runs dry', () => {
    const { burst, protocolErrors } = openSession({ messagesPerSecond: 10, messagesBurst: 20, floodCloseAfter: 10_000 });
    expect(burst(100)).toEqual({ answered: 20, limited: 80 });
    expect(protocolErrors).toEqual(Array(80).fill('flood'));
    advance(1000);
    expect(burst(100)).toEqual({ answered: 10, limited: 90 });
    advance(250); // 2.5 messages' worth: two whole ones, the half carries over
    expect(burst(5)).toEqual({ answered: 2, limited: 3 });
    advance(50);
    expect(burst(1)).toEqual({ answered: 1, limited: 0 });
    for (let i = 0; i < 1000; i++) {
      advance(100);
      expect(burst(1)).toEqual({ answered: 1, limited: 0 });
    }
  });

  it('never holds more than its burst after a long pause', () => {
    const { burst } = openSession({ messagesPerSecond: 100, messagesBurst: 5, floodCloseAfter: 10_000 });
    advance(3_600_000);
    expect(burst(50)).toEqual({ answered: 5, limited: 45 });
  });

  it('without messagesBurst the burst is twice the rate, at least 20', () => {
    expect(openSession({ messagesPerSecond: 50, floodCloseAfter: 1000 }).burst(200).answered).toBe(100);
    expect(openSession({ messagesPerSecond: 1, floodCloseAfter: 1000 }).burst(25).answered).toBe(20);
  });

  it('closes the connection after floodCloseAfter limited messages', () => {
    const { burst, socket } = openSession({ messagesPerSecond: 10, messagesBurst: 20, floodCloseAfter: 5 });
    expect(burst(24)).toEqual({ answered: 20, limited: 4 });
    expect(socket.destroyed).toBe(false);
    const before = socket.written.length;
    socket.emit('data', Buffer.from('{"id":999,"method":"client.get_version","params":[]}\n'));
    expect(socket.written.length).toBe(before); // the fifth is not answered: the connection closes
  });

  it('without messagesPerSecond nothing is limited', () => {
    expect(openSession({}).burst(500)).toEqual({ answered: 500, limited: 0 });
  });
});
