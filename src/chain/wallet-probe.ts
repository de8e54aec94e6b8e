/**
 * Least privilege: the Stratum server faces the internet and must not hold credentials that can spend. At start
 * it asks litecoind for a harmless read-only wallet call and expects a refusal.
 */
import type { Logger } from 'pino';
import { RpcError, RpcTransportError, type RpcClient } from './rpc.js';

/**
 * Every RPC method the pool's own user needs (serve, and the chain side of payouts), for `-rpcwhitelist`.
 * Keep in sync with README "Least privilege"; test/integration/least-privilege.test.ts mines with exactly these.
 */
export const POOL_RPC_METHODS = [
  'getblocktemplate',
  'submitblock',
  'getbestblockhash',
  'getblockcount',
  'getblockhash',
  'getblockheader',
  'getblock',
  'getmininginfo',
  'getnetworkinfo',
  'getblockchaininfo',
] as const;

export type WalletProbeResult =
  /** litecoind refused the call for this user (HTTP 403: -rpcwhitelist), or has no wallet at all (-disablewallet). */
  | { status: 'refused'; detail: string }
  /** The credentials reach the wallet: getwalletinfo answered, or failed only for want of a loaded wallet. */
  | { status: 'wallet-access'; detail: string }
  /** The probe itself failed (node unreachable, timeout): nothing is known. */
  | { status: 'unknown'; detail: string };

/** litecoind error codes that mean "wallet methods are callable, just no (single) wallet loaded right now". */
const WALLET_NOT_LOADED = new Set([-18, -19]);

export async function probeWalletAccess(rpc: Pick<RpcClient, 'call'>): Promise<WalletProbeResult> {
  try {
    await rpc.call('getwalletinfo', [], { timeoutMs: 5_000 });
    return { status: 'wallet-access', detail: 'getwalletinfo answered' };
  } catch (error) {
    if (error instanceof RpcTransportError && error.status === 403) return { status: 'refused', detail: 'getwalletinfo refused with HTTP 403 (-rpcwhitelist)' };
    if (error instanceof RpcError && error.code === -32601) return { status: 'refused', detail: 'litecoind has no wallet methods (-disablewallet)' };
    if (error instanceof RpcError && WALLET_NOT_LOADED.has(error.code)) {
      return { status: 'wallet-access', detail: `getwalletinfo reached the wallet code (${error.code} ${error.rpcMessage}): this user could load and spend a wallet` };
    }
    return { status: 'unknown', detail: error instanceof Error ? error.message : String(error) };
  }
}

export const WALLET_ACCESS_FIX =
  'give the pool its own RPC user that cannot call wallet methods: in litecoin.conf ' +
  '`rpcauth=<pooluser>:<salt>$<hash>` (share/rpcauth/rpcauth.py) and ' +
  `\`rpcwhitelist=<pooluser>:${POOL_RPC_METHODS.join(',')}\` plus \`rpcwhitelistdefault=0\`; ` +
  'set node.rpcUrl (LTCPOOL_RPC_URL) to that user and keep the wallet user for payouts only ' +
  '(payouts.walletRpcUrl / LTCPOOL_WALLET_RPC_URL). See README "Least privilege".';

/** Probes and logs: a loud warning when the credentials can reach the wallet. Never throws. */
export async function checkPoolCannotSpend(rpc: Pick<RpcClient, 'call' | 'endpoint'>, logger: Logger): Promise<WalletProbeResult> {
  const result = await probeWalletAccess(rpc);
  if (result.status === 'wallet-access') {
    logger.warn(
      { rpc: rpc.endpoint, probe: result.detail },
      `SECURITY WARNING: the pool's RPC credentials can call wallet methods on ${rpc.endpoint} (${result.detail}); ` +
        `anyone who takes over this internet-facing process can spend the wallet. Fix: ${WALLET_ACCESS_FIX}`,
    );
  } else if (result.status === 'refused') {
    logger.info({ rpc: rpc.endpoint, probe: result.detail }, 'least privilege: the pool\'s RPC user cannot call wallet methods');
  } else {
    logger.warn({ rpc: rpc.endpoint, probe: result.detail }, 'could not check whether the pool\'s RPC user can call wallet methods');
  }
  return result;
}
