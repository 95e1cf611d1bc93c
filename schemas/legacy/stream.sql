-- Legacy source: peeq-stream-db  (stream-service, 13 Flyway migrations)  → target peeq_events (events, event_type
-- 'STREAM')
--
-- Seed: generic stream management, "identical schema to broadcasts table" and "an exact duplicate of broadcast-db
-- structure". streams (PK id uuid; id_str and id_type, a polymorphic id pattern;
-- created_by_id, name, description; created_on, starts_on, stops_on; mux_info JSON, meta_data JSON;
-- associated_item_ids array of inventory items). Cross-database: inventory-db (associated_item_ids →
-- inventory_item.id).
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * broadcast-db broadcasts and stream-db streams have exactly the same columns, types and indexes. Only the
--   table name differs.
-- * id_str/id_type is the polymorphic "owner" of the row: id_type names the kind of thing ('CLASS', 'SESSION',
--   'EVENT', 'USER', ...) and id_str its id as text (not always a uuid).
-- * associated_item_ids is uuid[] of inventory-db inventory_item.id values (the uuid, not item_id).
-- * mux_info / meta_data can be large (TOASTed), so an update that leaves them unchanged must not blank them.

CREATE TABLE streams (
    id                  uuid          NOT NULL,
    id_str              varchar(255),
    id_type             varchar(50),
    created_by_id       uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamptz   NOT NULL,
    starts_on           timestamptz,
    stops_on            timestamptz,
    name                varchar(255),
    description         text,
    mux_info            jsonb,
    meta_data           jsonb,
    associated_item_ids uuid[],
    CONSTRAINT streams_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_streams_id_type_id_str ON streams (id_type, id_str);
CREATE INDEX idx_streams_created_by ON streams (created_by_id);
CREATE INDEX idx_streams_starts_on ON streams (starts_on);
