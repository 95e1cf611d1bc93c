-- Target: peeq_events  (Events & Streaming). Sources: broadcast-db, stream-db, onsite-event-db, class-catalog-db.
--
-- The seed's design ("4. Events & Streaming Database"), with the same table names, column names and types, and
-- these transition rules (ARCHITECTURE.md):
-- * No FOREIGN KEYs here. The seed's REFERENCES clauses are in peeq_events.foreign-keys.sql and applied at cutover.
-- * PKs, CHECKs and the seed's four events indexes stay. The extra indexes marked "(not in seed)" cover FK child
--   columns (cutover validation, cascades, the reconciler's anti-joins).
-- * Timestamps stay TIMESTAMP (without zone) as the seed wrote them.
-- The "←" comments name the legacy source of each column (schemas/legacy/*.sql).

-- Unified events ← broadcasts ('BROADCAST'), streams ('STREAM'), on_site_events ('ONSITE'),
--                  class-catalog sessions ('CLASS_SESSION', if the mapping fans sessions out here too).
CREATE TABLE events (
    id UUID PRIMARY KEY,                -- ← id
    event_type VARCHAR(50) NOT NULL,    -- 'BROADCAST', 'STREAM', 'ONSITE', 'CLASS_SESSION' (constant per source)
    -- Polymorphic ID (legacy pattern)
    id_str VARCHAR(255),                -- ← broadcasts/streams.id_str
    id_type VARCHAR(50),                -- ← broadcasts/streams.id_type
    -- Basic info
    name VARCHAR(255),                  -- ← name
    description TEXT,                   -- ← description
    -- Creator
    created_by_id UUID NOT NULL,        -- ← created_by_id | on_site_events.created_by
    created_on TIMESTAMP NOT NULL,      -- ← created_on
    -- Scheduling
    starts_on TIMESTAMP,                -- ← starts_on
    stops_on TIMESTAMP,                 -- ← stops_on
    -- For onsite events
    event_date TIMESTAMP,               -- ← on_site_events.event_date (legacy `timestamp`, copied as is)
    event_sign_up_type VARCHAR(50),     -- ← on_site_events.event_sign_up_type
    -- Group/organization
    group_id UUID,                      -- ← on_site_events.group_id (peeq_users GROUP profile, cross-database)
    -- Inventory
    inventory_state VARCHAR(50),        -- ← on_site_events.inventory_state
    inventory_info JSONB,               -- ← on_site_events.inventory_info | sessions.inventory_info
    associated_item_ids UUID[],         -- ← broadcasts/streams.associated_item_ids (peeq_commerce.inventory_items.id elements)
    -- Integration
    mux_info JSONB,                     -- ← broadcasts/streams.mux_info
    meta_data JSONB,                    -- ← broadcasts/streams.meta_data
    CHECK (event_type IN ('BROADCAST', 'STREAM', 'ONSITE', 'CLASS_SESSION'))
);
CREATE INDEX idx_events_type ON events(event_type);
CREATE INDEX idx_events_date ON events(event_date);
CREATE INDEX idx_events_starts ON events(starts_on);
CREATE INDEX idx_events_group ON events(group_id);

-- Event check-ins (onsite events) ← onsite-event-db user_event_checkins
CREATE TABLE event_checkins (
    id UUID PRIMARY KEY,                -- ← id
    event_id UUID NOT NULL,             -- ← event_id                   (FK at cutover)
    user_id UUID NOT NULL,              -- ← user_id (peeq_users.profiles, cross-database)
    checked_in_at TIMESTAMP NOT NULL    -- ← checked_in_at
);
CREATE INDEX idx_event_checkins_event ON event_checkins(event_id);  -- (not in seed)

-- Classes (educational content) ← class-catalog-db classes
CREATE TABLE classes (
    id UUID PRIMARY KEY,                -- ← id
    name VARCHAR(255) NOT NULL,         -- ← name
    description TEXT NOT NULL,          -- ← description (nullable in legacy: NULL is parked)
    prerequisites TEXT,                 -- ← prerequisites
    blog_id UUID,                       -- ← blog_id
    group_id UUID,                      -- ← group_id (peeq_users GROUP profile, cross-database)
    created_by_id UUID NOT NULL,        -- ← created_by_id
    created_on TIMESTAMP NOT NULL       -- ← created_on
);

-- ← class_thumbnails
CREATE TABLE class_thumbnails (
    class_id UUID NOT NULL,             -- ← class_id                   (FK at cutover)
    thumbnail_url TEXT,                 -- ← thumbnail_url (NOT NULL in effect: part of the PK)
    PRIMARY KEY (class_id, thumbnail_url)
);

-- ← class_details
CREATE TABLE class_details (
    id UUID PRIMARY KEY,                -- ← id
    class_id UUID NOT NULL,             -- ← class_id                   (FK at cutover)
    name VARCHAR(255) NOT NULL,         -- ← name
    description TEXT NOT NULL,          -- ← description (nullable in legacy: NULL is parked)
    display_order INT NOT NULL          -- ← display_order
);
CREATE INDEX idx_class_details_class ON class_details(class_id);    -- (not in seed)

-- ← class_associated_tags
CREATE TABLE class_tags (
    class_id UUID NOT NULL,             -- ← class_id                   (FK at cutover)
    tag_id UUID NOT NULL,               -- ← tag_id (peeq_platform.tags.id, cross-database)
    PRIMARY KEY (class_id, tag_id)
);

-- ← class_badges
CREATE TABLE class_badges (
    class_id UUID NOT NULL,             -- ← class_id                   (FK at cutover)
    badge_id VARCHAR(255),              -- ← badge_id (NOT NULL in effect: part of the PK)
    PRIMARY KEY (class_id, badge_id)
);

-- ← class-catalog-db sessions
CREATE TABLE class_sessions (
    id UUID PRIMARY KEY,                -- ← id
    class_id UUID,                      -- ← class_id                   (FK at cutover)
    attendance_format VARCHAR(50),      -- ← attendance_format ('ONLINE', 'ONSITE', 'HYBRID')
    inventory_info JSONB,               -- ← inventory_info
    original_price INT                  -- ← original_price numeric(12,2) × 100
);
CREATE INDEX idx_class_sessions_class ON class_sessions(class_id);  -- (not in seed)

-- ← session_instructors
CREATE TABLE session_instructors (
    session_id UUID NOT NULL,           -- ← session_id                 (FK at cutover)
    instructor_id UUID NOT NULL,        -- ← instructor_id (peeq_users CELEBRITY profile, cross-database)
    PRIMARY KEY (session_id, instructor_id)
);
