-- Legacy source: peeq-inventory-db  (inventory-service, 28 Flyway migrations)  → target peeq_commerce (inventory_items, inventory_*_history)
--
-- Seed: the catalogue of purchasable items. inventory_item (PK id uuid; UNIQUE item_id varchar; type, state,
-- price, quantity, created_by_id; arrays associated_series, associated_subscriptions, associated_tags,
-- keywords, restricted_users; subscription fields recurring_payment, auto_expires, is_refundable,
-- limit_per_fan), and inventory_item_price_history / inventory_item_quantity_history /
-- inventory_item_state_history (audit of price, stock and state changes). Cross-database: subscriptions-db
-- (associated_subscriptions, and associated_series → series), tags-db (associated_tags), celebrity-db
-- (created_by_id). About 100,000 items, 3.0 GB including history. FINANCIAL.
--
-- Fixed decisions and choices:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * price is numeric(12,2) in major units, and the price history's old_value/new_value too. The target holds INT
--   cents (×100, exact).
-- * item_id is the business key other services use (wallet-db create_transaction.item_id, shoutout-db
--   mux_stream.inventory_item_id). It has the form '<type>-<slug>'.
-- * type holds 'SHOUTOUT', 'CLASS', 'EVENT', 'SUBSCRIPTION', 'CONTENT' or 'PRODUCT' (the target's CHECK list),
--   with no CHECK here. state is 'DRAFT', 'ACTIVE', 'SOLD_OUT', 'EXPIRED' or 'ARCHIVED'.
-- * History rows: id uuid PK, inventory_item_id (the item's uuid id), old_value, new_value and changed_on, all NOT
--   NULL as in the target. The service writes a history row only on a change, never on creation. They have plain
--   FKs to inventory_item (in-database).
-- * The table has no last_modified_on: the seed lists none and other components rely on this column list.

CREATE TABLE inventory_item (
    id                          uuid          NOT NULL,
    item_id                     varchar(255)  NOT NULL,
    type                        varchar(50)   NOT NULL,
    state                       varchar(50)   NOT NULL,
    price                       numeric(12,2),
    quantity                    integer,
    created_by_id               uuid          NOT NULL,
    currency                    varchar(3),
    associated_series           uuid[],
    associated_subscriptions    uuid[],
    associated_tags             uuid[],
    keywords                    varchar[],
    restricted_users            uuid[],
    recurring_payment           varchar(50),
    auto_expires                integer,
    is_refundable               boolean,
    limit_per_fan               integer,
    metadata                    jsonb,
    created_on                  timestamptz   NOT NULL,
    CONSTRAINT inventory_item_pkey PRIMARY KEY (id),
    CONSTRAINT uq_inventory_item_item_id UNIQUE (item_id)
);
CREATE INDEX idx_inventory_item_created_by ON inventory_item (created_by_id);
CREATE INDEX idx_inventory_item_type_state ON inventory_item (type, state);
CREATE INDEX idx_inventory_item_associated_tags ON inventory_item USING gin (associated_tags);

CREATE TABLE inventory_item_price_history (
    id                  uuid          NOT NULL,
    inventory_item_id   uuid          NOT NULL,
    old_value           numeric(12,2) NOT NULL,
    new_value           numeric(12,2) NOT NULL,
    changed_on          timestamptz   NOT NULL,
    CONSTRAINT inventory_item_price_history_pkey PRIMARY KEY (id),
    CONSTRAINT fk_inventory_item_price_history_item FOREIGN KEY (inventory_item_id) REFERENCES inventory_item (id)
);
CREATE INDEX idx_inventory_item_price_history_item ON inventory_item_price_history (inventory_item_id, changed_on);

CREATE TABLE inventory_item_quantity_history (
    id                  uuid          NOT NULL,
    inventory_item_id   uuid          NOT NULL,
    old_value           integer       NOT NULL,
    new_value           integer       NOT NULL,
    changed_on          timestamptz   NOT NULL,
    CONSTRAINT inventory_item_quantity_history_pkey PRIMARY KEY (id),
    CONSTRAINT fk_inventory_item_quantity_history_item FOREIGN KEY (inventory_item_id) REFERENCES inventory_item (id)
);
CREATE INDEX idx_inventory_item_quantity_history_item ON inventory_item_quantity_history (inventory_item_id, changed_on);

CREATE TABLE inventory_item_state_history (
    id                  uuid          NOT NULL,
    inventory_item_id   uuid          NOT NULL,
    old_value           varchar(50)   NOT NULL,
    new_value           varchar(50)   NOT NULL,
    changed_on          timestamptz   NOT NULL,
    CONSTRAINT inventory_item_state_history_pkey PRIMARY KEY (id),
    CONSTRAINT fk_inventory_item_state_history_item FOREIGN KEY (inventory_item_id) REFERENCES inventory_item (id)
);
CREATE INDEX idx_inventory_item_state_history_item ON inventory_item_state_history (inventory_item_id, changed_on);
