-- Legacy source: peeq-onsite-event-db  (onsite-event-service, 3 Flyway migrations)  → target peeq_events (events
-- with event_type 'ONSITE', event_checkins)
--
-- Seed: in-person events and check-ins. on_site_events (PK id uuid; name, description, event_date,
-- event_sign_up_type, group_id, inventory_state, inventory_info JSON; indexed on event_date, sign_up_type,
-- created_by, inventory_state, group_id) and user_event_checkins (PK id uuid; user_id, event_id, checked_in_at;
-- FK event_id → on_site_events). Cross-database: group-profile-db (group_id), user ids (Keycloak).
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC), EXCEPT on_site_events.event_date, which is `timestamp`
--   WITHOUT TIME ZONE: the event's wall-clock date and time at the venue, deliberately zone-less. The mapping
--   copies it unchanged into the target's TIMESTAMP event_date, with no UTC conversion because there is no zone
--   to convert from.
-- * The creator column is created_by, as the seed's index list spells it. The target's events.created_by_id comes
--   from it.
-- * event_sign_up_type holds 'OPEN', 'INVITE_ONLY' or 'TICKETED'. inventory_state copies the state of the linked
--   inventory item. inventory_info is JSON describing that item (its id, item_id and price).
-- * created_on and last_modified_on are added because the target's created_on is NOT NULL.
-- * The seed names one FK: user_event_checkins.event_id → on_site_events, a plain FK with no ON DELETE, as
--   Hibernate generates it. Deleting an event with check-ins needs the check-ins deleted first, in the same
--   transaction.

CREATE TABLE on_site_events (
    id                  uuid          NOT NULL,
    name                varchar(255),
    description         text,
    event_date          timestamp,                    -- venue-local wall clock, no zone
    event_sign_up_type  varchar(50),
    group_id            uuid,                         -- group-profile-db group_profiles.profile_id (implicit)
    inventory_state     varchar(50),
    inventory_info      jsonb,
    created_by          uuid          NOT NULL,       -- Keycloak user id
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT on_site_events_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_on_site_events_event_date ON on_site_events (event_date);
CREATE INDEX idx_on_site_events_sign_up_type ON on_site_events (event_sign_up_type);
CREATE INDEX idx_on_site_events_created_by ON on_site_events (created_by);
CREATE INDEX idx_on_site_events_inventory_state ON on_site_events (inventory_state);
CREATE INDEX idx_on_site_events_group_id ON on_site_events (group_id);

CREATE TABLE user_event_checkins (
    id                  uuid          NOT NULL,
    user_id             uuid          NOT NULL,       -- Keycloak user id
    event_id            uuid          NOT NULL,
    checked_in_at       timestamptz   NOT NULL,
    CONSTRAINT user_event_checkins_pkey PRIMARY KEY (id),
    CONSTRAINT fk_user_event_checkins_event FOREIGN KEY (event_id) REFERENCES on_site_events (id)
);
CREATE INDEX idx_user_event_checkins_event ON user_event_checkins (event_id);
CREATE INDEX idx_user_event_checkins_user ON user_event_checkins (user_id);
