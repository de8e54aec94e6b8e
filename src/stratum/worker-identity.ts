import { decodeAddress, type NetworkName } from '../work/address.js';
import { flatCopy } from './shared-strings.js';

export interface WorkerIdentity {
  address: string;
  worker: string;
}

/** Payout addresses already decoded (farms authorize thousands of workers to one address), one copy each. Bounded. */
const knownAddresses = new Map<string, string>();

/** A refused address that another Litecoin network would take (a mainnet address on a testnet pool). */
export function isAddressOfAnotherNetwork(address: string, network: NetworkName): boolean {
  return (['mainnet', 'testnet', 'regtest'] as const).some((other) => {
    if (other === network) return false;
    try {
      decodeAddress(address, other);
      return true;
    } catch {
      return false;
    }
  });
}

/** The payout address as one shared flat copy; throws (naming the reason) when it is not an address of `network`. */
export function checkAddress(address: string, network: NetworkName): string {
  const key = `${network}:${address}`;
  const known = knownAddresses.get(key);
  if (known !== undefined) return known;
  decodeAddress(address, network);
  if (knownAddresses.size >= 10_000) knownAddresses.clear();
  const copy = flatCopy(address);
  knownAddresses.set(key, copy);
  return copy;
}

/** True when `name` is `address` or `address.worker`. */
function isUsername(name: string, address: string, worker: string): boolean {
  // `address.` names the same (unnamed) worker as `address`
  if (worker === '') return name.startsWith(address) && (name.length === address.length || (name.length === address.length + 1 && name.endsWith('.')));
  return name.length === address.length + 1 + worker.length && name.startsWith(address) && name.charCodeAt(address.length) === 0x2e && name.endsWith(worker);
}

/**
 * The workers authorized on one connection. A base class of Session, so its fields live in the session
 * object itself (no object of its own per connection): the first worker inline, the rest in a map made
 * only for the few connections that authorize more than one.
 */
export class SessionWorkers {
  /** First authorized worker, inline (nearly every connection has exactly one). */
  private workerAddress: string | undefined;
  private workerName = '';
  private moreWorkers: Map<string, WorkerIdentity> | undefined;

  get authorized(): boolean {
    return this.workerAddress !== undefined;
  }

  get workerCount(): number {
    return this.workerAddress === undefined ? 0 : 1 + (this.moreWorkers?.size ?? 0);
  }

  /** The payout address of every worker on this connection (repeats included). */
  workerAddresses(): string[] {
    if (this.workerAddress === undefined) return [];
    const out = [this.workerAddress];
    if (this.moreWorkers) for (const w of this.moreWorkers.values()) out.push(w.address);
    return out;
  }

  addresses(): string[] {
    return [...new Set(this.workerAddresses())];
  }

  /** Every worker authorized on this connection. */
  workers(): WorkerIdentity[] {
    if (this.workerAddress === undefined) return [];
    const out: WorkerIdentity[] = [{ address: this.workerAddress, worker: this.workerName }];
    if (this.moreWorkers) for (const w of this.moreWorkers.values()) out.push(w);
    return out;
  }

  workerFor(name: string): WorkerIdentity | undefined {
    const address = this.workerAddress;
    if (address === undefined) return undefined;
    if (isUsername(name, address, this.workerName)) return { address, worker: this.workerName };
    return this.moreWorkers?.get(name);
  }

  /** Adds a worker this connection doesn't have yet (`username` is `address.worker` as the miner sent it). */
  addWorker(username: string, address: string, worker: string): void {
    if (this.workerAddress === undefined) {
      this.workerAddress = address;
      this.workerName = flatCopy(worker);
    } else {
      (this.moreWorkers ??= new Map()).set(flatCopy(username), { address, worker: flatCopy(worker) });
    }
  }
}
