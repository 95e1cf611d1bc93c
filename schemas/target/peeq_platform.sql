-- Target: peeq_platform  (Platform Services). Sources: message-board-db, sse-db, tags-db, notification-service-db.
--
-- The seed's design ("5. Platform Services Database"), with the same table names, column names and types, and
-- these transition rules (ARCHITECTURE.md):
-- * No FOREIGN KEYs here. The seed's REFERENCES clauses are in peeq_platform.foreign-keys.sql and applied at
--   cutover.
-- * PKs, CHECKs and the seed's indexes stay. The extra indexes marked "(not in seed)" cover FK child columns.
-- * Non-PK UNIQUE constraints are named and DEFERRABLE INITIALLY IMMEDIATE, EXCEPT
--   notification_templates.template_key. The FK fk_notifications_template references it, and PostgreSQL refuses a
--   deferrable unique constraint as an FK target, so that constraint stays plain (not deferrable).
-- * created_at DEFAULT NOW() on group_messages and status DEFAULT 'PENDING' on notifications are the seed's. The
--   pipeline writes those columns explicitly.
-- * Timestamps stay TIMESTAMP (without zone) as the seed wrote them.
-- The "←" comments name the legacy source of each column (schemas/legacy/*.sql).

-- Tags (centralized taxonomy) ← tags-db tags
CREATE TABLE tags (
    id UUID PRIMARY KEY,                -- ← id
    name VARCHAR(255) NOT NULL,         -- ← name
    description TEXT,                   -- ← description
    tag_type VARCHAR(50) NOT NULL,      -- ← type ('CATEGORY', 'SKILL', 'SPORT', 'TOPIC')
    color VARCHAR(7),                   -- ← color (hex '#RRGGBB')
    thumbnail VARCHAR(255),             -- ← thumbnail
    keywords TEXT[],                    -- ← keywords
    associated_tags UUID[],             -- ← associated_tags (tags.id elements)
    meta_data JSONB,                    -- ← meta_data
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    created_by_id UUID,                 -- ← created_by_id
    last_modified_on TIMESTAMP,         -- ← last_modified_on
    updated_by_id UUID                  -- ← updated_by_id
);
CREATE INDEX idx_tags_type ON tags(tag_type);
CREATE INDEX idx_tags_name ON tags(name);

-- Real-time groups (SSE, message boards) ← message-board-db message_boards ('MESSAGE_BOARD'), sse-db groups ('SSE')
CREATE TABLE realtime_groups (
    id UUID PRIMARY KEY,                -- ← id
    group_type VARCHAR(50) NOT NULL,    -- 'SSE', 'MESSAGE_BOARD', 'CHAT' (constant per source; no source feeds 'CHAT')
    -- Polymorphic ID
    id_str VARCHAR(255),                -- ← id_str
    id_type VARCHAR(50),                -- ← id_type
    -- Basic info
    name VARCHAR(255),                  -- ← message_boards.name
    description TEXT,                   -- ← message_boards.description
    -- Creator
    created_by_id UUID NOT NULL,        -- ← created_by_id
    created_on TIMESTAMP NOT NULL,      -- ← created_on (sse: legacy `timestamp`, copied as is)
    -- Lifecycle
    starts_on TIMESTAMP,                -- ← message_boards.starts_on
    stops_on TIMESTAMP,                 -- ← message_boards.stops_on
    -- Inventory
    associated_item_ids UUID[],         -- ← associated_item_ids (peeq_commerce.inventory_items.id elements)
    -- Metadata
    meta_data JSONB,                    -- ← meta_data
    CHECK (group_type IN ('SSE', 'MESSAGE_BOARD', 'CHAT'))
);

-- ← message-board-db members, sse-db members
CREATE TABLE group_members (
    id UUID PRIMARY KEY,                -- ← id
    group_id UUID NOT NULL,             -- ← members.message_board_id | members.group_id   (FK at cutover)
    user_id UUID NOT NULL,              -- ← user_id (peeq_users.profiles, cross-database)
    name VARCHAR(255),                  -- ← message-board members.name
    added_on TIMESTAMP NOT NULL,        -- ← added_on
    removed_on TIMESTAMP,               -- ← message-board members.removed_on
    meta_data JSONB,                    -- ← meta_data
    CONSTRAINT uq_group_members_group_user_removed UNIQUE (group_id, user_id, removed_on) DEFERRABLE INITIALLY IMMEDIATE
);

-- ← message-board-db messages
CREATE TABLE group_messages (
    id UUID PRIMARY KEY,                -- ← id
    group_id UUID NOT NULL,             -- ← message_board_id           (FK at cutover)
    member_id UUID NOT NULL,            -- ← members_id                 (FK at cutover)
    message_content TEXT NOT NULL,      -- ← message_content
    message_content_type VARCHAR(50),   -- ← message_content_type ('TEXT', 'IMAGE', 'VIDEO', 'RICH')
    meta_data JSONB,                    -- ← meta_data
    created_at TIMESTAMP NOT NULL DEFAULT NOW() -- ← created_on
);
CREATE INDEX idx_group_messages_group ON group_messages(group_id);    -- (not in seed)
CREATE INDEX idx_group_messages_member ON group_messages(member_id);  -- (not in seed)

-- Notifications ← notification-service-db notification_templates
CREATE TABLE notification_templates (
    id UUID PRIMARY KEY,                -- ← id
    template_key VARCHAR(255) NOT NULL, -- ← template_key
    channel VARCHAR(50) NOT NULL,       -- ← channel ('EMAIL', 'SMS', 'PUSH', 'IN_APP')
    subject TEXT,                       -- ← subject
    body_template TEXT NOT NULL,        -- ← body_template
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    -- Referenced by fk_notifications_template (foreign-keys file): must NOT be deferrable.
    CONSTRAINT uq_notification_templates_template_key UNIQUE (template_key)
);

-- ← notification-service-db notifications
CREATE TABLE notifications (
    id UUID PRIMARY KEY,                -- ← id
    user_id UUID NOT NULL,              -- ← user_id (peeq_users.profiles, cross-database)
    template_key VARCHAR(255),          -- ← template_key               (FK at cutover)
    channel VARCHAR(50) NOT NULL,       -- ← channel
    -- Content (rendered from template)
    subject TEXT,                       -- ← subject
    body TEXT NOT NULL,                 -- ← body
    -- State
    status VARCHAR(50) DEFAULT 'PENDING', -- ← status ('PENDING', 'SENT', 'FAILED', 'READ')
    -- Metadata
    meta_data JSONB,                    -- ← meta_data
    -- Audit
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    sent_on TIMESTAMP,                  -- ← sent_on
    read_on TIMESTAMP,                  -- ← read_on
    CHECK (channel IN ('EMAIL', 'SMS', 'PUSH', 'IN_APP')),
    CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'READ'))
);
CREATE INDEX idx_notifications_user ON notifications(user_id, status);
CREATE INDEX idx_notifications_status ON notifications(status, created_on);
CREATE INDEX idx_notifications_template_key ON notifications(template_key);   -- (not in seed)
