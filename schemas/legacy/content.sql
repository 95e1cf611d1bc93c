-- Legacy source: peeq-content-db  (content-service, 7 Flyway migrations)  → target peeq_media (media_files)
--
-- Seed: generic file-storage metadata, "extremely simple schema (1 table)". files (PK id varchar; content_id,
-- content_length, mime_type, name, owner_id, content_md5). It holds metadata only: the bytes are in S3/CDN.
-- It is "likely redundant with media-db": media-db's files is a superset.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * id is the storage object key (e.g. '<owner_id>/<content_id>/<name>'), varchar(255). content_id is the logical
--   file UUID, the same UUID as media-db files.content_id when media-db registered the file too. The target
--   media_files.id is taken from content_id, and a content-db row and a media-db row with the same content_id are
--   one file (conflict rule in the mapping).
-- * content_id is indexed but NOT unique: the service never enforced it, so two storage keys can name one
--   content_id. The mapping must park such a collision rather than pick one.
-- * The table has no last_modified_on or state: rows are written once. The target's NOT NULL last_modified_on
--   comes from created_on. media_type comes from mime_type (image/* → IMAGE, video/* → VIDEO, audio/* → AUDIO,
--   otherwise DOCUMENT), and storage_url from id.

CREATE TABLE files (
    id                  varchar(255)  NOT NULL,       -- storage key
    content_id          uuid          NOT NULL,
    content_length      bigint,
    mime_type           varchar(255),
    name                varchar(255),
    owner_id            uuid          NOT NULL,       -- Keycloak user id
    content_md5         varchar(32),                  -- hex
    created_on          timestamptz   NOT NULL,
    CONSTRAINT files_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_files_content_id ON files (content_id);
CREATE INDEX idx_files_owner ON files (owner_id);
