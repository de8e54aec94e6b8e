import type { Logger } from 'pino';
import type { AuthorizeRejectReason } from '../ops/metrics.js';
import type { NetworkName } from '../work/address.js';
import type { AuxChainParams } from '../work/chains.js';
import type { Job } from '../work/job.js';
import type { DeviceClass } from './device-classes.js';
import type { Session } from './session.js';
import type { ShareProcessor, SubmitOutcome } from './share-processor.js';
import type { VardiffOptions } from './vardiff.js';

export interface SessionSettings {
  network: NetworkName;
  extranonce2Size: number;
  startDifficulty: number;
  /** The port's floor: no difficulty on this connection goes below it (a d=1e-300 would make every nonce a share). */
  minDifficulty?: number;
  vardiff: VardiffOptions & { enabled: boolean };
  versionRollingMask: number;
  maxLineBytes: number;
  maxWorkersPerConnection: number;
  maxJobsRemembered: number;
  /** Token bucket over every message received; undefined = no rate limit. */
  messagesPerSecond?: number;
  messagesBurst?: number;
  /** Over-rate messages answered with an error before the connection is closed. */
  floodCloseAfter?: number;
  /** Output queued for a client that doesn't read: past this the connection is closed. */
  maxWriteBufferBytes?: number;
  /** Consecutive rejected shares: resend work, then client.reconnect, then close. */
  rejectEscalation?: RejectEscalation;
  /** User-agent classes with their difficulty range (first match wins). */
  deviceClasses?: readonly DeviceClass[];
  /** Merge-mined chains: the password option `<chain>=<address>` (or an alias: doge=) is checked against these. */
  auxChains?: readonly AuxChainParams[];
}

export interface RejectEscalation {
  resendWorkAfter: number;
  reconnectAfter: number;
  closeAfter: number;
}

/** Why a session misbehaved; the server turns these into ban score. */
export type ProtocolErrorReason = 'malformed' | 'line-too-long' | 'flood' | 'slow-reader' | 'too-many-pending';

export interface SessionHooks {
  currentJob(): Job | undefined;
  /** A job the pool still remembers, by id (for mining.get_transactions). */
  findJob?(jobId: string): Job | undefined;
  shares: ShareProcessor;
  /** A worker name new to this session was authorized (re-authorizing the same name doesn't call this). */
  onWorkerAdded(session: Session, address: string): void;
  /** The miner gave aux chain addresses in its password ([chain, address] pairs, already checked). */
  onAuxAddresses?(session: Session, address: string, entries: Array<[string, string]>): void;
  onSubmitResult(session: Session, outcome: SubmitOutcome): void;
  onProtocolError(session: Session, reason: ProtocolErrorReason): void;
  /** mining.authorize refused (counted and logged by the server: failed logins are otherwise invisible). */
  onAuthorizeRejected?(session: Session, reason: AuthorizeRejectReason, username: string, detail: string): void;
  /** The first bytes were a TLS record on a plain port (a client probing for TLS): closed quietly, no score. */
  onTlsProbe?(session: Session): void;
  onClose(session: Session): void;
}

/** What every session on one port shares: one object, so each session holds one pointer for all of it. */
export interface SessionEnvironment {
  settings: SessionSettings;
  hooks: SessionHooks;
  logger: Logger;
}

/** Settings' burst size for the message rate limit. */
export function burstOf(settings: SessionSettings): number {
  return settings.messagesBurst ?? Math.max(20, (settings.messagesPerSecond ?? 0) * 2);
}
