import { EventEmitter } from 'node:events';
import { buildJob, type AuxWork, type Job } from '../work/job.js';
import type { BlockTemplate } from '../work/template.js';

export interface JobManagerOptions {
  payoutScript: Buffer;
  poolTag: Buffer;
  extranonce1Size: number;
  extranonce2Size: number;
  maxJobs: number;
  staleGraceMs: number;
  rebroadcastMs: number;
  now?: () => number;
}

export type JobLookup = { job: Job; state: 'current' | 'previous-block-grace' } | { job: Job; state: 'stale' } | undefined;

interface TrackedJob {
  job: Job;
  /** Set when a newer block made this job's block stale; shares still count until then. */
  staleAt?: number;
}

/** What makes two templates the same work: everything but curtime, mintime and longpollid. */
const identities = new WeakMap<BlockTemplate, string>();
export function templateIdentity(template: BlockTemplate): string {
  let identity = identities.get(template);
  if (identity === undefined) {
    identity = [
      template.previousblockhash,
      template.height,
      template.version,
      template.bits,
      template.coinbasevalue,
      template.default_witness_commitment ?? '',
      template.mweb ?? '',
      template.transactions.map((tx) => tx.hash ?? tx.txid).join(','),
    ].join('|');
    identities.set(template, identity);
  }
  return identity;
}

/**
 * Turns templates into jobs and remembers the recent ones, so a share is judged against the work it
 * was made for. Emits 'job' (job, cleanJobs) for every job to broadcast.
 */
export class JobManager extends EventEmitter {
  private readonly jobs = new Map<string, TrackedJob>();
  private nextId = Math.floor(Math.random() * 0xffff);
  private currentJob: Job | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  /** Current aux work per chain name; a chain whose daemon stopped answering is absent. */
  private readonly auxWork = new Map<string, AuxWork>();

  constructor(private readonly options: JobManagerOptions) {
    super();
    this.now = options.now ?? Date.now;
  }

  get current(): Job | undefined {
    return this.currentJob;
  }

  /**
   * A template from litecoind: a new job, clean when the previous block changed. A template with the same
   * content as the current job's (only curtime or longpollid differ: the refresh after a found block racing the
   * long poll, a periodic refresh of an unchanged mempool) is no new work: it returns the current job and
   * nothing is broadcast, so miners restart their work once per template. (Fresh ntime comes from rebroadcast.)
   */
  onTemplate(template: BlockTemplate): Job {
    const now = this.now();
    if (this.currentJob && templateIdentity(this.currentJob.template) === templateIdentity(template)) return this.currentJob;
    const newBlock = !this.currentJob || this.currentJob.template.previousblockhash !== template.previousblockhash;
    if (newBlock) {
      for (const tracked of this.jobs.values()) tracked.staleAt ??= now + this.options.staleGraceMs;
    }
    return this.publish(template, newBlock, now);
  }

  /**
   * An aux chain's work changed (new aux tip, refreshed block) or went away (undefined: its daemon stopped
   * answering). Miners get a new job at once, clean_jobs=false: the old jobs stay valid for Litecoin.
   */
  onAuxWork(chain: string, work: AuxWork | undefined): Job | undefined {
    const before = this.auxWork.get(chain);
    if (work) this.auxWork.set(chain, work);
    else this.auxWork.delete(chain);
    if (before?.block.hash === work?.block.hash) return undefined;
    if (!this.currentJob) return undefined;
    const now = this.now();
    const template = { ...this.currentJob.template, curtime: Math.max(this.currentJob.template.curtime, Math.floor(now / 1000)) };
    return this.publish(template, false, now);
  }

  /** True while `hash` is the chain's current aux work (a share on older aux work would only make a stale aux block). */
  isCurrentAux(chain: string, hash: string): boolean {
    return this.auxWork.get(chain)?.block.hash === hash;
  }

  /** Fresh work from the current template (new ntime), so miners never sit on one job for long. */
  rebroadcast(): Job | undefined {
    if (!this.currentJob) return undefined;
    const now = this.now();
    const template = { ...this.currentJob.template, curtime: Math.max(this.currentJob.template.curtime, Math.floor(now / 1000)) };
    return this.publish(template, false, now);
  }

  startRebroadcastTimer(): void {
    this.stopRebroadcastTimer();
    const period = Math.max(1000, Math.floor(this.options.rebroadcastMs / 4));
    this.timer = setInterval(() => {
      if (this.currentJob && this.now() - this.currentJob.createdAt >= this.options.rebroadcastMs) this.rebroadcast();
    }, period);
    this.timer.unref();
  }

  stopRebroadcastTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  lookup(jobId: string): JobLookup {
    const tracked = this.jobs.get(jobId);
    if (!tracked) return undefined;
    if (tracked.staleAt === undefined) return { job: tracked.job, state: 'current' };
    return this.now() <= tracked.staleAt ? { job: tracked.job, state: 'previous-block-grace' } : { job: tracked.job, state: 'stale' };
  }

  private publish(template: BlockTemplate, cleanJobs: boolean, now: number): Job {
    this.nextId = (this.nextId + 1) % 0x100000000;
    const job = buildJob(template, {
      id: this.nextId.toString(16),
      payoutScript: this.options.payoutScript,
      poolTag: this.options.poolTag,
      extranonce1Size: this.options.extranonce1Size,
      extranonce2Size: this.options.extranonce2Size,
      createdAt: now,
      aux: [...this.auxWork.values()],
    });
    this.jobs.set(job.id, { job });
    while (this.jobs.size > this.options.maxJobs) {
      const oldest = this.jobs.keys().next().value as string;
      this.jobs.delete(oldest);
    }
    this.currentJob = job;
    this.emit('job', job, cleanJobs);
    return job;
  }
}
