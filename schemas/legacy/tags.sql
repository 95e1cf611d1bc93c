-- Legacy source: peeq-tags-db  (tags-service, 6 Flyway migrations)  → target peeq_platform (tags)
--
-- Seed: central tagging and categorisation. tags (PK id uuid; name, description, type, color, thumbnail,
-- keywords array, associated_tags array, meta_data). celebrity-db, inventory-db, class-catalog-db and
-- group-profile-db refer to tags by UUID.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * The column is named `type`, as in the seed. The target renames it to tag_type. It holds 'CATEGORY', 'SKILL',
--   'SPORT' or 'TOPIC'.
-- * color is varchar(7) ('#RRGGBB'), and thumbnail is varchar(255) (an image URL or storage key), both the
--   target's widths.
-- * keywords is text[]. associated_tags is uuid[] of other tags.id in this same database, with no FK possible on
--   array elements.
-- * created_on, created_by_id, last_modified_on and updated_by_id are added: the target has them, and the service
--   used Spring Data auditing.
-- * name is NOT NULL. type is nullable here while the target's tag_type is NOT NULL, so a NULL is parked.

CREATE TABLE tags (
    id                  uuid          NOT NULL,
    name                varchar(255)  NOT NULL,
    description         text,
    type                varchar(50),
    color               varchar(7),
    thumbnail           varchar(255),
    keywords            text[],
    associated_tags     uuid[],
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    created_by_id       uuid,
    last_modified_on    timestamptz,
    updated_by_id       uuid,
    CONSTRAINT tags_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_tags_type ON tags (type);
CREATE INDEX idx_tags_name ON tags (name);
