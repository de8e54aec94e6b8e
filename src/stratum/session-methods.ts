import type { AuthorizeRejectReason } from '../ops/metrics.js';
import { parseAuxAddressOptions } from '../work/chains.js';
import { SCRYPT_DIFF1, targetToDifficulty } from '../work/difficulty.js';
import { ERROR_CODES, encodeNotification, encodeResponse, type RequestId, type StratumError, type StratumRequest } from './codec.js';
import { classifyUserAgent } from './device-classes.js';
import { transactionsJson } from './job-lines.js';
import { clock } from './session-clock.js';
import type { Session } from './session.js';
import { internUserAgent } from './shared-strings.js';
import type { SubmitOutcome } from './share-processor.js';
import { vardiffOnShare } from './vardiff.js';
import { checkAddress, isAddressOfAnotherNetwork } from './worker-identity.js';

export const POOL_VERSION = 'ltcpool/0.1.0';

/** An answer: ready, or waiting for a share being hashed. */
export type Reply = string | Promise<string>;

/** The Stratum methods a session answers: one request in, its encoded answer (plus any notifications) out. */
export function handleRequest(session: Session, request: StratumRequest): Reply {
  const { id, method, params } = request;
  switch (method) {
    case 'mining.subscribe':
      return onSubscribe(session, id, params);
    case 'mining.authorize':
      return onAuthorize(session, id, params);
    case 'mining.submit':
      return onSubmit(session, id, params);
    case 'mining.configure':
      return onConfigure(session, id, params);
    case 'mining.extranonce.subscribe':
      session.subscribeExtranonce();
      return encodeResponse(id, true);
    case 'mining.suggest_difficulty':
      return onSuggestDifficulty(session, id, params);
    case 'mining.suggest_target':
      return onSuggestTarget(session, id, params);
    case 'mining.multi_version':
      return encodeResponse(id, true);
    case 'mining.get_transactions':
      return onGetTransactions(session, id, params);
    case 'client.get_version':
      return encodeResponse(id, POOL_VERSION);
    default:
      return encodeResponse(id, null, [ERROR_CODES.other, `Unknown method ${method.slice(0, 64)}`, null]);
  }
}

function onSubscribe(session: Session, id: RequestId, params: unknown[]): string {
  if (typeof params[0] === 'string') {
    session.userAgent = internUserAgent(params[0].slice(0, 80));
    session.deviceClassIndex = classifyUserAgent(session.userAgent, session.env.settings.deviceClasses);
    if (session.deviceClassIndex !== -1) session.enterDeviceClass();
  }
  session.markSubscribed();
  const e1 = session.extranonce1Hex;
  return encodeResponse(id, [[['mining.set_difficulty', e1], ['mining.notify', e1]], e1, session.env.settings.extranonce2Size]);
}

