-- Legacy source: peeq-class-catalog-db  (class-catalog-service, 18 Flyway migrations)  → target peeq_events
-- (classes, class_thumbnails, class_details, class_tags, class_badges, class_sessions, session_instructors; and
-- possibly events with event_type 'CLASS_SESSION')
--
-- Seed: classes and courses. classes (PK id uuid; name, description, prerequisites, blog_id, group_id,
-- created_by_id), class_thumbnails (course images), class_details (lessons/modules: name, description,
-- display_order, class_id), class_associated_tags (categorisation), class_badges (achievement tracking), sessions
-- (class offerings; PK id uuid; attendance_format, inventory_info JSON, original_price) and session_instructors
-- (instructor assignments, many-to-many). Cross-database: group-profile-db (group_id), inventory-db
-- (inventory_info), celebrity-db (instructor_id).
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * class_thumbnails, class_associated_tags, class_badges and session_instructors are JPA element collections
--   and join tables. Each has a composite PK equal to the target's: (class_id, thumbnail_url), (class_id,
--   tag_id), (class_id, badge_id) and (session_id, instructor_id). An edit is a delete plus an insert.
-- * badge_id is varchar(255), the target's type: a badge code such as 'FIRST_CLASS', not a uuid.
-- * sessions has class_id (a session belongs to a class) and also name, starts_on, stops_on, created_by_id and
--   created_on. The target has both class_sessions and events with event_type 'CLASS_SESSION'. These columns let
--   the mapping feed either or both (events needs created_by_id and created_on NOT NULL).
-- * original_price is numeric(12,2) in major units. The target holds INT cents (×100, exact).
-- * attendance_format holds 'ONLINE', 'ONSITE' or 'HYBRID'.
-- * In-database relationships have plain FKs (no ON DELETE, as Hibernate generates them): children → classes,
--   session_instructors → sessions. sessions.class_id is nullable, because a standalone session exists, as the
--   target's nullable class_id allows.
-- * classes.description is nullable here. The target has it NOT NULL, so a NULL is parked.
-- * blog_id is a uuid that points at a blog outside all 22 databases.

CREATE TABLE classes (
    id                  uuid          NOT NULL,
    name                varchar(255)  NOT NULL,
    description         text,
    prerequisites       text,
    blog_id             uuid,
    group_id            uuid,                         -- group-profile-db group_profiles.profile_id (implicit)
    created_by_id       uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT classes_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_classes_group ON classes (group_id);
CREATE INDEX idx_classes_created_by ON classes (created_by_id);

CREATE TABLE class_thumbnails (
    class_id            uuid          NOT NULL,
    thumbnail_url       text          NOT NULL,
    CONSTRAINT class_thumbnails_pkey PRIMARY KEY (class_id, thumbnail_url),
    CONSTRAINT fk_class_thumbnails_class FOREIGN KEY (class_id) REFERENCES classes (id)
);

CREATE TABLE class_details (
    id                  uuid          NOT NULL,
    class_id            uuid          NOT NULL,
    name                varchar(255)  NOT NULL,
    description         text,
    display_order       integer       NOT NULL,
    CONSTRAINT class_details_pkey PRIMARY KEY (id),
    CONSTRAINT fk_class_details_class FOREIGN KEY (class_id) REFERENCES classes (id)
);
CREATE INDEX idx_class_details_class ON class_details (class_id, display_order);

CREATE TABLE class_associated_tags (
    class_id            uuid          NOT NULL,
    tag_id              uuid          NOT NULL,       -- tags-db tags.id (implicit)
    CONSTRAINT class_associated_tags_pkey PRIMARY KEY (class_id, tag_id),
    CONSTRAINT fk_class_associated_tags_class FOREIGN KEY (class_id) REFERENCES classes (id)
);
CREATE INDEX idx_class_associated_tags_tag ON class_associated_tags (tag_id);

CREATE TABLE class_badges (
    class_id            uuid          NOT NULL,
    badge_id            varchar(255)  NOT NULL,
    CONSTRAINT class_badges_pkey PRIMARY KEY (class_id, badge_id),
    CONSTRAINT fk_class_badges_class FOREIGN KEY (class_id) REFERENCES classes (id)
);

CREATE TABLE sessions (
    id                  uuid          NOT NULL,
    class_id            uuid,
    name                varchar(255),
    attendance_format   varchar(50),
    inventory_info      jsonb,
    original_price      numeric(12,2),
    starts_on           timestamptz,
    stops_on            timestamptz,
    created_by_id       uuid          NOT NULL,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT sessions_pkey PRIMARY KEY (id),
    CONSTRAINT fk_sessions_class FOREIGN KEY (class_id) REFERENCES classes (id)
);
CREATE INDEX idx_sessions_class ON sessions (class_id);
CREATE INDEX idx_sessions_starts_on ON sessions (starts_on);

CREATE TABLE session_instructors (
    session_id          uuid          NOT NULL,
    instructor_id       uuid          NOT NULL,       -- celebrity-db celebrity_user_id (implicit)
    CONSTRAINT session_instructors_pkey PRIMARY KEY (session_id, instructor_id),
    CONSTRAINT fk_session_instructors_session FOREIGN KEY (session_id) REFERENCES sessions (id)
);
CREATE INDEX idx_session_instructors_instructor ON session_instructors (instructor_id);
