-- Legacy source: peeq-mux-livestream-db  (mux-livestream-service, 15 Flyway migrations)  → target peeq_media (media_streams, stream_type 'LIVESTREAM')
--
-- Seed: live broadcast streams on Mux. mux_livestreams (PK livestream_id uuid; name, description, inventory_info
-- JSON, group_id, created_by; indexed on group_id and created_on). Cross-database: inventory-db (through
-- inventory_info) and group-profile-db (group_id). About 10,000 streams, 0.5 GB.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * The creator column is created_by, not created_by_id, as the seed spells it.
-- * stream_key, stream_state and mux_info are added: a Mux livestream always has them, and the target
--   media_streams needs a source for them. last_modified_on feeds the target's modified_on.
-- * There is no inventory item column. The item is inside inventory_info (JSON, e.g. {"id": "<inventory_item.id
--   uuid>", "itemId": "...", "state": "..."}), and the mapping takes media_streams.inventory_item_id from
--   inventory_info->>'id'.

CREATE TABLE mux_livestreams (
    livestream_id       uuid          NOT NULL,
    name                varchar(255),
    description         text,
    stream_key          varchar(255),
    stream_state        varchar(50),
    mux_info            jsonb,
    inventory_info      jsonb,
    group_id            uuid,                         -- group-profile-db group_profiles.profile_id (implicit)
    created_by          uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT mux_livestreams_pkey PRIMARY KEY (livestream_id)
);
CREATE INDEX idx_mux_livestreams_group_id ON mux_livestreams (group_id);
CREATE INDEX idx_mux_livestreams_created_on ON mux_livestreams (created_on);
