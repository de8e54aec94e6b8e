import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkTargetUrl, normalizeIp } from '../alerts/targets.js';
import { HttpError } from './errors.js';
import { connectedWorkersPoolWide } from './pool-view.js';
import type { ApiDeps, SqlQueryable } from './types.js';

/**
 * Per-miner settings (005_miners_side miner_settings): payout threshold and notification targets.
 *
 * Who may change them: a request from an IP address that has a worker of that address connected to the pool
 * right now (as Miningcore does). Why not a signed message: litecoind's signmessage/verifymessage handle only
 * legacy (P2PKH) addresses, and most miners are paid to bech32 addresses, so most could not sign at all; and the
 * connected worker already proves control of the mining, which is what the settings are about. The price: a
 * miner behind the same NAT as someone else's worker shares that proof, and the HTTP port must see the miners'
 * real IPs (no proxy in front of it).
 */

export interface SettingsPolicy {
  minPayoutThreshold: bigint;
  maxPayoutThreshold: bigint;
  allowPrivateTargets: boolean;
}

export interface MinerSettings {
  payoutThreshold: string | null;
  webhookUrl: string | null;
  ntfyUrl: string | null;
  notify: { workerOffline: boolean; hashrateDrop: boolean; blockFound: boolean; paymentSent: boolean };
  updatedAt: Date | null;
}

const DEFAULTS: MinerSettings = {
  payoutThreshold: null, webhookUrl: null, ntfyUrl: null,
  notify: { workerOffline: true, hashrateDrop: true, blockFound: false, paymentSent: true }, updatedAt: null,
};

export async function readMinerSettings(db: SqlQueryable, address: string): Promise<MinerSettings> {
  const { rows } = await db.query(
    `SELECT payout_threshold::text AS "payoutThreshold", webhook_url AS "webhookUrl", ntfy_url AS "ntfyUrl",
            notify_worker_offline AS "workerOffline", notify_hashrate_drop AS "hashrateDrop",
            notify_block_found AS "blockFound", notify_payment_sent AS "paymentSent", updated_at AS "updatedAt"
       FROM miner_settings WHERE address = $1`,
    [address],
  );
  const row = rows[0] as (Omit<MinerSettings, 'notify'> & MinerSettings['notify']) | undefined;
  if (!row) return structuredClone(DEFAULTS);
  return {
    payoutThreshold: row.payoutThreshold, webhookUrl: row.webhookUrl, ntfyUrl: row.ntfyUrl, updatedAt: row.updatedAt,
    notify: { workerOffline: row.workerOffline, hashrateDrop: row.hashrateDrop, blockFound: row.blockFound, paymentSent: row.paymentSent },
  };
}

async function writeMinerSettings(db: SqlQueryable, address: string, s: MinerSettings, ip: string): Promise<void> {
  await db.query(
    `INSERT INTO miner_settings (address, payout_threshold, webhook_url, ntfy_url, notify_worker_offline, notify_hashrate_drop,
                                 notify_block_found, notify_payment_sent, updated_at, updated_from)
     VALUES ($1, $2::bigint, $3, $4, $5, $6, $7, $8, now(), $9::inet)
     ON CONFLICT (address) DO UPDATE SET
       payout_threshold = EXCLUDED.payout_threshold, webhook_url = EXCLUDED.webhook_url, ntfy_url = EXCLUDED.ntfy_url,
       notify_worker_offline = EXCLUDED.notify_worker_offline, notify_hashrate_drop = EXCLUDED.notify_hashrate_drop,
       notify_block_found = EXCLUDED.notify_block_found, notify_payment_sent = EXCLUDED.notify_payment_sent,
       updated_at = now(), updated_from = EXCLUDED.updated_from`,
    [address, s.payoutThreshold, s.webhookUrl, s.ntfyUrl, s.notify.workerOffline, s.notify.hashrateDrop, s.notify.blockFound, s.notify.paymentSent, ip],
  );
}

interface SettingsBody {
  payoutThreshold?: string | null;
  webhookUrl?: string | null;
  ntfyUrl?: string | null;
  notify?: Partial<MinerSettings['notify']>;
}

