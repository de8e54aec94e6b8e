-- 006_pps: PPS/FPPS. Credits come from shares, not blocks; the pool's own blocks pay the pool; the pool's
-- running luck; the payout runner's last verdict on the wallet reserve.

-- A block matured under PPS/FPPS is recorded in block_splits with no credits: its reward is the pool's.
ALTER TABLE block_splits DROP CONSTRAINT block_splits_scheme_check;
ALTER TABLE block_splits ADD CONSTRAINT block_splits_scheme_check CHECK (scheme IN ('pplns', 'prop', 'solo', 'pps', 'fpps'));

-- One row per crediting run: the shares after_seq < seq <= through_seq were credited, each once. Ranges never
-- overlap (exclusion constraint), so no share is credited twice however the runs race.
CREATE TABLE share_credit_runs (
  id          bigserial   PRIMARY KEY,
  scheme      text        NOT NULL CHECK (scheme IN ('pps', 'fpps')),
  chain       text        NOT NULL DEFAULT 'litecoin',
  after_seq   bigint      NOT NULL CHECK (after_seq >= 0),
  through_seq bigint      NOT NULL,
  share_count bigint      NOT NULL CHECK (share_count >= 0),
  fee_bps     integer     NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  value_units numeric(60, 0) NOT NULL CHECK (value_units >= 0), -- floored share values, 10^-18 litoshi
  credited    bigint      NOT NULL CHECK (credited >= 0),       -- litoshis credited by this run
  created_at  timestamptz NOT NULL DEFAULT now(),
  CHECK (through_seq > after_seq),
  EXCLUDE USING gist (int8range(after_seq, through_seq, '(]') WITH &&)
);

CREATE TABLE share_credits (
  run_id     bigint      NOT NULL REFERENCES share_credit_runs (id),
  address    text        NOT NULL,
  amount     bigint      NOT NULL CHECK (amount > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, address)
);

CREATE INDEX share_credits_address_idx ON share_credits (address);

-- What each address earned below one litoshi, carried to its next credit (10^-18 litoshi).
CREATE TABLE pps_carry (
  address    text        PRIMARY KEY,
  units      numeric(19, 0) NOT NULL CHECK (units >= 0 AND units < 1000000000000000000),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A PPS credit is final: a miner's balance is never reduced after crediting.
CREATE FUNCTION share_credits_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: PPS credits are never changed or removed', TG_TABLE_NAME
    USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER share_credits_final BEFORE UPDATE OR DELETE ON share_credits
  FOR EACH ROW EXECUTE FUNCTION share_credits_final();
CREATE TRIGGER share_credit_runs_final BEFORE UPDATE OR DELETE ON share_credit_runs
  FOR EACH ROW EXECUTE FUNCTION share_credits_final();

-- Balances: 002's view, with share credits payable at once (they are matured the moment they exist).
CREATE OR REPLACE VIEW balances AS
WITH credited AS (
  SELECT address, sum(matured)::bigint AS matured, sum(immature)::bigint AS immature
  FROM (
    SELECT c.address,
           COALESCE(sum(c.amount) FILTER (WHERE b.status = 'confirmed'), 0) AS matured,
           COALESCE(sum(c.amount) FILTER (WHERE b.status IN ('submitted', 'accepted')), 0) AS immature
    FROM credits c
    JOIN blocks b ON b.id = c.block_id
    GROUP BY c.address
    UNION ALL
    SELECT s.address, sum(s.amount), 0
    FROM share_credits s
    GROUP BY s.address
  ) parts
  GROUP BY address
), paid AS (
  SELECT p.address,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'sent'), 0)::bigint AS sent,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'pending'), 0)::bigint AS pending,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'set_aside'), 0)::bigint AS set_aside
  FROM payments p
  WHERE p.status <> 'failed'
  GROUP BY p.address
)
SELECT COALESCE(c.address, p.address)        AS address,
       COALESCE(c.matured, 0)                AS matured,
       COALESCE(c.immature, 0)               AS immature,
       COALESCE(p.sent, 0)                   AS sent,
       COALESCE(p.pending, 0)                AS pending,
       COALESCE(p.set_aside, 0)              AS set_aside,
       COALESCE(c.matured, 0) - COALESCE(p.sent, 0) - COALESCE(p.pending, 0) - COALESCE(p.set_aside, 0) AS balance
FROM credited c
FULL JOIN paid p ON p.address = c.address;

-- The pool's side of PPS/FPPS (Litecoin; aux-chain blocks are not paid per share): matured rewards of its
-- blocks credited under PPS/FPPS (the pool's), what the
-- shares were credited, and the difference, the pool's running luck (negative: the pool paid more than its
-- blocks brought so far; the fee makes it positive on average).
CREATE VIEW pool_ledger AS
SELECT r.rewards_received,
       i.rewards_immature,
       c.share_credits,
       c.shares_credited,
       r.blocks_received,
       r.rewards_received - c.share_credits AS luck
FROM (SELECT COALESCE(sum(reward), 0)::bigint AS rewards_received, count(*)::bigint AS blocks_received
        FROM block_splits WHERE scheme IN ('pps', 'fpps')) r,
     (SELECT COALESCE(sum(reward_litoshis), 0)::bigint AS rewards_immature
        FROM blocks WHERE chain = 'litecoin' AND status IN ('submitted', 'accepted')) i,
     (SELECT COALESCE(sum(credited), 0)::bigint AS share_credits, COALESCE(sum(share_count), 0)::bigint AS shares_credited
        FROM share_credit_runs) c;

-- The payout runner's last look at the wallet: one row, replaced every run. paused: payouts stopped because the
-- wallet's spendable balance minus what is owed fell below the reserve (or below zero).
CREATE TABLE payout_status (
  id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
  checked_at timestamptz NOT NULL,
  spendable  bigint,
  owed       bigint      NOT NULL,
  reserve    bigint      NOT NULL CHECK (reserve >= 0),
  paused     boolean     NOT NULL,
  reason     text
);