function onAuthorize(session: Session, id: RequestId, params: unknown[]): string {
  const { settings, hooks } = session.env;
  const [username, password] = params;
  const refuse = (reason: AuthorizeRejectReason, message: string): string => {
    hooks.onAuthorizeRejected?.(session, reason, typeof username === 'string' ? username.slice(0, 200) : String(username).slice(0, 200), message);
    return encodeResponse(id, false, [ERROR_CODES.unauthorized, message, null]);
  };
  if (typeof username !== 'string' || username.length === 0 || username.length > 200) {
    return refuse('bad-username', 'username must be a Litecoin address, optionally address.worker');
  }
  const dot = username.indexOf('.');
  const givenAddress = dot === -1 ? username : username.slice(0, dot);
  const worker = dot === -1 ? '' : username.slice(dot + 1);
  if (!/^[\w\-.:@]{0,64}$/.test(worker)) {
    return refuse('bad-worker-name', 'worker name may hold letters, digits and - _ . : @ (at most 64)');
  }
  let address: string;
  try {
    address = checkAddress(givenAddress, settings.network);
  } catch (error) {
    const message = (error as Error).message;
    return refuse(isAddressOfAnotherNetwork(givenAddress, settings.network) ? 'wrong-network' : 'bad-address', message);
  }
  let auxAddresses: Array<[string, string]> | undefined;
  if (settings.auxChains?.length && typeof password === 'string') {
    const parsed = parseAuxAddressOptions(password, settings.auxChains);
    if ('error' in parsed) return encodeResponse(id, false, [ERROR_CODES.unauthorized, parsed.error, null]);
    if (parsed.entries.length > 0) auxAddresses = parsed.entries;
  }
  const first = !session.authorized;
  if (session.workerFor(username) === undefined) {
    if (session.workerCount >= settings.maxWorkersPerConnection) {
      return refuse('too-many-workers', 'too many workers on this connection');
    }
    session.addWorker(username, address, worker);
    hooks.onWorkerAdded(session, address);
  }
  if (auxAddresses) hooks.onAuxAddresses?.(session, address, auxAddresses);
  let out = encodeResponse(id, true);
  if (first) {
    const fixed = typeof password === 'string' ? parseFixedDifficulty(password) : undefined;
    if (fixed !== undefined) session.fixDifficulty(fixed);
    // set_difficulty goes before the notify it applies to.
    out += encodeNotification('mining.set_difficulty', [session.difficulty]);
    if (session.subscribed) {
      const job = hooks.currentJob();
      if (job) {
        out += session.jobLine(job, true);
      }
    }
  }
  return out;
}

/**
 * The transactions of a job this connection received (the newest one when no id is given), in the serialization
 * whose sha256d is the txid the merkle branch was built from: bfgminer rebuilds the branch from them.
 */
function onGetTransactions(session: Session, id: RequestId, params: unknown[]): string {
  const sent = session.sentJobIds;
  const jobId = typeof params[0] === 'string' ? params[0] : sent?.[sent.length - 1];
  const job = jobId !== undefined && sent?.includes(jobId) ? session.env.hooks.findJob?.(jobId) : undefined;
  if (job === undefined) return encodeResponse(id, null, [ERROR_CODES.jobNotFound, 'Job not found', null]);
  return `{"id":${JSON.stringify(id)},"result":${transactionsJson(job)},"error":null}\n`;
}

function onConfigure(session: Session, id: RequestId, params: unknown[]): string {
  const extensions = Array.isArray(params[0]) ? params[0] : [];
  const options = typeof params[1] === 'object' && params[1] !== null ? (params[1] as Record<string, unknown>) : {};
  const result: Record<string, unknown> = {};
  for (const extension of extensions) {
    if (extension === 'version-rolling') {
      const requested = typeof options['version-rolling.mask'] === 'string' ? parseInt(options['version-rolling.mask'] as string, 16) : 0xffffffff;
      session.versionMask = (session.env.settings.versionRollingMask & (Number.isNaN(requested) ? 0 : requested)) >>> 0;
      result['version-rolling'] = session.versionMask !== 0;
      result['version-rolling.mask'] = session.versionMask.toString(16).padStart(8, '0');
    } else if (extension === 'minimum-difficulty') {
      result['minimum-difficulty'] = false;
    } else if (extension === 'subscribe-extranonce') {
      session.subscribeExtranonce();
      result['subscribe-extranonce'] = true;
    } else if (typeof extension === 'string') {
      result[extension] = false;
    }
  }
  return encodeResponse(id, result);
}

function onSuggestDifficulty(session: Session, id: RequestId, params: unknown[]): string {
  const suggested = Number(params[0]);
  if (!Number.isFinite(suggested) || suggested <= 0) {
    return encodeResponse(id, false, [ERROR_CODES.other, 'difficulty must be a positive number', null]);
  }
  session.applySuggestedDifficulty(suggested);
  return encodeResponse(id, true);
}

