-- 001_core: miners, workers, shares (partitioned by day), blocks.

CREATE TABLE miners (
  address    text PRIMARY KEY,
  first_seen timestamptz NOT NULL,
  last_seen  timestamptz NOT NULL
);

-- No foreign key to miners: the share writer upserts both in one transaction, and an FK check per worker
-- row was a measurable part of each batch commit.
CREATE TABLE workers (
  address   text NOT NULL,
  name      text NOT NULL,            -- '' when the miner authorised without a worker name
  first_seen timestamptz NOT NULL,
  last_seen timestamptz NOT NULL,
  PRIMARY KEY (address, name)
);

-- Shares: hundreds of millions of rows. Range-partitioned by day rather than one table with BRIN on time:
--  * retention is DROP TABLE of a whole day (instant, no DELETE bloat, no vacuum of dead tuples);
--  * the primary key index (needed for idempotent replay) stays per-day sized, so inserts keep hitting a
--    small, cached btree instead of one ever-growing index;
--  * time-window queries (PPLNS window, hashrate) prune to the few relevant days.
-- The unique key must include the partition key, hence (share_id, time): a replayed share carries the same
-- time, so ON CONFLICT DO NOTHING on it makes replay idempotent.
-- Daily partitions shares_pYYYYMMDD (UTC) are created ahead by ensureSharePartitions(); shares_default
-- catches anything outside them so an insert never fails (ensureSharePartitions moves such rows out).
-- Global order of shares for PPLNS windows (a share replayed from the spool gets its seq at replay).
CREATE SEQUENCE shares_seq AS bigint;

CREATE TABLE shares (
  seq                bigint           NOT NULL DEFAULT nextval('shares_seq'),
  time               timestamptz      NOT NULL,
  share_id           text             NOT NULL,
  address            text             NOT NULL,
  worker             text             NOT NULL DEFAULT '',
  difficulty         double precision NOT NULL,
  network_difficulty double precision NOT NULL,
  height             integer          NOT NULL,
  job_id             text             NOT NULL,
  hash               text             NOT NULL,
  is_block           boolean          NOT NULL DEFAULT false,
  ip                 inet,
  instance_id        integer          NOT NULL,
  PRIMARY KEY (share_id, time)
) PARTITION BY RANGE (time);

CREATE TABLE shares_default PARTITION OF shares DEFAULT;

CREATE INDEX shares_address_time_idx ON shares (address, time);
-- Cheap pool-wide window scans inside a day partition (hashrate, PPLNS): rows arrive in time order.
CREATE INDEX shares_time_brin ON shares USING brin (time);
CREATE INDEX shares_seq_idx ON shares (seq);

CREATE TABLE blocks (
  id                 bigserial PRIMARY KEY,
  height             integer          NOT NULL,
  hash               text             NOT NULL UNIQUE,
  prev_hash          text             NOT NULL,
  status             text             NOT NULL DEFAULT 'candidate'
                     CHECK (status IN ('candidate', 'submitted', 'accepted', 'rejected', 'confirmed', 'orphaned')),
  finder             text             NOT NULL,
  worker             text             NOT NULL DEFAULT '',
  reward_litoshis    bigint           NOT NULL CHECK (reward_litoshis >= 0),
  share_difficulty   double precision NOT NULL,
  network_difficulty double precision NOT NULL,
  block_hex          text             NOT NULL,
  submit_result      text,
  confirmations      integer          NOT NULL DEFAULT 0,
  share_id           text,
  created_at         timestamptz      NOT NULL DEFAULT now(),
  updated_at         timestamptz      NOT NULL DEFAULT now()
);

CREATE INDEX blocks_status_idx ON blocks (status, height);
CREATE INDEX blocks_height_idx ON blocks (height);
