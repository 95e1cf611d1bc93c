-- Legacy source: peeq-sse-db  (sse-service, 3 Flyway migrations)  → target peeq_platform (realtime_groups with
-- group_type 'SSE', group_members)
--
-- Seed: server-sent-event groups. groups (PK id uuid; id_str, id_type, created_by_id, meta_data,
-- associated_item_ids array) and members (group_id, user_id, added_on, meta_data). It resembles
-- message-board-db's boards + members pattern.
--
-- Choices where the seed is vague:
-- * TIMESTAMPS ARE `timestamp` WITHOUT TIME ZONE in this database, one of the few older services that do: its 3
--   migrations are the team's earliest. JPA LocalDateTime written by a JVM in UTC, so the values are UTC
--   wall-clock and are copied unchanged into the target's TIMESTAMP columns.
-- * members gets id uuid PK, like message-board-db's members and the target's group_members.id. A (group_id,
--   user_id) pair is UNIQUE here: SSE membership is a set, and leaving deletes the row (no removed_on column, so
--   the target's removed_on stays NULL).
-- * groups gets created_on (the target's created_on is NOT NULL). It has no name, description, starts_on or
--   stops_on: the target's columns are nullable.
-- * members.group_id has a plain FK to groups (in-database, no ON DELETE).
-- * "groups" is a non-reserved keyword in PostgreSQL and needs no quoting.

CREATE TABLE groups (
    id                  uuid          NOT NULL,
    id_str              varchar(255),
    id_type             varchar(50),
    created_by_id       uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamp     NOT NULL,
    meta_data           jsonb,
    associated_item_ids uuid[],
    CONSTRAINT groups_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_groups_id_type_id_str ON groups (id_type, id_str);

CREATE TABLE members (
    id                  uuid          NOT NULL,
    group_id            uuid          NOT NULL,
    user_id             uuid          NOT NULL,       -- Keycloak user id
    added_on            timestamp     NOT NULL,
    meta_data           jsonb,
    CONSTRAINT members_pkey PRIMARY KEY (id),
    CONSTRAINT uq_members_group_user UNIQUE (group_id, user_id),
    CONSTRAINT fk_members_group FOREIGN KEY (group_id) REFERENCES groups (id)
);
CREATE INDEX idx_members_user ON members (user_id);
