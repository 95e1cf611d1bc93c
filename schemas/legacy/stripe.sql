-- Legacy source: peeq-stripe-db  (stripe-service, 13 Flyway migrations)  → target peeq_commerce (exchange_rates)
--
-- Seed: payment processing and exchange rates. A single table, exchange_rates (PK id uuid; price, amount, name,
-- keywords array, meta_data, deleted_on), for currency/token conversion and "likely used for virtual
-- currency/tokens". About 10,000 rates, 0.1 GB.
--
-- Choices where the seed is vague:
-- * Timestamps are timestamptz (Spring service on UTC).
-- * One row is a token pack: for `price` (money, numeric(12,2), major units of from_currency) you get `amount`
--   tokens (integer, a count and not money, so it maps to the target's amount INT without scaling). price maps to
--   INT cents (×100, exact).
-- * from_currency, to_currency and created_on are added because the target has them. to_currency is the
--   token/virtual currency code ('TKN') or an ISO code.
-- * keywords is text[], like the target's TEXT[].
-- * deleted_on is a soft delete. The row stays.

CREATE TABLE exchange_rates (
    id                  uuid          NOT NULL,
    name                varchar(255),
    from_currency       varchar(3),
    to_currency         varchar(3),
    price               numeric(12,2) NOT NULL,
    amount              integer       NOT NULL,
    keywords            text[],
    meta_data           jsonb,
    created_on          timestamptz   NOT NULL,
    last_modified_on    timestamptz,
    deleted_on          timestamptz,
    CONSTRAINT exchange_rates_pkey PRIMARY KEY (id)
);
CREATE INDEX idx_exchange_rates_deleted_on ON exchange_rates (deleted_on);