const nullableString = (extra: object = {}) => ({ anyOf: [{ type: 'string', ...extra }, { type: 'null' }] });
const bodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    payoutThreshold: nullableString({ pattern: '^[0-9]{1,19}$' }),
    webhookUrl: nullableString({ maxLength: 500 }),
    ntfyUrl: nullableString({ maxLength: 500 }),
    notify: {
      type: 'object',
      additionalProperties: false,
      properties: { workerOffline: { type: 'boolean' }, hashrateDrop: { type: 'boolean' }, blockFound: { type: 'boolean' }, paymentSent: { type: 'boolean' } },
    },
  },
} as const;

/** Registers GET/POST /miners/:address/settings inside the /api plugin. */
export function settingsRoutes(app: FastifyInstance, deps: ApiDeps, policy: SettingsPolicy, checkAddress: (address: string) => void, addressParams: object): void {
  // A worker connected to any instance counts: behind a balancer the dashboard request and the miner's
  // connection rarely reach the same instance.
  const authorised = async (request: FastifyRequest, address: string): Promise<boolean> => {
    const ip = normalizeIp(request.ip);
    const online = await connectedWorkersPoolWide(deps.db, address, { instanceId: deps.instanceId, connectedWorkers: deps.stats.connectedWorkers?.bind(deps.stats) });
    return online.some((w) => normalizeIp(w.ip) === ip);
  };
  const view = (address: string, s: MinerSettings, canEdit: boolean) => ({
    address,
    payoutThreshold: s.payoutThreshold,
    minPayoutThreshold: policy.minPayoutThreshold.toString(),
    maxPayoutThreshold: policy.maxPayoutThreshold.toString(),
    // the targets are the miner's own (an ntfy topic is its secret): shown only to a request that may edit them
    webhookUrl: canEdit ? s.webhookUrl : s.webhookUrl === null ? null : 'set',
    ntfyUrl: canEdit ? s.ntfyUrl : s.ntfyUrl === null ? null : 'set',
    notify: s.notify,
    updatedAt: s.updatedAt,
    canEdit,
  });

  app.get<{ Params: { address: string } }>('/miners/:address/settings', { schema: { params: addressParams } }, async (request) => {
    const { address } = request.params;
    checkAddress(address);
    return view(address, await readMinerSettings(deps.db, address), await authorised(request, address));
  });

  app.post<{ Params: { address: string }; Body: SettingsBody }>(
    '/miners/:address/settings',
    {
      schema: { params: addressParams, body: bodySchema },
      // Fastify's validator drops unknown properties silently; a misspelt field must be an error instead.
      preValidation: async (request) => {
        const body = request.body as Record<string, unknown> | null;
        if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
        const unknown = [...Object.keys(body).filter((k) => !(k in bodySchema.properties)),
          ...(body.notify && typeof body.notify === 'object' ? Object.keys(body.notify).filter((k) => !(k in bodySchema.properties.notify.properties)).map((k) => `notify.${k}`) : [])];
        if (unknown.length > 0) throw new HttpError(400, `unknown field ${unknown.join(', ')}; known: ${Object.keys(bodySchema.properties).join(', ')}`);
      },
    },
    async (request) => {
      const { address } = request.params;
      checkAddress(address);
      if (!(await authorised(request, address))) {
        throw new HttpError(403, `settings of ${address} can be changed only from an IP address with a worker of that address connected now; this request came from ${normalizeIp(request.ip)}`);
      }
      const body = request.body ?? {};
      const next = await readMinerSettings(deps.db, address);
      if (body.payoutThreshold !== undefined) {
        if (body.payoutThreshold !== null) {
          const t = BigInt(body.payoutThreshold);
          if (t < policy.minPayoutThreshold || t > policy.maxPayoutThreshold) {
            throw new HttpError(400, `payoutThreshold: ${t} litoshis is outside the pool's range ${policy.minPayoutThreshold}..${policy.maxPayoutThreshold}`);
          }
        }
        next.payoutThreshold = body.payoutThreshold;
      }
      for (const field of ['webhookUrl', 'ntfyUrl'] as const) {
        const value = body[field];
        if (value === undefined) continue;
        if (value !== null && value !== '') {
          try {
            checkTargetUrl(value, policy.allowPrivateTargets);
          } catch (error) {
            throw new HttpError(400, `${field}: ${(error as Error).message}`);
          }
        }
        next[field] = value === '' ? null : value;
      }
      if (body.notify) next.notify = { ...next.notify, ...body.notify };
      await writeMinerSettings(deps.db, address, next, normalizeIp(request.ip));
      return view(address, await readMinerSettings(deps.db, address), true);
    },
  );
}
