-- Target: peeq_commerce  (Commerce). Sources: inventory-db, stripe-db, subscriptions-db, wallet-db, transaction-db.
--
-- The seed's design ("3. Commerce Database"), with the same table names, column names and types, and these
-- transition rules (ARCHITECTURE.md):
-- * No FOREIGN KEYs here. The seed's REFERENCES clauses and Appendix B's fk_transactions_item are in
--   peeq_commerce.foreign-keys.sql and applied at cutover. Appendix B's fk_transactions_user cannot exist
--   (profiles lives in peeq_users), so the reconciler checks it as a cross-database reference.
-- * PKs, CHECKs and indexes stay. Non-PK UNIQUE constraints are named and DEFERRABLE INITIALLY IMMEDIATE (the sink
--   defers them inside its transactions), so they cannot be ON CONFLICT arbiters and upserts go through the PK.
-- * Defaults are only those the seed wrote: currency 'USD', is_refundable true, balance 0, status 'PENDING',
--   updated_at NOW(). The pipeline writes every column explicitly, so they apply only to future service writes.
-- * user_wallets.id stays BIGSERIAL. The pipeline writes the legacy bigint id explicitly, and cutover sets the
--   sequence: logical decoding does not replicate sequences.
-- * Money is INT minor units (cents) as the seed wrote it. The legacy numeric(12,2) and numeric(19,4) values map
--   with ×100 and an exact cast, and a value that is not a whole number of cents, or exceeds INT, is parked.
-- * The extra indexes marked "(not in seed)" cover FK child columns and the columns the reconciler joins on.
-- The "←" comments name the legacy source of each column (schemas/legacy/*.sql).

-- Unified inventory ← inventory-db inventory_item
CREATE TABLE inventory_items (
    id UUID PRIMARY KEY,                -- ← id
    item_id VARCHAR(255) NOT NULL,      -- ← item_id
    item_type VARCHAR(50) NOT NULL,     -- ← type
    -- Ownership
    created_by_id UUID NOT NULL,        -- ← created_by_id (peeq_users.profiles, cross-database)
    -- State
    state VARCHAR(50) NOT NULL,         -- ← state
    -- Pricing
    price INT,                          -- ← price numeric(12,2) × 100
    currency VARCHAR(3) DEFAULT 'USD',  -- ← currency
    -- Inventory
    quantity INT,                       -- ← quantity
    limit_per_fan INT,                  -- ← limit_per_fan
    -- Subscriptions
    recurring_payment VARCHAR(50),      -- ← recurring_payment
    auto_expires INT,                   -- ← auto_expires
    is_refundable BOOLEAN DEFAULT true, -- ← is_refundable
    -- Associations (arrays for backward compat, migrate to join tables)
    associated_series UUID[],           -- ← associated_series (content_series.id elements)
    associated_subscriptions UUID[],    -- ← associated_subscriptions (subscription_plans.id elements)
    associated_tags UUID[],             -- ← associated_tags (peeq_platform.tags.id elements)
    keywords VARCHAR[],                 -- ← keywords
    restricted_users UUID[],            -- ← restricted_users (peeq_users.profiles.id elements)
    -- Metadata
    metadata JSONB,                     -- ← metadata
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    CONSTRAINT uq_inventory_items_item_id UNIQUE (item_id) DEFERRABLE INITIALLY IMMEDIATE,
    CHECK (item_type IN ('SHOUTOUT', 'CLASS', 'EVENT', 'SUBSCRIPTION', 'CONTENT', 'PRODUCT'))
);
CREATE INDEX idx_inventory_items_created_by ON inventory_items(created_by_id);  -- (not in seed)

-- Subscription plans ← subscriptions-db subscriptions
CREATE TABLE subscription_plans (
    id UUID PRIMARY KEY,                -- ← id
    name VARCHAR(255) NOT NULL,         -- ← name
    description TEXT,                   -- ← description
    recurring_payment VARCHAR(50) NOT NULL, -- ← recurring_payment ('MONTHLY', 'YEARLY')
    auto_expires INT,                   -- ← auto_expires
    created_by_id UUID NOT NULL,        -- ← created_by_id
    created_on TIMESTAMP NOT NULL       -- ← created_on
);

-- Series (content bundles) ← subscriptions-db series
CREATE TABLE content_series (
    id UUID PRIMARY KEY,                -- ← id
    name VARCHAR(255) NOT NULL,         -- ← name
    description TEXT,                   -- ← description
    created_by_id UUID NOT NULL,        -- ← created_by_id
    created_on TIMESTAMP NOT NULL       -- ← created_on
);

-- User wallets ← wallet-db balance_transaction
CREATE TABLE user_wallets (
    id BIGSERIAL PRIMARY KEY,           -- ← id (legacy bigint kept; sequence set at cutover)
    user_id UUID NOT NULL,              -- ← user_id (peeq_users.profiles, cross-database)
    balance INT DEFAULT 0,              -- ← balance numeric(19,4) × 100, exact
    currency VARCHAR(3) DEFAULT 'USD',  -- ← currency
    updated_at TIMESTAMP NOT NULL DEFAULT NOW(), -- ← updated_at
    CONSTRAINT uq_user_wallets_user_id UNIQUE (user_id) DEFERRABLE INITIALLY IMMEDIATE
);

-- Transactions (unified) ← transaction-db transactions ('PURCHASE'), wallet-db create_transaction (its transaction_type)
CREATE TABLE transactions (
    id UUID PRIMARY KEY,                -- ← transactions.id | derived UUID for create_transaction.id (bigint, identity map)
    transaction_type VARCHAR(50) NOT NULL, -- 'PURCHASE' | ← create_transaction.transaction_type
    -- Parties
    user_id UUID NOT NULL,              -- ← user_id (peeq_users.profiles, cross-database)
    created_by_id UUID NOT NULL,        -- ← transactions.created_by_id | create_transaction.user_id
    -- Purchase details
    item_id UUID,                       -- ← transactions.item_id | create_transaction.item_id (varchar item_id → inventory_items.id)
    purchase_id UUID,                   -- ← transactions.purchase_id
    -- Financial
    amount INT NOT NULL,                -- ← transactions.price × quantity × 100 | create_transaction.amount × 100, exact
    currency VARCHAR(3) DEFAULT 'USD',  -- ← transactions.currency | the wallet's currency
    is_debit BOOLEAN,                   -- ← create_transaction.is_debit | true for a purchase
    -- State
    status VARCHAR(50) DEFAULT 'PENDING', -- ← transactions.status | 'COMPLETED' for wallet postings
    -- Metadata
    description TEXT,                   -- ← create_transaction.description
    meta_data JSONB,                    -- ← create_transaction.meta_data
    -- Audit
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    CHECK (transaction_type IN ('PURCHASE', 'REFUND', 'CREDIT', 'DEBIT', 'TRANSFER'))
);
CREATE INDEX idx_transactions_user ON transactions(user_id);        -- (not in seed)
CREATE INDEX idx_transactions_item ON transactions(item_id);        -- (not in seed)

-- ← wallet-db create_transaction_related_transactions (both ids through the bigint → UUID identity map)
CREATE TABLE transaction_relations (
    transaction_id UUID NOT NULL,       -- ← create_transaction_id      (FK at cutover)
    related_transaction_id UUID NOT NULL, -- ← related_transaction_id   (FK at cutover)
    relation_type VARCHAR(50),          -- ← relation_type ('REFUND_OF', 'SPLIT_FROM', 'TRANSFER_PAIR')
    PRIMARY KEY (transaction_id, related_transaction_id)
);
CREATE INDEX idx_transaction_relations_related ON transaction_relations(related_transaction_id); -- (not in seed)

-- Exchange rates ← stripe-db exchange_rates
CREATE TABLE exchange_rates (
    id UUID PRIMARY KEY,                -- ← id
    name VARCHAR(255),                  -- ← name
    from_currency VARCHAR(3),           -- ← from_currency
    to_currency VARCHAR(3),             -- ← to_currency
    price INT NOT NULL,                 -- ← price numeric(12,2) × 100
    amount INT NOT NULL,                -- ← amount (token count, not money: unscaled)
    keywords TEXT[],                    -- ← keywords
    meta_data JSONB,                    -- ← meta_data
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    deleted_on TIMESTAMP                -- ← deleted_on
);

-- History tables ← inventory-db inventory_item_{price,quantity,state}_history
CREATE TABLE inventory_price_history (
    id UUID PRIMARY KEY,                -- ← id
    inventory_item_id UUID NOT NULL,    -- ← inventory_item_id          (FK at cutover)
    old_value INT NOT NULL,             -- ← old_value numeric(12,2) × 100
    new_value INT NOT NULL,             -- ← new_value numeric(12,2) × 100
    changed_on TIMESTAMP NOT NULL       -- ← changed_on
);
CREATE INDEX idx_inventory_price_history_item ON inventory_price_history(inventory_item_id);       -- (not in seed)

CREATE TABLE inventory_quantity_history (
    id UUID PRIMARY KEY,                -- ← id
    inventory_item_id UUID NOT NULL,    -- ← inventory_item_id          (FK at cutover)
    old_value INT NOT NULL,             -- ← old_value
    new_value INT NOT NULL,             -- ← new_value
    changed_on TIMESTAMP NOT NULL       -- ← changed_on
);
CREATE INDEX idx_inventory_quantity_history_item ON inventory_quantity_history(inventory_item_id); -- (not in seed)

CREATE TABLE inventory_state_history (
    id UUID PRIMARY KEY,                -- ← id
    inventory_item_id UUID NOT NULL,    -- ← inventory_item_id          (FK at cutover)
    old_value VARCHAR(50) NOT NULL,     -- ← old_value
    new_value VARCHAR(50) NOT NULL,     -- ← new_value
    changed_on TIMESTAMP NOT NULL       -- ← changed_on
);
CREATE INDEX idx_inventory_state_history_item ON inventory_state_history(inventory_item_id);       -- (not in seed)
