-- 004_merged_mining (issue 11): aux-chain blocks live in the blocks table beside Litecoin's, told apart by chain;
-- miners' addresses on the aux chains (the password option doge=...), the last one each miner gave.

ALTER TABLE blocks ADD COLUMN chain text NOT NULL DEFAULT 'litecoin' CHECK (chain ~ '^[a-z][a-z0-9_]{1,31}$');

DROP INDEX blocks_status_idx;
CREATE INDEX blocks_status_idx ON blocks (chain, status, height);

CREATE TABLE miner_aux_addresses (
  address     text        NOT NULL,   -- the miner's Litecoin address (the ledger's key)
  chain       text        NOT NULL,   -- aux chain name, as in blocks.chain
  aux_address text        NOT NULL,   -- where that chain's coins are paid
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (address, chain)
);
