-- Legacy source: peeq-group-profile-db  (group-profile-service, 11 Flyway migrations)  → target peeq_users
--
-- Seed: groups, teams and organisations as collections of celebrities. group_profiles (PK profile_id uuid;
-- name, description, group_profile_type, is_approved, is_deleted, owner_id, parent_group_profile_id,
-- self-referencing for hierarchies), profile_thumbnails (group images, many-to-one), group_profile_tags
-- ("tag definitions"), group_profile_celebs ("celebrity definitions"), profile_tags_association (group-to-tag
-- many-to-many) and profile_celebs_association (group-to-celebrity many-to-many, celeb_user_id points at
-- celebrity-db implicitly). About 500 groups, 0.1 GB.
--
-- Choices where the seed is vague:
-- * TIMESTAMPS ARE `timestamp` WITHOUT TIME ZONE in this database, one of the few older services that do. Its V1
--   predates the timestamptz convention: JPA LocalDateTime written by a JVM running in UTC, so the values are
--   UTC wall-clock. The mapping copies them unchanged into the target's TIMESTAMP columns.
-- * group_profile_tags and group_profile_celebs are the group service's local copies of the things it links to
--   (JPA entities behind @ManyToMany). Each is keyed by the foreign id itself: group_profile_tags.tag_id is the
--   tags-db tags.id, and group_profile_celebs.celeb_user_id is the celebrity's Keycloak id. The association
--   tables therefore hold foreign ids directly, and profile_tags_association maps to peeq_users.profile_tags
--   with no lookup.
-- * In-database relationships have plain FKs (Hibernate-generated, no ON DELETE): the parent self-reference,
--   the thumbnails and both association tables.
-- * is_deleted is a soft delete. The row stays. Whether the target drops such groups (filter → delete) is the
--   mapping's decision.
-- * A group has no Keycloak identity, but peeq_users.profiles.keycloak_id is NOT NULL UNIQUE: the mapping uses
--   profile_id for it (see docs/schemas.md).
-- * created_on is NOT NULL: the target profiles.created_on needs it.

CREATE TABLE group_profiles (
    profile_id              uuid          NOT NULL,
    name                    varchar(255)  NOT NULL,
    description             text,
    group_profile_type      varchar(50),              -- 'TEAM', 'ORGANIZATION', 'LEAGUE', ...
    is_approved             boolean       NOT NULL DEFAULT false,
    is_deleted              boolean       NOT NULL DEFAULT false,
    owner_id                uuid,                     -- Keycloak user id of the owner (celebrity or fan)
    parent_group_profile_id uuid,
    meta_data               jsonb,
    created_on              timestamp     NOT NULL,
    last_modified_on        timestamp,
    CONSTRAINT group_profiles_pkey PRIMARY KEY (profile_id),
    CONSTRAINT fk_group_profiles_parent FOREIGN KEY (parent_group_profile_id)
        REFERENCES group_profiles (profile_id)
);
CREATE INDEX idx_group_profiles_parent ON group_profiles (parent_group_profile_id);
CREATE INDEX idx_group_profiles_owner ON group_profiles (owner_id);

CREATE TABLE profile_thumbnails (
    id                  uuid          NOT NULL,
    profile_id          uuid          NOT NULL,
    url                 text          NOT NULL,
    created_on          timestamp     NOT NULL,
    CONSTRAINT profile_thumbnails_pkey PRIMARY KEY (id),
    CONSTRAINT fk_profile_thumbnails_profile FOREIGN KEY (profile_id)
        REFERENCES group_profiles (profile_id)
);
CREATE INDEX idx_profile_thumbnails_profile ON profile_thumbnails (profile_id);

CREATE TABLE group_profile_tags (
    tag_id              uuid          NOT NULL,       -- = tags-db tags.id
    name                varchar(255),
    created_on          timestamp     NOT NULL,
    CONSTRAINT group_profile_tags_pkey PRIMARY KEY (tag_id)
);

CREATE TABLE group_profile_celebs (
    celeb_user_id       uuid          NOT NULL,       -- = celebrity-db celebrity_profiles.celebrity_user_id
    display_name        varchar(255),
    created_on          timestamp     NOT NULL,
    CONSTRAINT group_profile_celebs_pkey PRIMARY KEY (celeb_user_id)
);

CREATE TABLE profile_tags_association (
    profile_id          uuid          NOT NULL,
    tag_id              uuid          NOT NULL,
    CONSTRAINT profile_tags_association_pkey PRIMARY KEY (profile_id, tag_id),
    CONSTRAINT fk_profile_tags_association_profile FOREIGN KEY (profile_id)
        REFERENCES group_profiles (profile_id),
    CONSTRAINT fk_profile_tags_association_tag FOREIGN KEY (tag_id)
        REFERENCES group_profile_tags (tag_id)
);
CREATE INDEX idx_profile_tags_association_tag ON profile_tags_association (tag_id);

CREATE TABLE profile_celebs_association (
    profile_id          uuid          NOT NULL,
    celeb_user_id       uuid          NOT NULL,
    CONSTRAINT profile_celebs_association_pkey PRIMARY KEY (profile_id, celeb_user_id),
    CONSTRAINT fk_profile_celebs_association_profile FOREIGN KEY (profile_id)
        REFERENCES group_profiles (profile_id),
    CONSTRAINT fk_profile_celebs_association_celeb FOREIGN KEY (celeb_user_id)
        REFERENCES group_profile_celebs (celeb_user_id)
);
CREATE INDEX idx_profile_celebs_association_celeb ON profile_celebs_association (celeb_user_id);
