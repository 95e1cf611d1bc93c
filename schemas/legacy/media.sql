-- Legacy source: peeq-media-db  (media-service, 27 Flyway migrations)  → target peeq_media (media_files)
--
-- Seed: rich media files with Mux integration. files (PK content_id uuid; owner_id, content_length, content_md5,
-- mime_type, content_secret; duration, height, width, type photo/video, state; media_info JSON, mux_info JSON;
-- thumbnail_for "references another file as thumbnail"). files_price_history is a "pricing audit trail
-- (referenced in schema but not in V1)", and there are "history tables for state transitions (likely in later
-- migrations)". A superset of content-db's files. About 500,000 files, 5.0 GB of metadata.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * type holds 'photo' or 'video' (lowercase, as in the seed). The mapping turns them into IMAGE / VIDEO.
-- * state holds 'PROCESSING', 'READY', 'FAILED' or 'DELETED', the target's vocabulary.
-- * The seed implies columns it does not list: files_price_history means files have a price, so there are price
--   numeric(12,2) and currency. A price implies a sellable item, so there is inventory_item_id uuid, the
--   inventory-db inventory_item.id of the CONTENT item that sells the file (the target's inventory_item_id needs a
--   source). The target's storage_url needs one too, so there is url text, the S3/CDN object URL. name is there
--   because media-db is a superset of content-db.
-- * files_price_history and files_state_history take the inventory-db history shape: id uuid PK, the file's
--   content_id, old_value / new_value, changed_on. Their FKs point at files (written by the same service in the
--   same transaction as the change). The seed gives these two tables no target (see docs/schemas.md).
-- * thumbnail_for is a plain self-FK (JPA @ManyToOne): a thumbnail row points at the file it illustrates.
--   thumbnail_for has no target column either.
-- * media_info / mux_info can be large (TOASTed), so an update that leaves them unchanged must not blank them.

CREATE TABLE files (
    content_id          uuid          NOT NULL,
    owner_id            uuid          NOT NULL,       -- Keycloak user id
    name                varchar(255),
    content_length      bigint,
    content_md5         varchar(32),
    mime_type           varchar(255),
    content_secret      varchar(255),
    url                 text,                         -- S3/CDN object URL
    duration            integer,                      -- seconds
    height              integer,
    width               integer,
    type                varchar(50),                  -- 'photo' | 'video'
    state               varchar(50),                  -- 'PROCESSING' | 'READY' | 'FAILED' | 'DELETED'
    price               numeric(12,2),
    currency            varchar(3),
    inventory_item_id   uuid,                         -- inventory-db inventory_item.id (implicit)
    media_info          jsonb,
    mux_info            jsonb,
    thumbnail_for       uuid,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT files_pkey PRIMARY KEY (content_id),
    CONSTRAINT fk_files_thumbnail_for FOREIGN KEY (thumbnail_for) REFERENCES files (content_id)
);
CREATE INDEX idx_files_owner ON files (owner_id);
CREATE INDEX idx_files_thumbnail_for ON files (thumbnail_for);
CREATE INDEX idx_files_state ON files (state);
CREATE INDEX idx_files_inventory_item ON files (inventory_item_id);

CREATE TABLE files_price_history (
    id                  uuid          NOT NULL,
    content_id          uuid          NOT NULL,
    old_value           numeric(12,2),                -- NULL when the file had no price before
    new_value           numeric(12,2),                -- NULL when the price was removed
    changed_on          timestamptz   NOT NULL,
    CONSTRAINT files_price_history_pkey PRIMARY KEY (id),
    CONSTRAINT fk_files_price_history_file FOREIGN KEY (content_id) REFERENCES files (content_id)
);
CREATE INDEX idx_files_price_history_file ON files_price_history (content_id, changed_on);

CREATE TABLE files_state_history (
    id                  uuid          NOT NULL,
    content_id          uuid          NOT NULL,
    old_value           varchar(50),
    new_value           varchar(50)   NOT NULL,
    changed_on          timestamptz   NOT NULL,
    CONSTRAINT files_state_history_pkey PRIMARY KEY (id),
    CONSTRAINT fk_files_state_history_file FOREIGN KEY (content_id) REFERENCES files (content_id)
);
CREATE INDEX idx_files_state_history_file ON files_state_history (content_id, changed_on);
