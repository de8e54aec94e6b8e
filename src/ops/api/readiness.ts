/**
 * Readiness checks for GET /readyz. The HTTP server only runs them; what they probe (litecoind, the template
 * source, PostgreSQL) is injected, through the small structural interfaces below, by whoever starts it.
 */

export interface CheckResult {
  ok: boolean;
  detail?: string;
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<CheckResult>;
}

export interface CheckOutcome extends CheckResult {
  name: string;
  ms: number;
}

/** Runs all checks concurrently; a check that throws or outlasts `timeoutMs` counts as failed with the reason. */
export async function runReadinessChecks(checks: readonly ReadinessCheck[], timeoutMs = 3000): Promise<{ ready: boolean; checks: CheckOutcome[] }> {
  const outcomes = await Promise.all(checks.map((c) => runOne(c, timeoutMs)));
  return { ready: outcomes.every((o) => o.ok), checks: outcomes };
}

async function runOne(readinessCheck: ReadinessCheck, timeoutMs: number): Promise<CheckOutcome> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => readinessCheck.check()), timeout]);
    const outcome: CheckOutcome = { name: readinessCheck.name, ok: result.ok === true, ms: Math.round(performance.now() - started) };
    if (result.detail !== undefined) outcome.detail = result.detail;
    return outcome;
  } catch (error) {
    return { name: readinessCheck.name, ok: false, detail: errorMessage(error), ms: Math.round(performance.now() - started) };
  } finally {
    clearTimeout(timer);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

// ---- factories for the usual checks -------------------------------------------------------------------

/** Anything with RpcClient's call signature. */
export interface RpcCaller {
  call<T = unknown>(method: string, params?: unknown[]): Promise<T>;
}

interface BlockchainInfo {
  chain?: string;
  blocks?: number;
  headers?: number;
  initialblockdownload?: boolean;
}

/** litecoind answers getblockchaininfo and has left initial block download with all known headers validated. */
export function litecoindCheck(rpc: RpcCaller, name = 'litecoind'): ReadinessCheck {
  return {
    name,
    async check() {
      const info = await rpc.call<BlockchainInfo>('getblockchaininfo');
      if (info.initialblockdownload) return { ok: false, detail: `initial block download (blocks ${info.blocks}, headers ${info.headers})` };
      if (typeof info.blocks === 'number' && typeof info.headers === 'number' && info.headers - info.blocks > 1) {
        return { ok: false, detail: `syncing: blocks ${info.blocks} < headers ${info.headers}` };
      }
      return { ok: true, detail: `${info.chain ?? 'chain'} height ${info.blocks}` };
    },
  };
}

/** The last block template arrived less than `maxAgeSeconds` ago. `lastTemplateAt` is a ms epoch (0/undefined = never). */
export function templateFreshCheck(lastTemplateAt: () => number | undefined, maxAgeSeconds: number, name = 'template'): ReadinessCheck {
  return {
    name,
    async check() {
      const at = lastTemplateAt();
      if (!at) return { ok: false, detail: 'no block template yet' };
      const age = (Date.now() - at) / 1000;
      return age < maxAgeSeconds
        ? { ok: true, detail: `age ${age.toFixed(1)} s` }
        : { ok: false, detail: `template is ${age.toFixed(1)} s old (limit ${maxAgeSeconds} s)` };
    },
  };
}

/** Anything with pg.Pool's query signature. */
export interface SqlQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/**
 * PostgreSQL answers and accepts writes: not a hot standby and not in a read-only transaction mode.
 * Checked without writing anything, so a readiness probe never adds load or rows.
 */
export function databaseCheck(db: SqlQueryable, name = 'database'): ReadinessCheck {
  return {
    name,
    async check() {
      const { rows } = await db.query(
        "SELECT pg_is_in_recovery() AS in_recovery, current_setting('transaction_read_only') AS read_only",
      );
      const row = rows[0] as { in_recovery: boolean; read_only: string } | undefined;
      if (!row) return { ok: false, detail: 'no answer' };
      if (row.in_recovery) return { ok: false, detail: 'database is in recovery (read-only standby)' };
      if (row.read_only === 'on') return { ok: false, detail: 'database session is read-only' };
      return { ok: true };
    },
  };
}
