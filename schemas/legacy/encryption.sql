-- Legacy source: peeq-encryption-db  (encryption-service, 2 Flyway migrations)  → target peeq_encryption
-- (namespace_type 'GENERAL')
--
-- Seed: key-management vault. vault_namespaces (PK namespace_id varchar; public_key, private_key, version,
-- created_on, created_by) and vault_secrets (PK secret_id varchar; namespace_id, key, value (encrypted),
-- created_on, updated_on; unique index on (namespace_id, key)). It stays an isolated security boundary.
-- dwolla-db is an exact copy of this schema.
--
-- Fixed decisions and choices (encryption.sql and dwolla.sql are identical below this header):
-- * Timestamps are timestamptz (Spring service on UTC). The target keeps the same types ("keep existing schema").
-- * The keys are text: PEM-encoded, not bytea. private_key and vault_secrets.value are SENSITIVE. Capture must
--   never put them on Kafka or in logs in plaintext, and these databases are Capture-only (no Debezium path).
-- * The seed's "unique index on (namespace_id, key)" is a UNIQUE constraint here.
-- * vault_secrets.namespace_id has no FK to vault_namespaces: the seed names none. The reconciler still checks it
--   (references.yaml).
-- * namespace_id values can collide between encryption-db and dwolla-db, which both map into one target table
--   keyed by namespace_id. The mapping must park a collision, not merge the two (see docs/schemas.md).

CREATE TABLE vault_namespaces (
    namespace_id        varchar(255)  NOT NULL,
    public_key          text,
    private_key         text,                         -- SENSITIVE
    version             integer       NOT NULL DEFAULT 1,
    created_on          timestamptz   NOT NULL,
    created_by          varchar(255),
    CONSTRAINT vault_namespaces_pkey PRIMARY KEY (namespace_id)
);

CREATE TABLE vault_secrets (
    secret_id           varchar(255)  NOT NULL,
    namespace_id        varchar(255)  NOT NULL,
    key                 varchar(255)  NOT NULL,
    value               text,                         -- SENSITIVE (encrypted with the namespace key)
    created_on          timestamptz   NOT NULL,
    updated_on          timestamptz,
    CONSTRAINT vault_secrets_pkey PRIMARY KEY (secret_id),
    CONSTRAINT uq_vault_secrets_namespace_key UNIQUE (namespace_id, key)
);
