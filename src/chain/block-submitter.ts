import { type RpcClient, RpcError, RpcTransportError } from './rpc.js';

export interface SubmitResult { accepted: boolean; reason: string | null /* null when accepted; BIP22 string or RPC error */ }

export interface SubmitOptions {
  /** Extra attempts after a transport failure (node unreachable, timeout, HTTP 5xx without JSON). Default 5. */
  retries?: number;
  /** Delay before the first retry; doubles each retry (so a restarting litecoind gets a few seconds). Default 500 ms. */
  retryDelayMs?: number;
  /** Per-attempt timeout; submitblock validates the whole block, so allow more than the default call timeout. Default 30 s. */
  timeoutMs?: number;
}

/**
 * Submit a block. Resolves with the node's verdict: accepted (`submitblock` answered null), a BIP22 reason
 * ('duplicate', 'inconclusive', 'high-hash', ...), or `rpc <code>: <message>` for a JSON-RPC error
 * (e.g. 'rpc -22: Block decode failed'). Node verdicts are never retried.
 * Only RpcTransportError is retried; when every attempt failed it rejects with an RpcTransportError
 * (the block's fate is unknown: keep it and submit again later).
 */
export async function submitBlock(rpc: RpcClient, hex: string, o: SubmitOptions = {}): Promise<SubmitResult> {
  const retries = o.retries ?? 5;
  const retryDelayMs = o.retryDelayMs ?? 500;
  const timeoutMs = o.timeoutMs ?? 30_000;
  for (let attempt = 0; ; attempt++) {
    try {
      const answer = await rpc.call<unknown>('submitblock', [hex], { timeoutMs });
      if (answer === null || answer === undefined) return { accepted: true, reason: null };
      return { accepted: false, reason: typeof answer === 'string' ? answer : JSON.stringify(answer) };
    } catch (e) {
      if (e instanceof RpcError) return { accepted: false, reason: `rpc ${e.code}: ${e.rpcMessage}` };
      if (!(e instanceof RpcTransportError)) throw e;
      if (attempt >= retries) {
        throw new RpcTransportError('submitblock', `gave up after ${attempt + 1} attempts: ${e.message.replace(/^rpc submitblock: /, '')}`, { status: e.status, code: e.code, cause: e });
      }
      await new Promise((resolve) => setTimeout(resolve, retryDelayMs * 2 ** attempt));
    }
  }
}

/**
 * True when the node has the block: accepted now (null) or already known ('duplicate', e.g. after a retry
 * whose first attempt did get through). 'duplicate-invalid', 'inconclusive' and every other reason are false.
 */
export function isAcceptedResult(r: SubmitResult | string | null): boolean {
  const reason = r !== null && typeof r === 'object' ? (r.accepted ? null : r.reason) : r;
  return reason === null || reason === 'duplicate';
}
