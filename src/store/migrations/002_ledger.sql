-- 002_ledger: what each block owes to whom (credits), what was sent (payments), and balances derived from both.
--
-- Assumes 001_core's blocks table: id bigserial, reward_litoshis bigint, status in
-- ('candidate','submitted','accepted','rejected','confirmed','orphaned'), where 'confirmed' means the coinbase
-- has matured (>= 100 confirmations) and 'orphaned' means it never will.
--
-- Money is bigint litoshis. Share weights (micro-difficulty, see src/payouts/types.ts) are numeric: a mainnet
-- PPLNS window (network difficulty ~1e8 × 65536 × 1e6 × factor) is far beyond int8.

-- One row per block once its reward has been split: the audit trail of the split and the "already credited"
-- marker. The unlocker inserts this row and the block's credits in one transaction.
CREATE TABLE block_splits (
  block_id        bigint      PRIMARY KEY REFERENCES blocks (id),
  scheme          text        NOT NULL CHECK (scheme IN ('pplns', 'prop', 'solo')),
  reward          bigint      NOT NULL CHECK (reward >= 0),
  fee_amount      bigint      NOT NULL CHECK (fee_amount >= 0),
  fee_bps         integer     NOT NULL CHECK (fee_bps BETWEEN 0 AND 10000),
  window_weight   numeric(40, 0),            -- PPLNS N; NULL for PROP/SOLO
  total_weight    numeric(40, 0) NOT NULL,   -- weight that counted
  share_count     integer     NOT NULL CHECK (share_count >= 0),
  first_seq       bigint,                    -- oldest / newest share seq that counted
  last_seq        bigint,
  finder_fallback boolean     NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (fee_amount <= reward)
);

CREATE TABLE credits (
  block_id   bigint      NOT NULL REFERENCES block_splits (block_id),
  address    text        NOT NULL,
  kind       text        NOT NULL CHECK (kind IN ('miner', 'fee')),
  amount     bigint      NOT NULL CHECK (amount > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (block_id, address, kind)
);

CREATE INDEX credits_address_idx ON credits (address);

-- Credits of a block can never add up to more than its reward (checked at commit, so a block's credits can be
-- inserted row by row in one transaction).
CREATE FUNCTION credits_within_reward() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  credited numeric;
  reward   bigint;
BEGIN
  SELECT b.reward_litoshis INTO reward FROM blocks b WHERE b.id = NEW.block_id;
  SELECT COALESCE(sum(c.amount), 0) INTO credited FROM credits c WHERE c.block_id = NEW.block_id;
  IF credited > reward THEN
    RAISE EXCEPTION 'credits for block % sum to % litoshis, more than its reward %', NEW.block_id, credited, reward
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER credits_within_reward
  AFTER INSERT OR UPDATE ON credits
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION credits_within_reward();

-- A batch is one wallet call (sendmany). Its label goes into the wallet transaction's comment, so after a crash
-- between the wallet call and recording the txid the sender can find the transaction by label instead of
-- paying twice.
--
-- Who pays the transaction fee: the pool. sendmany is called without subtractfeefrom, so every address receives
-- exactly the amount of its payment row and the miners' ledger stays exact to the litoshi; the fee the wallet
-- paid is recorded here (tx_fee, litoshis) as a pool expense, outside the miners' balances.
CREATE TABLE payment_batches (
  id         bigserial   PRIMARY KEY,
  label      text        NOT NULL UNIQUE,
  txid       text        CHECK (txid IS NULL OR txid ~ '^[0-9a-f]{64}$'),
  tx_fee     bigint      CHECK (tx_fee IS NULL OR tx_fee >= 0),
  sent_at    timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- pending:   recorded before the wallet call; the outcome is not known yet (reconcile after a crash).
-- sent:      the wallet returned txid.
-- failed:    the wallet certainly did not send it; the amount returns to the balance.
-- set_aside: held back by an operator or by the sender (e.g. an address the wallet refuses); stays deducted.
CREATE TABLE payments (
  id         bigserial   PRIMARY KEY,
  batch_id   bigint      NOT NULL REFERENCES payment_batches (id),
  address    text        NOT NULL,
  amount     bigint      NOT NULL CHECK (amount > 0),
  status     text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'set_aside')),
  txid       text        CHECK (txid IS NULL OR txid ~ '^[0-9a-f]{64}$'),
  error      text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (batch_id, address),   -- sendmany pays each address once per call
  CHECK (status <> 'sent' OR txid IS NOT NULL)
);

CREATE INDEX payments_address_idx ON payments (address);
CREATE INDEX payments_unsettled_idx ON payments (status) WHERE status IN ('pending', 'set_aside');

-- Balances straight from the ledger: credits of matured blocks minus payments that did not fail.
-- immature: credits of blocks accepted by the network but not matured yet (shown, not payable).
CREATE VIEW balances AS
WITH credited AS (
  SELECT c.address,
         COALESCE(sum(c.amount) FILTER (WHERE b.status = 'confirmed'), 0)::bigint AS matured,
         COALESCE(sum(c.amount) FILTER (WHERE b.status IN ('submitted', 'accepted')), 0)::bigint AS immature
  FROM credits c
  JOIN blocks b ON b.id = c.block_id
  GROUP BY c.address
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
