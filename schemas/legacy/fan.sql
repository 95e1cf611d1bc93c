-- Legacy source: peeq-fan-db  (fan-service, 12 Flyway migrations)  → target peeq_users
--
-- Seed: consumer profiles and follows. "Only 3 tables after 12 migrations": fan_profiles (PK fan_user_id uuid =
-- Keycloak id; created_on, meta_data JSON), fan_follows (fan → celebrity; key = MD5 of fan_user_id +
-- celeb_user_id "stored as id"; followed_on, unfollowed_on, notifications JSON array; follow/unfollow lifecycle),
-- and fan_follow_changes (audit log; occurred_on, change JSON). celeb_user_id points at celebrity-db implicitly,
-- with no FK. About 100,000 profiles, 2.0 GB including follows.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * fan_follows.id is varchar(32): md5(fan_user_id::text || celeb_user_id::text) in lowercase hex. 32 hex digits
--   cast to uuid without loss, which is how the mapping gets the target's UUID id.
-- * fan_follows.notifications is jsonb holding a JSON array (e.g. ["EMAIL","PUSH"]).
-- * An unfollow sets unfollowed_on and keeps the row. A refollow clears it (the same md5 id, so the same row).
-- * fan_follows.fan_user_id has no FK to fan_profiles: the service accepts a follow from any Keycloak user and
--   creates the fan profile lazily, so follows without a profile exist. The reconciler reports them.
-- * fan_follow_changes is deliberately KEYLESS: an append-only audit log with no id in the seed. Capture has to
--   take its snapshot by ctid and replicate inserts only (see ARCHITECTURE.md "Keyless tables"). Its replica
--   identity stays the default. With no key, an UPDATE/DELETE on it fails in a database whose publication
--   publishes updates/deletes. Nothing in the service does that.
-- * The seed gives fan_follow_changes no target table (see docs/schemas.md).

CREATE TABLE fan_profiles (
    fan_user_id         uuid          NOT NULL,
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT fan_profiles_pkey PRIMARY KEY (fan_user_id)
);

CREATE TABLE fan_follows (
    id                  varchar(32)   NOT NULL,        -- md5 hex of fan_user_id || celeb_user_id
    fan_user_id         uuid          NOT NULL,
    celeb_user_id       uuid          NOT NULL,
    followed_on         timestamptz   NOT NULL,
    unfollowed_on       timestamptz,
    notifications       jsonb,                         -- JSON array
    CONSTRAINT fan_follows_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_fan_follows_fan ON fan_follows (fan_user_id);
CREATE INDEX idx_fan_follows_celeb ON fan_follows (celeb_user_id);

-- Keyless on purpose (append-only audit log).
CREATE TABLE fan_follow_changes (
    fan_user_id         uuid          NOT NULL,
    celeb_user_id       uuid          NOT NULL,
    occurred_on         timestamptz   NOT NULL,
    change              jsonb         NOT NULL         -- e.g. {"action":"FOLLOW"} / {"action":"UNFOLLOW"} / notification changes
);
CREATE INDEX idx_fan_follow_changes_pair ON fan_follow_changes (fan_user_id, celeb_user_id, occurred_on);