/**
 * `mining.suggest_target` (bfgminer sends it, as a notification, before subscribing): a 256-bit target in
 * hex. A target is absolute, so it becomes the share difficulty whose target it is: 0xffff·2^224 / target
 * (the Scrypt diff1 the pool's difficulties use), then treated like `mining.suggest_difficulty`.
 */
function onSuggestTarget(session: Session, id: RequestId, params: unknown[]): string {
  const difficulty = typeof params[0] === 'string' ? suggestedTargetDifficulty(params[0]) : undefined;
  if (difficulty === undefined) {
    return encodeResponse(id, false, [ERROR_CODES.other, 'target must be up to 64 hex digits, above zero', null]);
  }
  session.applySuggestedDifficulty(difficulty);
  return encodeResponse(id, true);
}

async function onSubmit(session: Session, id: RequestId, params: unknown[]): Promise<string> {
  const { settings, hooks, logger } = session.env;
  let outcome: SubmitOutcome;
  try {
    outcome = await hooks.shares.submit(session, params);
  } catch (error) {
    logger.error({ err: error, session: session.id }, 'share processing failed');
    return encodeResponse(id, null, [ERROR_CODES.other, 'Internal error', null]);
  }
  hooks.onSubmitResult(session, outcome);
  if (!outcome.accepted) {
    const error: StratumError = [outcome.code, outcome.message, null];
    return encodeResponse(id, null, error) + escalateRejects(session);
  }
  const now = clock();
  session.shareAccepted(now);
  let out = encodeResponse(id, true);
  if (settings.vardiff.enabled && !session.hasFixedDifficulty) {
    const retarget = vardiffOnShare(session, settings.vardiff, now, session.difficulty);
    const next = retarget === undefined ? undefined : session.clampDifficulty(retarget);
    if (next !== undefined && next !== session.difficulty) {
      session.difficulty = next;
      out += encodeNotification('mining.set_difficulty', [next]);
    }
  }
  return out;
}

/**
 * A miner sending only rejected shares is usually stuck on old work, and many farms share one NAT
 * address, so it is never banned: it gets fresh work, then is asked to reconnect, then closed.
 */
function escalateRejects(session: Session): string {
  const policy = session.env.settings.rejectEscalation;
  if (!policy) return '';
  session.consecutiveRejects++;
  const n = session.consecutiveRejects;
  if (n === policy.resendWorkAfter) {
    const job = session.env.hooks.currentJob();
    if (job && session.subscribed && session.authorized) {
      session.env.logger.debug({ session: session.id, ip: session.ip, rejects: n }, 'only rejected shares: resending work');
      return session.jobLine(job, true);
    }
  }
  if (n === policy.reconnectAfter) {
    session.env.logger.debug({ session: session.id, ip: session.ip, rejects: n }, 'only rejected shares: asking to reconnect');
    return encodeNotification('client.reconnect', []);
  }
  if (n >= policy.closeAfter) session.closeAfterReplies();
  return '';
}

/** The share difficulty of a suggested target (hex, optional 0x), or undefined when it is not one. */
export function suggestedTargetDifficulty(hex: string): number | undefined {
  const digits = hex.startsWith('0x') || hex.startsWith('0X') ? hex.slice(2) : hex;
  if (!/^[0-9a-fA-F]{1,64}$/.test(digits)) return undefined;
  const target = BigInt(`0x${digits}`);
  if (target === 0n) return undefined;
  return targetToDifficulty(target, SCRYPT_DIFF1);
}

/** `d=0.5` (alone or among comma-separated options) asks for a fixed difficulty. */
export function parseFixedDifficulty(password: string): number | undefined {
  for (const part of password.split(/[,;\s]/)) {
    const match = /^d=(\d+(?:\.\d+)?(?:e-?\d+)?)$/i.exec(part.trim());
    if (match) {
      const value = Number(match[1]);
      if (Number.isFinite(value) && value > 0) return value;
    }
  }
  return undefined;
}
