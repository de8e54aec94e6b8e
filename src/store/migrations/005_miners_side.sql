-- 005_miners_side: what the miners see and choose (issue 14): hashrate history, effort per block, per-miner
-- settings and the notifications sent to them.

-- Hashrate history per miner and worker, written by the pool from the shares table (src/store/history.ts):
-- 10-minute buckets (bucket_seconds 600), rolled up into hour buckets (3600) once older than a day, dropped after
-- the retention. A bucket's shares and difficulty_sum are exactly the shares table's for that window: the writer
-- recomputes recent buckets from the shares (idempotent upsert), the roll-up sums them.
-- No bucket_seconds in the key: a window is either ten-minute buckets or one hour bucket, never both.
CREATE TABLE worker_history (
  bucket_start   timestamptz      NOT NULL,
  bucket_seconds integer          NOT NULL CHECK (bucket_seconds IN (600, 3600)),
  address        text             NOT NULL,
  worker         text             NOT NULL,
  shares         bigint           NOT NULL CHECK (shares >= 0),
  difficulty_sum double precision NOT NULL CHECK (difficulty_sum >= 0),
  PRIMARY KEY (address, bucket_start, worker)
);

CREATE INDEX worker_history_bucket_idx ON worker_history (bucket_start);

-- The pool-wide series, kept apart so the overview reads 144 rows a day, not one per worker and bucket.
CREATE TABLE pool_history (
  bucket_start   timestamptz      PRIMARY KEY,
  bucket_seconds integer          NOT NULL CHECK (bucket_seconds IN (600, 3600)),
  shares         bigint           NOT NULL CHECK (shares >= 0),
  difficulty_sum double precision NOT NULL CHECK (difficulty_sum >= 0),
  -- distinct addresses / address+worker pairs with a share in the bucket (an hour bucket: in the hour)
  miners         integer          NOT NULL CHECK (miners >= 0),
  workers        integer          NOT NULL CHECK (workers >= 0)
);

-- Effort of a found block: the share difficulty accepted since the previous found block (any status but
-- rejected), against the block's network difficulty. effort = difficulty_sum / (network_difficulty * 65536)
-- (shares use Scrypt's diff1 0xffff*2^224, litecoind's difficulty Bitcoin's 0xffff*2^208); 1.0 = as expected.
-- Written once per block by the history writer, final.
CREATE TABLE block_effort (
  block_id       bigint           PRIMARY KEY REFERENCES blocks (id),
  since          timestamptz,                 -- the previous block's time; NULL for the pool's first block
  shares         bigint           NOT NULL CHECK (shares >= 0),
  difficulty_sum double precision NOT NULL CHECK (difficulty_sum >= 0),
  effort         double precision NOT NULL CHECK (effort >= 0)
);

-- Per-miner settings, changed through POST /api/miners/:address/settings from an IP with a connected worker of
-- the address (see README "Settings for miners"). NULL fields mean the pool's default.
CREATE TABLE miner_settings (
  address                 text        PRIMARY KEY,
  payout_threshold        bigint      CHECK (payout_threshold IS NULL OR payout_threshold > 0),
  webhook_url             text,
  ntfy_url                text,
  notify_worker_offline   boolean     NOT NULL DEFAULT true,
  notify_hashrate_drop    boolean     NOT NULL DEFAULT true,
  notify_block_found      boolean     NOT NULL DEFAULT false,
  notify_payment_sent     boolean     NOT NULL DEFAULT true,
  updated_at              timestamptz NOT NULL DEFAULT now(),
  updated_from            inet
);

-- Notifications to miners, one row per event and channel. dedup_key names the event (e.g.
-- 'payment_sent:<payment id>'), so the detector can run again after a restart without sending twice; the sender
-- marks a row sent only after the receiver answered 2xx and retries the others with backoff.
CREATE TABLE notifications (
  id              bigserial   PRIMARY KEY,
  address         text        NOT NULL,
  kind            text        NOT NULL CHECK (kind IN ('worker_offline', 'hashrate_drop', 'block_found', 'payment_sent')),
  dedup_key       text        NOT NULL,
  channel         text        NOT NULL CHECK (channel IN ('webhook', 'ntfy')),
  target          text        NOT NULL,
  payload         jsonb       NOT NULL,
  status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  UNIQUE (dedup_key, channel)
);

CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notifications_address_idx ON notifications (address, created_at);
