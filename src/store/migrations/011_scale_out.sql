-- 011_scale_out: what the instances of one pool share through this database (issue 12): the pool-wide views
-- (/api/pool, miner pages, the hashrate gauge answer the same whichever instance serves them) and the IP bans.
-- Changes are announced with NOTIFY on channel ltcpool_events (src/store/cluster-events.ts); the state is
-- here, so an instance that restarts or reconnects reads it back and loses nothing.

-- Per-instance figures beside connections and shares/s, written with each heartbeat (/api/instances).
ALTER TABLE instance_leases
  ADD COLUMN workers  integer          NOT NULL DEFAULT 0,
  ADD COLUMN hashrate double precision NOT NULL DEFAULT 0;

-- Workers connected now, per instance and IP (sessions: how many connections of that instance carry the worker
-- from that IP). Each instance writes only its own rows, as workers come and go (batched, never per share),
-- and deletes them all when it takes its lease. Rows of an instance whose lease is not live are stale: readers
-- join instance_leases and keep live instances only, so a SIGKILLed instance's workers drop out when its lease
-- expires. ip is text: the address as the pool saw it (PROXY protocol: the miner's, not the balancer's).
CREATE TABLE connected_workers (
  instance_id smallint NOT NULL CHECK (instance_id BETWEEN 0 AND 255),
  address     text     NOT NULL,
  worker      text     NOT NULL,
  ip          text     NOT NULL,
  sessions    integer  NOT NULL CHECK (sessions > 0),
  PRIMARY KEY (instance_id, address, worker, ip)
);

CREATE INDEX connected_workers_address_idx ON connected_workers (address);

-- IP bans made by any instance (misbehaviour score over the threshold), refused by all until banned_until
-- (the database's clock). An instance loads the live rows at start and after its listener reconnects.
CREATE TABLE ip_bans (
  ip           text        PRIMARY KEY,
  banned_until timestamptz NOT NULL,
  reason       text        NOT NULL,
  instance_id  smallint    NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ip_bans_until_idx ON ip_bans (banned_until);
