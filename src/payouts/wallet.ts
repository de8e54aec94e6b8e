/** The few litecoind wallet calls the payment sender needs, in litoshis. */
import { type RpcClient, RpcError } from '../chain/rpc.js';
import { litoshisToLtc, ltcToLitoshis } from './amounts.js';

export interface WalletSend {
  txid: string;
  /** Outputs of the send as the wallet lists them (address → litoshis, summed per address). */
  outputs: Map<string, bigint>;
  /** Litoshis, >= 0. */
  fee: bigint;
  confirmations: number;
  /** Wallet time of the transaction (unix seconds). */
  time: number;
}

export interface PayoutWallet {
  /** Litoshis the wallet can spend now (getbalances mine.trusted). */
  spendableBalance(): Promise<bigint>;
  /** Whether litecoind itself accepts the address (validateaddress). */
  isValidAddress(address: string): Promise<boolean>;
  /** One sendmany; the label goes into the transaction's comment. The pool pays the fee. Returns the txid. */
  sendMany(amounts: ReadonlyMap<string, bigint>, label: string): Promise<string>;
  /** The wallet's send carrying this comment, or null. Searches back to `since` (unix seconds). */
  findSendByComment(label: string, since: number): Promise<WalletSend | null>;
  getSend(txid: string): Promise<WalletSend>;
}

interface ListTransactionsEntry {
  category: string;
  txid?: string;
  comment?: string;
  time: number;
  timereceived?: number;
}

interface GetTransactionResult {
  txid: string;
  fee?: number;
  confirmations: number;
  time: number;
  details: Array<{ address?: string; category: string; amount: number }>;
}

const PAGE = 200;

/** `http://user:pass@host:port` + `/wallet/<name>` when a wallet name is given. */
export function walletRpcUrl(baseUrl: string, walletName: string | undefined): string {
  if (!walletName) return baseUrl;
  const url = new URL(baseUrl);
  url.pathname = `/wallet/${encodeURIComponent(walletName)}`;
  return url.toString();
}

export class RpcPayoutWallet implements PayoutWallet {
  /** legacySendMany: Bitcoin Core 0.14-era nodes (Dogecoin Core 1.14) take sendmany's first four parameters only. */
  constructor(private readonly rpc: RpcClient, private readonly o: { legacySendMany?: boolean } = {}) {}

  async spendableBalance(): Promise<bigint> {
    try {
      const balances = await this.rpc.call<{ mine: { trusted: number } }>('getbalances');
      return ltcToLitoshis(balances.mine.trusted);
    } catch (error) {
      // Older nodes without getbalances.
      if (!(error instanceof RpcError && error.code === -32601)) throw error;
      return ltcToLitoshis(await this.rpc.call<number>('getbalance', ['*', 1]));
    }
  }

  async isValidAddress(address: string): Promise<boolean> {
    const result = await this.rpc.call<{ isvalid: boolean }>('validateaddress', [address]);
    return result.isvalid === true;
  }

  async sendMany(amounts: ReadonlyMap<string, bigint>, label: string): Promise<string> {
    const outputs: Record<string, string> = {};
    for (const [address, amount] of amounts) outputs[address] = litoshisToLtc(amount);
    // minconf 1; comment = label; no subtractfeefrom (the pool pays the fee); not replaceable, so the txid stays.
    const params = this.o.legacySendMany ? ['', outputs, 1, label] : ['', outputs, 1, label, [], false];
    return this.rpc.call<string>('sendmany', params, { timeoutMs: 120_000 });
  }

  async findSendByComment(label: string, since: number): Promise<WalletSend | null> {
    for (let skip = 0; ; skip += PAGE) {
      const page = await this.rpc.call<ListTransactionsEntry[]>('listtransactions', ['*', PAGE, skip, true]);
      if (page.length === 0) return null;
      const hit = page.find((e) => e.category === 'send' && e.comment === label && e.txid);
      if (hit) return this.getSend(hit.txid!);
      // listtransactions pages newest first (the page itself is oldest first).
      const oldest = Math.min(...page.map((e) => e.timereceived ?? e.time));
      if (page.length < PAGE || oldest < since) return null;
    }
  }

  async getSend(txid: string): Promise<WalletSend> {
    const tx = await this.rpc.call<GetTransactionResult>('gettransaction', [txid, true]);
    const outputs = new Map<string, bigint>();
    for (const d of tx.details) {
      if (d.category !== 'send' || !d.address) continue;
      outputs.set(d.address, (outputs.get(d.address) ?? 0n) + -ltcToLitoshis(d.amount));
    }
    const fee = tx.fee === undefined ? 0n : -ltcToLitoshis(tx.fee);
    return { txid: tx.txid, outputs, fee, confirmations: tx.confirmations, time: tx.time };
  }
}
