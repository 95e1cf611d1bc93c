-- Legacy source: peeq-message-board-db  (message-board-service, 5 Flyway migrations)  → target peeq_platform
-- (realtime_groups with group_type 'MESSAGE_BOARD', group_members, group_messages)
--
-- Seed: discussion boards and chat rooms. message_boards (PK id uuid; id_str, id_type, name, description,
-- starts_on, stops_on, associated_item_ids array), members (message_board_id, user_id, added_on, removed_on,
-- name, meta_data) and messages (message_board_id, members_id, message_content, message_content_type,
-- meta_data). Cross-database: user ids (members.user_id), inventory-db (associated_item_ids).
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * The seed gives members and messages no key. Both get id uuid PK: messages.members_id points at a member row,
--   so members must have an id, and the target's group_members.id / group_messages.id are UUIDs.
-- * message_boards gets created_by_id, created_on and meta_data: the target realtime_groups has created_by_id and
--   created_on NOT NULL, plus meta_data.
-- * messages gets created_on (the target's created_at, NOT NULL).
-- * A member leaves by getting removed_on set. The row stays, and a member who rejoins gets a new row.
-- * In-database relationships have plain FKs (no ON DELETE): members → message_boards, messages →
--   message_boards, messages.members_id → members.
-- * message_content_type holds 'TEXT', 'IMAGE', 'VIDEO' or 'RICH'. associated_item_ids is uuid[] of
--   inventory_item.id.

CREATE TABLE message_boards (
    id                  uuid          NOT NULL,
    id_str              varchar(255),
    id_type             varchar(50),
    name                varchar(255),
    description         text,
    created_by_id       uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamptz   NOT NULL,
    starts_on           timestamptz,
    stops_on            timestamptz,
    associated_item_ids uuid[],
    meta_data           jsonb,
    CONSTRAINT message_boards_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_message_boards_id_type_id_str ON message_boards (id_type, id_str);

CREATE TABLE members (
    id                  uuid          NOT NULL,
    message_board_id    uuid          NOT NULL,
    user_id             uuid          NOT NULL,       -- Keycloak user id
    name                varchar(255),
    added_on            timestamptz   NOT NULL,
    removed_on          timestamptz,
    meta_data           jsonb,
    CONSTRAINT members_pkey PRIMARY KEY (id),
    CONSTRAINT fk_members_message_board FOREIGN KEY (message_board_id) REFERENCES message_boards (id)
);
CREATE INDEX idx_members_board_user ON members (message_board_id, user_id);
CREATE INDEX idx_members_user ON members (user_id);

CREATE TABLE messages (
    id                  uuid          NOT NULL,
    message_board_id    uuid          NOT NULL,
    members_id          uuid          NOT NULL,
    message_content     text          NOT NULL,
    message_content_type varchar(50),
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    CONSTRAINT messages_pkey PRIMARY KEY (id),
    CONSTRAINT fk_messages_message_board FOREIGN KEY (message_board_id) REFERENCES message_boards (id),
    CONSTRAINT fk_messages_member FOREIGN KEY (members_id) REFERENCES members (id)
);
CREATE INDEX idx_messages_board_created ON messages (message_board_id, created_on);
CREATE INDEX idx_messages_member ON messages (members_id);
