-- Legacy source: peeq-subscriptions-db  (subscriptions-service, 14 Flyway migrations)  → target peeq_commerce (subscription_plans, content_series)
--
-- Seed: recurring subscriptions. subscriptions (plans; PK id uuid; name, description, recurring_payment,
-- auto_expires, created_by_id) and series (content series sold by subscription; PK id uuid; name, description,
-- created_by_id). created_by_id "likely references celebs". About 5,000 plans, 0.2 GB.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * recurring_payment holds 'MONTHLY' or 'YEARLY' (the target's vocabulary). auto_expires is a number of days
--   after which an unrenewed subscription expires.
-- * created_on is added to both tables (the target has created_on NOT NULL), and so is last_modified_on.
-- * name and created_by_id are nullable here as JPA left them. The target has them NOT NULL, so a NULL is parked.

CREATE TABLE subscriptions (
    id                  uuid          NOT NULL,
    name                varchar(255),
    description         text,
    recurring_payment   varchar(50),
    auto_expires        integer,
    created_by_id       uuid,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT subscriptions_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_subscriptions_created_by ON subscriptions (created_by_id);

CREATE TABLE series (
    id                  uuid          NOT NULL,
    name                varchar(255),
    description         text,
    created_by_id       uuid,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    CONSTRAINT series_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_series_created_by ON series (created_by_id);
