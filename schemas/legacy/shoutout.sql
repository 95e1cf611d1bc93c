-- Legacy source: peeq-shoutout-db  (shoutout-service, 23 Flyway migrations)  → target peeq_media (media_streams, stream_type 'SHOUTOUT')
--
-- Seed: streams of personalised video messages. mux_stream (PK id uuid; created_by_id, inventory_item_id,
-- stream_state, stream_key; mux_info JSON, inventory_info JSON). Cross-database: inventory-db through
-- inventory_item_id, which the seed's implicit-relationship table says points at inventory-db item_id (the
-- varchar business key), not at its uuid id. About 50,000 streams, 1.0 GB.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * inventory_item_id is varchar(255) and holds inventory_item.item_id, as the seed's implicit-relationship table
--   says, although the name suggests a uuid. The target media_streams.inventory_item_id is a UUID, so the mapping
--   needs the same item_id → inventory_items.id identity lookup as wallet-db's create_transaction.item_id.
-- * name, description, created_on and last_modified_on are added: the target has name/description (nullable),
--   created_on NOT NULL and modified_on. A shoutout gets a title ("Happy birthday, Sam").
-- * stream_state holds Mux's values ('idle', 'active', 'disabled') as Mux returns them.

CREATE TABLE mux_stream (
    id                  uuid          NOT NULL,
    created_by_id       uuid          NOT NULL,       -- celebrity Keycloak id
    inventory_item_id   varchar(255),                 -- inventory-db inventory_item.item_id (implicit)
    name                varchar(255),
    description         text,
    stream_state        varchar(50),
    stream_key          varchar(255),
    mux_info            jsonb,
    inventory_info      jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT mux_stream_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_mux_stream_created_by ON mux_stream (created_by_id);
CREATE INDEX idx_mux_stream_inventory_item ON mux_stream (inventory_item_id);
