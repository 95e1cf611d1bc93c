-- Legacy source: peeq-broadcast-db  (broadcast-service, 23 Flyway migrations)  → target peeq_events (events,
-- event_type 'BROADCAST')
--
-- Seed: live broadcast event scheduling. broadcasts (PK id uuid; id_str and id_type, a polymorphic id pattern;
-- created_by_id, name, description; created_on, starts_on, stops_on; mux_info JSON, meta_data JSON;
-- associated_item_ids array of inventory items). Cross-database: inventory-db (associated_item_ids →
-- inventory_item.id), mux-livestream-db (mux_info). The seed lists no created_by_id for broadcasts, but streams
-- are "identical" and the target's created_by_id is NOT NULL, so broadcasts have it too.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * broadcast-db broadcasts and stream-db streams have exactly the same columns, types and indexes. Only the
--   table name differs.
-- * id_str/id_type is the polymorphic "owner" of the row: id_type names the kind of thing ('CLASS', 'SESSION',
--   'EVENT', 'USER', ...) and id_str its id as text (not always a uuid).
-- * associated_item_ids is uuid[] of inventory-db inventory_item.id values (the uuid, not item_id).
-- * mux_info / meta_data can be large (TOASTed), so an update that leaves them unchanged must not blank them.

CREATE TABLE broadcasts (
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
    CONSTRAINT broadcasts_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_broadcasts_id_type_id_str ON broadcasts (id_type, id_str);
CREATE INDEX idx_broadcasts_created_by ON broadcasts (created_by_id);
CREATE INDEX idx_broadcasts_starts_on ON broadcasts (starts_on);
