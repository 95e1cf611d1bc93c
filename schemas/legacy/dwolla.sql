-- Legacy source: peeq-dwolla-db  (dwolla-service, 4 Flyway migrations)  → target peeq_encryption
-- (namespace_type 'DWOLLA')
--
-- Seed: the Dwolla payment vault, a "duplicate of encryption-db": vault_namespaces and vault_secrets
-- "identical to encryption-db", kept separate for Dwolla-specific secrets. The target merges both databases and
-- tells them apart with namespace_type.
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
