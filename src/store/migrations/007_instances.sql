-- 007_instances: one lease row per instanceId. An instance takes its id's row at start (refused while another
-- live instance heartbeats it), heartbeats it with its own figures (connections, shares/s) and marks it released
-- on a clean shutdown. A row whose heartbeat is older than its lease_seconds belongs to a dead instance and is
-- taken over. Times are the database's clock (now()), never an instance's.
CREATE TABLE instance_leases (
  instance_id       smallint         PRIMARY KEY CHECK (instance_id BETWEEN 0 AND 255),
  -- Random per process start: a heartbeat only counts for the process that holds the lease.
  token             uuid             NOT NULL,
  host              text             NOT NULL,
  pid               integer          NOT NULL,
  started_at        timestamptz      NOT NULL DEFAULT now(),
  heartbeat_at      timestamptz      NOT NULL DEFAULT now(),
  lease_seconds     double precision NOT NULL CHECK (lease_seconds > 0),
  released_at       timestamptz,
  connections       integer          NOT NULL DEFAULT 0,
  shares_per_second double precision NOT NULL DEFAULT 0
);
