-- Target: peeq_encryption  (Infrastructure, a separate security boundary). Sources: encryption-db, dwolla-db.
--
-- The seed: "Keep existing vault_namespaces and vault_secrets schema" and "Add namespace_type column for
-- separation": ALTER TABLE vault_namespaces ADD COLUMN namespace_type VARCHAR(50) DEFAULT 'GENERAL'
-- ('GENERAL', 'DWOLLA', 'STRIPE', 'MUX').
-- So this is the legacy schema (schemas/legacy/encryption.sql, with its timestamptz types unchanged) plus
-- namespace_type, folded into the CREATE TABLE.
-- * Rows from encryption-db get namespace_type 'GENERAL', and rows from dwolla-db get 'DWOLLA'. namespace_id
--   stays the PK, so the same namespace_id in both sources is a key collision, which the mapping parks (see
--   docs/schemas.md).
-- * The UNIQUE (namespace_id, key) is named and DEFERRABLE INITIALLY IMMEDIATE (the sink defers it inside its
--   transactions). No FK references it.
-- * No FOREIGN KEYs: the seed declares none (legacy has none either). The reconciler checks vault_secrets.namespace_id
--   → vault_namespaces (references.yaml).
-- * private_key and value are SENSITIVE: they are never in Kafka or logs in plaintext, and only Capture feeds
--   them (no Debezium path).

CREATE TABLE vault_namespaces (
    namespace_id        varchar(255)  NOT NULL,       -- ← namespace_id
    public_key          text,                         -- ← public_key
    private_key         text,                         -- ← private_key (SENSITIVE)
    version             integer       NOT NULL DEFAULT 1, -- ← version
    created_on          timestamptz   NOT NULL,       -- ← created_on
    created_by          varchar(255),                 -- ← created_by
    namespace_type      VARCHAR(50)   DEFAULT 'GENERAL', -- 'GENERAL' (encryption-db) | 'DWOLLA' (dwolla-db)
    CONSTRAINT vault_namespaces_pkey PRIMARY KEY (namespace_id)
);

CREATE TABLE vault_secrets (
    secret_id           varchar(255)  NOT NULL,       -- ← secret_id
    namespace_id        varchar(255)  NOT NULL,       -- ← namespace_id
    key                 varchar(255)  NOT NULL,       -- ← key
    value               text,                         -- ← value (SENSITIVE)
    created_on          timestamptz   NOT NULL,       -- ← created_on
    updated_on          timestamptz,                  -- ← updated_on
    CONSTRAINT vault_secrets_pkey PRIMARY KEY (secret_id),
    CONSTRAINT uq_vault_secrets_namespace_key UNIQUE (namespace_id, key) DEFERRABLE INITIALLY IMMEDIATE
);
