/** The subset of litecoind's getblocktemplate result that ltcpool uses. */
export interface TemplateTransaction {
  data: string;
  txid: string;
  hash: string;
  fee: number;
  weight?: number;
  depends?: number[];
  sigops?: number;
}

export interface BlockTemplate {
  version: number;
  previousblockhash: string;
  transactions: TemplateTransaction[];
  coinbasevalue: number;
  longpollid?: string;
  target: string;
  mintime: number;
  curtime: number;
  bits: string;
  height: number;
  default_witness_commitment?: string;
  mweb?: string;
  rules: string[];
  coinbaseaux?: Record<string, string>;
}
