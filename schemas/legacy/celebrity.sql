-- Legacy source: peeq-celebrity-db  (celebrity-service, 19 Flyway migrations)  → target peeq_users
--
-- Seed: expert/athlete profiles. celebrity_profiles (PK celebrity_user_id uuid = Keycloak user id;
-- bio, display_name, first_name, last_name, status, metadata, created_on), celebrity_profile_status_history
-- (audit trail of status changes), celebrity_profile_image (URL, not binary), celebrity_profile_tags
-- (many-to-many with tags-db "via UUIDs in celebrity_profile_tags.tags"), celebrity_profile_banners (V16),
-- profile_short_links (V15, custom URL slugs), cameo_offer and shoutout_offer (pricing and availability).
-- V8 moved celebrity_user_id from a code to a UUID, V17 added store_code, V18 added display_weight.
-- About 5,000 profiles, 0.5 GB including images, tags and history.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * The seed says "metadata" for the profile's JSON. The column is meta_data jsonb, like fan_profiles.meta_data
--   and the target profiles.meta_data.
-- * display_name is a column, because the target needs it. The seed names it in one list and leaves it out of the
--   other. first_name and last_name have no target column.
-- * celebrity_profile_tags.tags is a uuid[] of tags-db ids, one row per celebrity (the seed speaks of "UUIDs in
--   celebrity_profile_tags.tags"). The mapping explodes the array into peeq_users.profile_tags.
-- * celebrity_profile_status_history has a uuid PK. It has no FK to celebrity_profiles: an audit trail outlives
--   the profile it describes. The other child tables have plain FKs (JPA @ManyToOne, no ON DELETE).
-- * Images and banners carry their own uuid PK and a created_on, because the target profile_images needs both.
-- * cameo_offer and shoutout_offer: one row per offer, price numeric(12,2) in major units like inventory. The
--   seed gives no target for these tables, nor for profile_short_links (see docs/schemas.md).
-- * Legacy columns are nullable unless the service always sets them (keys, created_on).

CREATE TABLE celebrity_profiles (
    celebrity_user_id   uuid          NOT NULL,
    first_name          varchar(255),
    last_name           varchar(255),
    display_name        varchar(255),
    bio                 text,
    status              varchar(50),
    store_code          varchar(50),                -- V17
    display_weight      integer,                    -- V18
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT celebrity_profiles_pkey PRIMARY KEY (celebrity_user_id)
);
CREATE INDEX idx_celebrity_profiles_status ON celebrity_profiles (status);
CREATE INDEX idx_celebrity_profiles_display_weight ON celebrity_profiles (display_weight);
CREATE INDEX idx_celebrity_profiles_store_code ON celebrity_profiles (store_code);

CREATE TABLE celebrity_profile_status_history (
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    status              varchar(50)   NOT NULL,
    occurred_on         timestamptz   NOT NULL,
    meta_data           jsonb,                      -- previous status, who changed it, reason
    CONSTRAINT celebrity_profile_status_history_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_celebrity_profile_status_history_user ON celebrity_profile_status_history (celebrity_user_id, occurred_on);

CREATE TABLE celebrity_profile_image (
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    url                 text          NOT NULL,
    created_on          timestamptz   NOT NULL,
    CONSTRAINT celebrity_profile_image_pkey PRIMARY KEY (id),
    CONSTRAINT fk_celebrity_profile_image_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_celebrity_profile_image_user ON celebrity_profile_image (celebrity_user_id);

CREATE TABLE celebrity_profile_tags (
    celebrity_user_id   uuid          NOT NULL,
    tags                uuid[]        NOT NULL DEFAULT '{}',   -- tags-db tags.id values
    CONSTRAINT celebrity_profile_tags_pkey PRIMARY KEY (celebrity_user_id),
    CONSTRAINT fk_celebrity_profile_tags_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_celebrity_profile_tags_tags ON celebrity_profile_tags USING gin (tags);

CREATE TABLE celebrity_profile_banners (                -- V16
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    url                 text          NOT NULL,
    display_order       integer,
    created_on          timestamptz   NOT NULL,
    CONSTRAINT celebrity_profile_banners_pkey PRIMARY KEY (id),
    CONSTRAINT fk_celebrity_profile_banners_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_celebrity_profile_banners_user ON celebrity_profile_banners (celebrity_user_id);

CREATE TABLE profile_short_links (                      -- V15
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    short_link          varchar(255)  NOT NULL,        -- the custom URL slug
    created_on          timestamptz   NOT NULL,
    CONSTRAINT profile_short_links_pkey PRIMARY KEY (id),
    CONSTRAINT uq_profile_short_links_short_link UNIQUE (short_link),
    CONSTRAINT fk_profile_short_links_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_profile_short_links_user ON profile_short_links (celebrity_user_id);

CREATE TABLE cameo_offer (
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    price               numeric(12,2),
    currency            varchar(3),
    is_available        boolean       NOT NULL DEFAULT false,
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT cameo_offer_pkey PRIMARY KEY (id),
    CONSTRAINT fk_cameo_offer_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_cameo_offer_user ON cameo_offer (celebrity_user_id);

CREATE TABLE shoutout_offer (
    id                  uuid          NOT NULL,
    celebrity_user_id   uuid          NOT NULL,
    price               numeric(12,2),
    currency            varchar(3),
    is_available        boolean       NOT NULL DEFAULT false,
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT shoutout_offer_pkey PRIMARY KEY (id),
    CONSTRAINT fk_shoutout_offer_profile FOREIGN KEY (celebrity_user_id)
        REFERENCES celebrity_profiles (celebrity_user_id)
);
CREATE INDEX idx_shoutout_offer_user ON shoutout_offer (celebrity_user_id);
