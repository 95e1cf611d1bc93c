-- Target: peeq_users  (User & Identity). Sources: celebrity-db, fan-db, group-profile-db.
--
-- The seed's design ("1. User & Identity Database"), with the same table names, column names and types, and these
-- transition rules (ARCHITECTURE.md "Foreign keys during the transition"):
-- * No FOREIGN KEYs here. The seed's REFERENCES clauses (and Appendix B's fk_fan_follows_*) are in
--   peeq_users.foreign-keys.sql and applied at cutover. Enforced while syncing, they would reject orphans the
--   legacy world still holds, and their ON DELETE CASCADEs would delete rows the sources still have.
-- * PKs, CHECKs and the seed's indexes stay. Non-PK UNIQUE constraints are named and DEFERRABLE INITIALLY
--   IMMEDIATE, so the sink can defer them inside a transaction and a set-based batch can swap values. A deferrable
--   constraint cannot be an ON CONFLICT arbiter, so upserts go through the PK.
-- * The extra indexes marked "(not in seed)" cover FK child columns. Cutover's constraint validation, the
--   cascades after cutover and the reconciler's dangling-reference anti-joins use them.
-- * Timestamps stay TIMESTAMP (without zone) as the seed wrote them. The mapping converts timestamptz sources to
--   UTC.
-- The "←" comments name the legacy source of each column (schemas/legacy/*.sql).

-- Unified profiles with a type discriminator.
--   CELEBRITY ← celebrity-db celebrity_profiles; FAN ← fan-db fan_profiles; GROUP ← group-profile-db group_profiles.
CREATE TABLE profiles (
    id UUID PRIMARY KEY,                -- ← celebrity_user_id | fan_user_id | profile_id
    keycloak_id UUID NOT NULL,          -- ← celebrity_user_id | fan_user_id | profile_id (groups have no Keycloak user)
    profile_type VARCHAR(50) NOT NULL,  -- 'CELEBRITY', 'FAN', 'GROUP' (constant per source)
    created_on TIMESTAMP NOT NULL,      -- ← created_on (all three)
    meta_data JSONB,                    -- ← meta_data (all three)
    -- Celebrity-specific
    bio TEXT,                           -- ← celebrity_profiles.bio | group_profiles.description
    display_name VARCHAR(255),          -- ← celebrity_profiles.display_name | group_profiles.name
    status VARCHAR(50),                 -- ← celebrity_profiles.status
    display_weight INT,                 -- ← celebrity_profiles.display_weight (V18)
    store_code VARCHAR(50),             -- ← celebrity_profiles.store_code (V17)
    -- Group-specific
    parent_group_id UUID,               -- ← group_profiles.parent_group_profile_id   (FK at cutover)
    is_approved BOOLEAN,                -- ← group_profiles.is_approved
    owner_id UUID,                      -- ← group_profiles.owner_id                  (FK at cutover)
    CONSTRAINT uq_profiles_keycloak_id UNIQUE (keycloak_id) DEFERRABLE INITIALLY IMMEDIATE,
    CHECK (profile_type IN ('CELEBRITY', 'FAN', 'GROUP'))
);
CREATE INDEX idx_profiles_parent_group ON profiles(parent_group_id);   -- (not in seed)
CREATE INDEX idx_profiles_owner ON profiles(owner_id);                 -- (not in seed)

-- ← celebrity_profile_image ('PROFILE'), celebrity_profile_banners ('BANNER'), group-profile profile_thumbnails ('THUMBNAIL')
CREATE TABLE profile_images (
    id UUID PRIMARY KEY,                -- ← id
    profile_id UUID NOT NULL,           -- ← celebrity_user_id | profile_id           (FK at cutover)
    image_type VARCHAR(50),             -- 'PROFILE', 'BANNER', 'THUMBNAIL'
    url TEXT NOT NULL,                  -- ← url
    created_on TIMESTAMP NOT NULL       -- ← created_on
);
CREATE INDEX idx_profile_images_profile ON profile_images(profile_id); -- (not in seed)

-- ← celebrity_profile_tags.tags (uuid[] exploded, one row per element), group-profile profile_tags_association
CREATE TABLE profile_tags (
    profile_id UUID NOT NULL,           -- ← celebrity_user_id | profile_id           (FK at cutover)
    tag_id UUID NOT NULL,               -- ← tags[i] | tag_id   (peeq_platform.tags.id, cross-database)
    PRIMARY KEY (profile_id, tag_id)
);

-- ← fan-db fan_follows
CREATE TABLE fan_follows (
    id UUID PRIMARY KEY,                -- ← id (varchar(32) md5 hex, cast to uuid)
    fan_id UUID NOT NULL,               -- ← fan_user_id                              (FK at cutover)
    celebrity_id UUID NOT NULL,         -- ← celeb_user_id                            (FK at cutover)
    followed_on TIMESTAMP NOT NULL,     -- ← followed_on
    unfollowed_on TIMESTAMP,            -- ← unfollowed_on
    notifications JSONB,                -- ← notifications (JSON array)
    CONSTRAINT uq_fan_follows_fan_celebrity UNIQUE (fan_id, celebrity_id) DEFERRABLE INITIALLY IMMEDIATE
);
CREATE INDEX idx_fan_follows_celebrity ON fan_follows(celebrity_id);   -- (not in seed)

-- ← celebrity-db celebrity_profile_status_history
CREATE TABLE profile_status_history (
    id UUID PRIMARY KEY,                -- ← id
    profile_id UUID NOT NULL,           -- ← celebrity_user_id                        (FK at cutover)
    status VARCHAR(50) NOT NULL,        -- ← status
    occurred_on TIMESTAMP NOT NULL,     -- ← occurred_on
    meta_data JSONB                     -- ← meta_data
);
CREATE INDEX idx_profile_status_history_profile ON profile_status_history(profile_id); -- (not in seed)
