-- Legacy source: peeq-transaction-db  (transaction-service, 7 Flyway migrations)  → target peeq_commerce (transactions, transaction_type 'PURCHASE')
--
-- Seed: purchase history. transactions (PK id uuid; user_id, item_id, purchase_id, price, quantity,
-- created_by_id, created_on). item_id points at inventory-db inventory_item.id (the uuid; see the seed's
-- implicit-relationship table). About 2,000,000 transactions, 10.0 GB: the largest table. FINANCIAL.
--
-- Fixed decisions and choices:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * price is numeric(12,2), the UNIT price in major units. quantity is int. The target's amount is the total in
--   cents: price × quantity × 100, exact (see docs/schemas.md).
-- * purchase_id groups the lines of one checkout (several rows, one per item). It is a uuid with no table behind
--   it in any database.
-- * currency and status are added because the target has them: currency is ISO 4217, and status is 'PENDING',
--   'COMPLETED', 'FAILED' or 'REFUNDED'.

CREATE TABLE transactions (
    id                  uuid          NOT NULL,
    user_id             uuid          NOT NULL,       -- buyer, Keycloak id
    item_id             uuid,                         -- inventory-db inventory_item.id (implicit)
    purchase_id         uuid,
    price               numeric(12,2) NOT NULL,
    quantity            integer       NOT NULL DEFAULT 1,
    currency            varchar(3),
    status              varchar(50),
    created_by_id       uuid,
    created_on          timestamptz   NOT NULL,
    CONSTRAINT transactions_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_transactions_user ON transactions (user_id, created_on);
CREATE INDEX idx_transactions_item ON transactions (item_id);
CREATE INDEX idx_transactions_purchase ON transactions (purchase_id);
