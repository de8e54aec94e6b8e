-- 008_audit: an append-only audit trail of money: every payout batch (written in the same transaction as the
-- batch), every release of set-aside payments, every change of the configuration that decides who gets what
-- (scheme, fee, fee recipients, minimum payout, maturity).
--
-- who/what/when: `process` (command and pid), `host`, `config_hash` (sha256 of the whole configuration with every
-- credential removed), `at`. `detail` never holds a password, a private key or a database URL.
CREATE TABLE audit (
  id          bigserial   PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  kind        text        NOT NULL CHECK (kind IN ('payout_batch', 'release', 'config_change')),
  process     text        NOT NULL,
  host        text        NOT NULL,
  config_hash text        NOT NULL CHECK (config_hash ~ '^[0-9a-f]{64}$'),
  detail      jsonb       NOT NULL
);

CREATE INDEX audit_kind_idx ON audit (kind, id);

-- Rows are never changed or removed, whoever asks (the owner could drop the trigger: run the pool as a role that
-- does not own the schema, or REVOKE UPDATE, DELETE, TRUNCATE from it, to make that impossible too).
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
