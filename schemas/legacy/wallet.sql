-- Legacy source: peeq-wallet-db  (wallet-service, 4 Flyway migrations)  → target peeq_commerce (user_wallets, transactions, transaction_relations)
--
-- Seed: user balances and transactions. balance_transaction (account balance; PK id bigint; user_id, balance),
-- create_transaction (transaction records; PK id bigint; user_id, amount, is_debit, item_id, description,
-- meta_data) and create_transaction_related_transactions (the transaction graph: refunds, splits).
-- Cross-database: user ids (Keycloak) and inventory-db (item_id → inventory_item.item_id, the varchar business
-- key). About 100,000 wallets, 1.0 GB. FINANCIAL.
--
-- Fixed decisions (other components depend on them):
-- * Timestamps are timestamptz (Spring service on UTC).
-- * Money is numeric(19,4): the wallet service converted currencies at 4 decimals. The targets hold INT minor
--   units, so the mapping multiplies by 100 with an exact cast, and a value with sub-cent digits is parked, not
--   rounded.
-- * balance_transaction is one row per user (user_id UNIQUE) holding the current balance, despite its name. Its
--   bigint id is kept as the target user_wallets.id, and cutover sets the target's sequence.
-- * create_transaction.transaction_type is one of 'CREDIT', 'DEBIT', 'PURCHASE', 'REFUND', 'TRANSFER' (a JPA
--   enum, no CHECK in the database). is_debit says which way the money went. item_id is varchar(255) and holds
--   inventory_item.item_id.
-- * create_transaction_related_transactions: relation_type is 'REFUND_OF', 'SPLIT_FROM' or 'TRANSFER_PAIR'. The PK
--   is the pair, and both ends have plain FKs to create_transaction (in-database).
-- * create_transaction has no created_by_id, currency or status: the mapping uses user_id as the creator, the
--   wallet's currency, and a fixed status for the target's columns (see docs/schemas.md).

CREATE TABLE balance_transaction (
    id                  bigserial     NOT NULL,
    user_id             uuid          NOT NULL,
    balance             numeric(19,4) NOT NULL DEFAULT 0,
    currency            varchar(3)    NOT NULL DEFAULT 'USD',
    updated_at          timestamptz   NOT NULL,
    CONSTRAINT balance_transaction_pkey PRIMARY KEY (id),
    CONSTRAINT uq_balance_transaction_user_id UNIQUE (user_id)
);

CREATE TABLE create_transaction (
    id                  bigserial     NOT NULL,
    user_id             uuid          NOT NULL,
    amount              numeric(19,4) NOT NULL,
    is_debit            boolean       NOT NULL,
    item_id             varchar(255),                 -- inventory-db inventory_item.item_id (implicit)
    description         text,
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    transaction_type    varchar(50)   NOT NULL,       -- CREDIT | DEBIT | PURCHASE | REFUND | TRANSFER
    CONSTRAINT create_transaction_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_create_transaction_user ON create_transaction (user_id, created_on);
CREATE INDEX idx_create_transaction_item ON create_transaction (item_id);

CREATE TABLE create_transaction_related_transactions (
    create_transaction_id   bigint      NOT NULL,
    related_transaction_id  bigint      NOT NULL,
    relation_type           varchar(50),              -- REFUND_OF | SPLIT_FROM | TRANSFER_PAIR
    CONSTRAINT create_transaction_related_transactions_pkey PRIMARY KEY (create_transaction_id, related_transaction_id),
    CONSTRAINT fk_ctrt_transaction FOREIGN KEY (create_transaction_id) REFERENCES create_transaction (id),
    CONSTRAINT fk_ctrt_related FOREIGN KEY (related_transaction_id) REFERENCES create_transaction (id)
);
CREATE INDEX idx_ctrt_related ON create_transaction_related_transactions (related_transaction_id);
