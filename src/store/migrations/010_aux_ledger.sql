-- 010_aux_ledger (issue 11): the ledger per chain. Aux-chain blocks (blocks.chain <> 'litecoin') are split over the
-- same shares as Litecoin's; their credits are keyed by the miner's Litecoin address like any credit, and paid
-- from that chain's wallet to the miner's address there (miner_aux_addresses), recorded in payments.payee.

ALTER TABLE payment_batches ADD COLUMN chain text NOT NULL DEFAULT 'litecoin';
ALTER TABLE payments ADD COLUMN chain text NOT NULL DEFAULT 'litecoin';
-- The address the coins went to when it is not `address` (aux chains: the miner's address on that chain).
ALTER TABLE payments ADD COLUMN payee text;
CREATE INDEX payments_chain_address_idx ON payments (chain, address);

-- Litecoin balances: 006's view, counting Litecoin blocks and payments only (same columns).
CREATE OR REPLACE VIEW balances AS
WITH credited AS (
  SELECT address, sum(matured)::bigint AS matured, sum(immature)::bigint AS immature
  FROM (
    SELECT c.address,
           COALESCE(sum(c.amount) FILTER (WHERE b.status = 'confirmed'), 0) AS matured,
           COALESCE(sum(c.amount) FILTER (WHERE b.status IN ('submitted', 'accepted')), 0) AS immature
    FROM credits c
    JOIN blocks b ON b.id = c.block_id
    WHERE b.chain = 'litecoin'
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
  WHERE p.status <> 'failed' AND p.chain = 'litecoin'
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

-- Balances of every chain (Litecoin's as in `balances`), keyed by the miner's Litecoin address.
CREATE VIEW chain_balances AS
WITH credited AS (
  SELECT chain, address, sum(matured)::bigint AS matured, sum(immature)::bigint AS immature
  FROM (
    SELECT b.chain, c.address,
           COALESCE(sum(c.amount) FILTER (WHERE b.status = 'confirmed'), 0) AS matured,
           COALESCE(sum(c.amount) FILTER (WHERE b.status IN ('submitted', 'accepted')), 0) AS immature
    FROM credits c
    JOIN blocks b ON b.id = c.block_id
    GROUP BY b.chain, c.address
    UNION ALL
    SELECT 'litecoin', s.address, sum(s.amount), 0
    FROM share_credits s
    GROUP BY s.address
  ) parts
  GROUP BY chain, address
), paid AS (
  SELECT p.chain, p.address,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'sent'), 0)::bigint AS sent,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'pending'), 0)::bigint AS pending,
         COALESCE(sum(p.amount) FILTER (WHERE p.status = 'set_aside'), 0)::bigint AS set_aside
  FROM payments p
  WHERE p.status <> 'failed'
  GROUP BY p.chain, p.address
)
SELECT COALESCE(c.chain, p.chain)            AS chain,
       COALESCE(c.address, p.address)        AS address,
       COALESCE(c.matured, 0)                AS matured,
       COALESCE(c.immature, 0)               AS immature,
       COALESCE(p.sent, 0)                   AS sent,
       COALESCE(p.pending, 0)                AS pending,
       COALESCE(p.set_aside, 0)              AS set_aside,
       COALESCE(c.matured, 0) - COALESCE(p.sent, 0) - COALESCE(p.pending, 0) - COALESCE(p.set_aside, 0) AS balance
FROM credited c
FULL JOIN paid p ON p.chain = c.chain AND p.address = c.address;

