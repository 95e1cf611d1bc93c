-- Target: peeq_media  (Content & Media). Sources: content-db, media-db, shoutout-db, mux-livestream-db.
--
-- The seed's design ("2. Content & Media Database"), with the same table names, column names and types, and these
-- transition rules (ARCHITECTURE.md):
-- * The seed declares no FOREIGN KEY inside peeq_media. Every reference here crosses databases (owner_id and
--   created_by → peeq_users.profiles; inventory_item_id → peeq_commerce.inventory_items; group_id → peeq_users
--   GROUP profiles), so the reconciler checks them (references.yaml) and peeq_media.foreign-keys.sql is empty.
-- * PKs, CHECKs and indexes stay. Timestamps stay TIMESTAMP (without zone) as the seed wrote them.
-- * The extra indexes marked "(not in seed)" serve the reconciler's cross-database dangling checks on owner and
--   creator.
-- The "←" comments name the legacy source of each column (schemas/legacy/*.sql).

-- Unified media files ← media-db files (key content_id), content-db files (key content_id; its varchar id is the storage key).
CREATE TABLE media_files (
    id UUID PRIMARY KEY,                -- ← media files.content_id | content files.content_id
    owner_id UUID NOT NULL,             -- ← owner_id   (peeq_users.profiles, cross-database)
    media_type VARCHAR(50) NOT NULL,    -- ← media type 'photo'→IMAGE,'video'→VIDEO | content mime_type family
    content_source VARCHAR(50),         -- 'UPLOAD' for both file sources; 'MUX_STREAM', 'MUX_LIVESTREAM', 'SHOUTOUT' reserved
    -- File metadata
    mime_type VARCHAR(255),             -- ← mime_type
    content_length BIGINT,              -- ← content_length
    content_md5 VARCHAR(32),            -- ← content_md5
    -- Media-specific
    duration INT,                       -- ← media files.duration
    width INT,                          -- ← media files.width
    height INT,                         -- ← media files.height
    -- Storage
    storage_url TEXT,                   -- ← media files.url | content files.id (storage key)
    content_secret VARCHAR(255),        -- ← media files.content_secret
    -- State
    state VARCHAR(50),                  -- ← media files.state ('PROCESSING', 'READY', 'FAILED', 'DELETED')
    -- Integration JSON
    mux_info JSONB,                     -- ← media files.mux_info
    media_info JSONB,                   -- ← media files.media_info
    -- Inventory link (optional)
    inventory_item_id UUID,             -- ← media files.inventory_item_id (peeq_commerce.inventory_items, cross-database)
    -- Audit
    created_at TIMESTAMP NOT NULL,      -- ← created_on
    last_modified_on TIMESTAMP NOT NULL,-- ← media files.last_modified_on, else created_on
    CHECK (media_type IN ('IMAGE', 'VIDEO', 'AUDIO', 'DOCUMENT'))
);
CREATE INDEX idx_media_files_owner ON media_files(owner_id);                    -- (not in seed)
CREATE INDEX idx_media_files_inventory_item ON media_files(inventory_item_id);  -- (not in seed)

-- ← shoutout-db mux_stream ('SHOUTOUT'), mux-livestream-db mux_livestreams ('LIVESTREAM'). No source feeds 'BROADCAST' (docs/schemas.md).
CREATE TABLE media_streams (
    id UUID PRIMARY KEY,                -- ← mux_stream.id | mux_livestreams.livestream_id
    stream_type VARCHAR(50) NOT NULL,   -- 'SHOUTOUT', 'LIVESTREAM', 'BROADCAST'
    created_by UUID NOT NULL,           -- ← mux_stream.created_by_id | mux_livestreams.created_by
    name TEXT,                          -- ← name
    description TEXT,                   -- ← description
    stream_state VARCHAR(50),           -- ← stream_state
    stream_key VARCHAR(255),            -- ← stream_key
    -- Mux integration
    mux_info JSONB,                     -- ← mux_info
    -- Inventory
    inventory_item_id UUID,             -- ← mux_stream.inventory_item_id (varchar item_id → id lookup) | mux_livestreams.inventory_info->>'id'
    -- Group association
    group_id UUID,                      -- ← mux_livestreams.group_id (peeq_users GROUP profile, cross-database)
    -- Timestamps
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    modified_on TIMESTAMP,              -- ← last_modified_on
    CHECK (stream_type IN ('SHOUTOUT', 'LIVESTREAM', 'BROADCAST'))
);
CREATE INDEX idx_media_streams_created_by ON media_streams(created_by);         -- (not in seed)
CREATE INDEX idx_media_streams_group ON media_streams(group_id);                -- (not in seed)
