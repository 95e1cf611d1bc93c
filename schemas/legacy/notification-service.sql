-- Legacy source: peeq-notification-service-db  (notification-service, 10 Flyway migrations)  → target peeq_platform
-- (notification_templates, notifications)
--
-- Seed: system notifications. It only says that V1 is a stub ("SELECT 1 from pg_indexes;", a placeholder) and
-- that the real notification tables "likely" came in later migrations. It lists no table and no column.
--
-- What this file assumes (designed, not read from the seed):
-- * The later migrations created two tables, shaped after what the target peeq_platform needs, because the target
--   is the only description of notifications the seed gives and every target column needs a plausible source:
--     notification_templates: id, template_key (UNIQUE), channel, subject, body_template, created_on
--                             (+ last_modified_on, which the target lacks)
--     notifications:          id, user_id, template_key, channel, subject, body (rendered), status, meta_data,
--                             created_on, sent_on, read_on (+ failure_reason, last_modified_on, which the target
--                             lacks)
--   The legacy service's names are the target's names, so the mapping is 1:1 apart from types.
-- * Timestamps are timestamptz (Spring service on UTC).
-- * channel holds 'EMAIL', 'SMS', 'PUSH' or 'IN_APP'. status holds 'PENDING', 'SENT', 'FAILED' or 'READ'. The
--   service enforced these with JPA enums, not CHECK constraints, so a legacy value outside the target's CHECK
--   gets parked.
-- * notifications.template_key has NO FK to notification_templates: templates are re-keyed and deleted while old
--   notifications keep the key they were rendered from. The reconciler reports keys that point nowhere.
-- * notifications.template_key is nullable: ad-hoc notifications are not rendered from a template.
-- * The V1 stub made no objects, so nothing of it appears here.

CREATE TABLE notification_templates (
    id                  uuid          NOT NULL,
    template_key        varchar(255)  NOT NULL,
    channel             varchar(50)   NOT NULL,
    subject             text,
    body_template       text          NOT NULL,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT notification_templates_pkey PRIMARY KEY (id),
    CONSTRAINT uq_notification_templates_template_key UNIQUE (template_key)
);

CREATE TABLE notifications (
    id                  uuid          NOT NULL,
    user_id             uuid          NOT NULL,       -- Keycloak user id
    template_key        varchar(255),
    channel             varchar(50)   NOT NULL,
    subject             text,
    body                text          NOT NULL,
    status              varchar(50)   NOT NULL DEFAULT 'PENDING',
    failure_reason      text,
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    sent_on             timestamptz,
    read_on             timestamptz,
    CONSTRAINT notifications_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_notifications_user ON notifications (user_id, status);
CREATE INDEX idx_notifications_status ON notifications (status, created_on);
CREATE INDEX idx_notifications_template_key ON notifications (template_key);
