import { auxCommitment, buildAuxTree, type AuxBlock } from './auxpow.js';
import { fromHex, isHex, reversed } from './bytes.js';
import type { AuxChainParams } from './chains.js';
import { buildCoinbaseParts, type CoinbaseOutput } from './coinbase.js';
import { bitsToTarget } from './difficulty.js';
import { swapWords } from './header.js';
import { merkleBranch } from './merkle.js';
import type { BlockTemplate } from './template.js';

export interface JobOptions {
  id: string;
  payoutScript: Buffer;
  poolTag: Buffer;
  extranonce1Size: number;
  extranonce2Size: number;
  createdAt: number;
  /** Current aux work of the merge-mined chains (their commitment goes into the coinbase). */
  aux?: AuxWork[];
}

/** One aux chain's current block to merge-mine. */
export interface AuxWork {
  chain: AuxChainParams;
  block: AuxBlock;
}

/** An aux chain in a job: its block and where it sits in the job's aux tree. */
export interface JobAuxChain extends AuxWork {
  slot: number;
  branch: Buffer[];
}

/** Everything needed to hand out one piece of work and to judge the shares submitted against it. */
export interface Job {
  id: string;
  height: number;
  template: BlockTemplate;
  prevHashInternal: Buffer;
  version: number;
  nbits: number;
  curtime: number;
  mintime: number;
  coinb1: Buffer;
  coinb2: Buffer;
  merkleBranch: Buffer[];
  networkTarget: bigint;
  reward: bigint;
  createdAt: number;
  /** Aux chains this job merge-mines (empty without merged mining). */
  aux: JobAuxChain[];
}

export function buildJob(template: BlockTemplate, options: JobOptions): Job {
  const outputs: CoinbaseOutput[] = [{ value: BigInt(template.coinbasevalue), script: options.payoutScript }];
  if (template.default_witness_commitment) {
    outputs.push({ value: 0n, script: fromHex(template.default_witness_commitment) });
  }
  const auxWork = options.aux ?? [];
  const tree = auxWork.length > 0 ? buildAuxTree(auxWork.map((w) => ({ chainId: w.chain.chainId, hash: w.block.hash }))) : undefined;
  const { coinb1, coinb2 } = buildCoinbaseParts({
    height: template.height,
    extranonceSize: options.extranonce1Size + options.extranonce2Size,
    poolTag: options.poolTag,
    outputs,
    auxCommitment: tree ? auxCommitment(tree) : undefined,
  });
  const aux = auxWork.map((w, i) => ({ ...w, slot: tree!.entries[i].slot, branch: tree!.entries[i].branch }));
  // The merkle tree is always over txids: the HogEx `data` carries an MWEB flag byte, so sha256d(data) matches nothing.
  const txids = template.transactions.map((tx) => reversed(fromHex(tx.txid)));
  return {
    id: options.id,
    height: template.height,
    template,
    prevHashInternal: reversed(fromHex(template.previousblockhash)),
    version: template.version >>> 0,
    nbits: parseInt(template.bits, 16) >>> 0,
    curtime: template.curtime,
    mintime: template.mintime,
    coinb1,
    coinb2,
    merkleBranch: merkleBranch(txids),
    networkTarget: bitsToTarget(template.bits),
    reward: BigInt(template.coinbasevalue),
    createdAt: options.createdAt,
    aux,
  };
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** mining.notify params: [job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits, ntime, clean_jobs]. */
export function notifyParams(job: Job, cleanJobs: boolean): [string, string, string, string, string[], string, string, string, boolean] {
  return [
    job.id,
    swapWords(job.prevHashInternal).toString('hex'),
    job.coinb1.toString('hex'),
    job.coinb2.toString('hex'),
    job.merkleBranch.map((h) => h.toString('hex')),
    hex8(job.version),
    hex8(job.nbits),
    hex8(job.curtime),
    cleanJobs,
  ];
}

/** What a miner learns from mining.notify: enough to build headers. */
export interface NotifiedWork extends Pick<Job, 'id' | 'prevHashInternal' | 'coinb1' | 'coinb2' | 'merkleBranch' | 'version' | 'nbits' | 'curtime'> {
  cleanJobs: boolean;
}

export function parseNotify(params: unknown): NotifiedWork {
  if (!Array.isArray(params) || params.length < 9) throw new Error('mining.notify needs 9 params');
  const [id, prevhash, coinb1, coinb2, branch, version, nbits, ntime, clean] = params as unknown[];
  const hex = (v: unknown, bytes?: number): string => {
    if (typeof v !== 'string' || !isHex(v, bytes)) throw new Error(`mining.notify: bad hex field ${String(v).slice(0, 16)}`);
    return v;
  };
  if (typeof id !== 'string' || !Array.isArray(branch)) throw new Error('mining.notify: bad job id or merkle branch');
  return {
    id,
    prevHashInternal: swapWords(Buffer.from(hex(prevhash, 32), 'hex')),
    coinb1: Buffer.from(hex(coinb1), 'hex'),
    coinb2: Buffer.from(hex(coinb2), 'hex'),
    merkleBranch: branch.map((h) => Buffer.from(hex(h, 32), 'hex')),
    version: parseInt(hex(version, 4), 16) >>> 0,
    nbits: parseInt(hex(nbits, 4), 16) >>> 0,
    curtime: parseInt(hex(ntime, 4), 16) >>> 0,
    cleanJobs: clean === true,
  };
}
