import { notifyParams, type Job } from '../work/job.js';
import { jobTransactionsHex } from '../work/transactions.js';
import { encodeNotification } from './codec.js';

/** The clean notify line of a job, encoded once for every miner that authorizes while it is current. */
const cleanNotifyLines = new WeakMap<Job, string>();
export function cleanNotifyLine(job: Job): string {
  let line = cleanNotifyLines.get(job);
  if (line === undefined) {
    line = encodeNotification('mining.notify', notifyParams(job, true));
    cleanNotifyLines.set(job, line);
  }
  return line;
}

/** The JSON array of a job's transactions, encoded once for every miner that asks. */
const transactionsLines = new WeakMap<Job, string>();
export function transactionsJson(job: Job): string {
  let json = transactionsLines.get(job);
  if (json === undefined) {
    json = JSON.stringify(jobTransactionsHex(job));
    transactionsLines.set(job, json);
  }
  return json;
}
