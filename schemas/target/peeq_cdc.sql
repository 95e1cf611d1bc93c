-- The pipeline's own tables, in schema peeq_cdc of every target database.
-- The Sink creates them at start (this file is embedded in Peeq.Cdc.Core); a DBA who creates
-- schemas by hand applies this file to each target database. Every statement is idempotent.
-- Contracts: docs/contracts.md.

CREATE SCHEMA IF NOT EXISTS peeq_cdc;

-- Per source: the last source transaction applied, written in the same target transaction as its rows.
-- Capture confirms the slot only up to end_lsn; the Sink skips anything at or before commit_lsn.
CREATE TABLE IF NOT EXISTS peeq_cdc.applied_position (
    source            text PRIMARY KEY,
    commit_lsn        pg_lsn      NOT NULL,
    end_lsn           pg_lsn      NOT NULL,
    seq               bigint      NOT NULL,
    txid              bigint,
    source_commit_ts  timestamptz,
    applied_at        timestamptz NOT NULL DEFAULT now()
);

-- Per source: the Sink's requests that Capture restart its stream from the slot (a gap was seen).
-- A table of its own: the apply transactions hold applied_position's row, and a request must never
-- wait behind them.
CREATE TABLE IF NOT EXISTS peeq_cdc.replay_requests (
    source        text PRIMARY KEY,
    requested     bigint      NOT NULL,
    reason        text,
    requested_at  timestamptz NOT NULL DEFAULT now()
);

-- Per source: how far the Sink has *received* (not applied) a transaction it is still writing.
-- Flow control only: lets Capture keep streaming a transaction larger than its in-flight window.
-- Written outside the apply transactions, so it never waits on them.
CREATE TABLE IF NOT EXISTS peeq_cdc.flow_position (
    source      text PRIMARY KEY,
    commit_lsn  pg_lsn      NOT NULL,
    seq         bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Rows that could not be mapped or applied, with the reason. Nothing is dropped silently.
CREATE TABLE IF NOT EXISTS peeq_cdc.parked_rows (
    id                bigserial PRIMARY KEY,
    source            text        NOT NULL,
    commit_lsn        pg_lsn      NOT NULL,
    seq               bigint      NOT NULL,
    sub               integer     NOT NULL DEFAULT 0,
    txid              bigint,
    source_table      text        NOT NULL,
    source_key        jsonb,
    target_table      text,
    reason            text        NOT NULL,
    payload           text,
    whole_transaction boolean     NOT NULL DEFAULT false,
    parked_at         timestamptz NOT NULL DEFAULT now(),
    status            text        NOT NULL DEFAULT 'parked' CHECK (status IN ('parked', 'replayed', 'discarded', 'superseded')),
    resolved_at       timestamptz,
    resolved_by       text,
    target_key        jsonb,
    held_behind       pg_lsn,
    payload_kind      text        NOT NULL DEFAULT 'raw' CHECK (payload_kind IN ('raw', 'unified'))
);
-- target_key: the target row's key (a held transaction waits on it); held_behind: the commit LSN of the
-- parked transaction this one waits behind (financial tables); payload_kind: 'raw' (the raw event, parked by
-- the Transform) or 'unified' (the unified row operation or park event, parked by the Sink).
ALTER TABLE peeq_cdc.parked_rows ADD COLUMN IF NOT EXISTS target_key jsonb;
ALTER TABLE peeq_cdc.parked_rows ADD COLUMN IF NOT EXISTS held_behind pg_lsn;
ALTER TABLE peeq_cdc.parked_rows ADD COLUMN IF NOT EXISTS payload_kind text NOT NULL DEFAULT 'raw';
-- status 'superseded': a change parked because it kept unchanged TOASTed values of a row the target did not hold,
-- resolved automatically once its snapshot wrote that row whole later (docs/operations.md, "Parked rows").
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'peeq_cdc.parked_rows'::regclass AND conname = 'parked_rows_status_check'
                   AND pg_get_constraintdef(oid) LIKE '%superseded%') THEN
        ALTER TABLE peeq_cdc.parked_rows DROP CONSTRAINT IF EXISTS parked_rows_status_check;
        ALTER TABLE peeq_cdc.parked_rows ADD CONSTRAINT parked_rows_status_check CHECK (status IN ('parked', 'replayed', 'discarded', 'superseded'));
    END IF;
END $$;
CREATE UNIQUE INDEX IF NOT EXISTS parked_rows_position ON peeq_cdc.parked_rows (source, commit_lsn, seq, sub);
CREATE INDEX IF NOT EXISTS parked_rows_open ON peeq_cdc.parked_rows (status) WHERE status = 'parked';
CREATE INDEX IF NOT EXISTS parked_rows_whole_open ON peeq_cdc.parked_rows (source, commit_lsn) WHERE whole_transaction AND status = 'parked';

-- Which lineage table records the provenance of which target table.
CREATE TABLE IF NOT EXISTS peeq_cdc.lineage_tables (
    target_table   text PRIMARY KEY,
    lineage_table  text NOT NULL UNIQUE,
    key_columns    text[] NOT NULL
);

-- Derived keys (a UUID for a legacy varchar or bigint key, merged identities), kept for the
-- reconciler and, after cutover, the services.
CREATE TABLE IF NOT EXISTS peeq_cdc.identity_map (
    kind        text        NOT NULL,
    legacy_key  text        NOT NULL,
    id          uuid        NOT NULL,
    source      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, legacy_key)
);
CREATE INDEX IF NOT EXISTS identity_map_id ON peeq_cdc.identity_map (kind, id);

-- Per target table and source: 'loading' while its snapshot runs, 'ready' after, 'parked' when a
-- schema change stopped it (with the reason).
CREATE TABLE IF NOT EXISTS peeq_cdc.table_state (
    target_table text        NOT NULL,
    source       text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('loading', 'ready', 'parked')),
    reason       text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_table, source)
);

-- Per source table (not per target table): its snapshot's progress and whether it is parked. Written
-- by the Sink in the same transaction as the snapshot chunk (or the schema event) it describes, so it
-- is exactly as far as the target is; Capture reads it back on start to resume a snapshot after the
-- last chunk the target holds. table_state above is the per-target-table view derived from it.
CREATE TABLE IF NOT EXISTS peeq_cdc.source_table_state (
    source               text        NOT NULL,
    source_table         text        NOT NULL,   -- schema.table as the catalog spells it
    source_schema_name   text        NOT NULL,
    source_table_name    text        NOT NULL,
    snapshot_generation  bigint      NOT NULL,   -- 0: the table's first snapshot; else the snapshot_requests id
    snapshot_state       text        NOT NULL CHECK (snapshot_state IN ('loading', 'done')),
    snapshot_chunk       bigint      NOT NULL DEFAULT 0,
    snapshot_last_key    jsonb,                  -- key of the last row read, in the event key's JSON form
    snapshot_rows        bigint      NOT NULL DEFAULT 0,
    snapshot_total_rows  bigint      NOT NULL DEFAULT 0,
    snapshot_since       pg_lsn,                 -- rows older than this at completion are gone from the source
    snapshot_started_at  timestamptz NOT NULL DEFAULT now(),
    snapshot_finished_at timestamptz,
    parked_reason        text,                   -- not null: the table is parked (a schema change the mapping cannot take)
    parked_generation    bigint,                 -- a snapshot generation newer than this unparks the table when done
    parked_lsn           pg_lsn,
    parked_at            timestamptz,
    target_tables        text[]      NOT NULL DEFAULT '{}',
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_table)
);

-- Requests to re-snapshot one source table while streaming continues (peeq-cdc snapshot). Capture
-- polls this table; a request's id becomes the snapshot generation, so the newest request wins.
CREATE TABLE IF NOT EXISTS peeq_cdc.snapshot_requests (
    id                  bigserial PRIMARY KEY,
    source              text        NOT NULL,
    source_table        text        NOT NULL,   -- schema.table, for people
    source_schema_name  text        NOT NULL,
    source_table_name   text        NOT NULL,
    requested_by        text,
    requested_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS snapshot_requests_source ON peeq_cdc.snapshot_requests (source, source_schema_name, source_table_name, id);
-- Claims on a target key that lost to another source's claim under the mapping's priority rule: not
-- applied, not lost. row is the claim's row as the unified event carried it (sealed values stay sealed);
-- unchanged lists columns whose value the claim never supplied. When the owner deletes the row, the best
-- remaining claim (lowest rank) is promoted into the target. target_key is jsonb_build_object of the typed
-- key columns.
CREATE TABLE IF NOT EXISTS peeq_cdc.shadowed_claims (
    target_table  text        NOT NULL,
    target_key    jsonb       NOT NULL,
    source        text        NOT NULL,
    origin_table  text        NOT NULL,
    origin_key    jsonb       NOT NULL,
    rank          integer     NOT NULL,
    row           jsonb       NOT NULL,
    unchanged     text[]      NOT NULL DEFAULT '{}',
    lsn           pg_lsn      NOT NULL,
    seq           bigint      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_table, target_key, source)
);

-- Lookups ({"$lookup": {"kind", "key"}}) that identity_map could not resolve when their row was applied:
-- the column was written NULL and is filled in, in the same transaction, when the identity arrives.
CREATE TABLE IF NOT EXISTS peeq_cdc.pending_lookups (
    target_table  text        NOT NULL,
    target_key    jsonb       NOT NULL,
    column_name   text        NOT NULL,
    kind          text        NOT NULL,
    legacy_key    text        NOT NULL,
    source        text        NOT NULL,
    lsn           pg_lsn      NOT NULL,
    seq           bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target_table, target_key, column_name)
);
CREATE INDEX IF NOT EXISTS pending_lookups_identity ON peeq_cdc.pending_lookups (kind, legacy_key);
-- The configured target whose identity_map answers the lookup, when it is not this one ("$lookup" with a
-- "target"); resolved by the Sink's periodic sweep, which reads that target's identity_map.
ALTER TABLE peeq_cdc.pending_lookups ADD COLUMN IF NOT EXISTS lookup_target text;
-- One row per reconciliation run that read this target (written by the reconciler, never by the Sink):
-- the run's verdict and this target's own, the headline numbers, and where the reports are.
CREATE TABLE IF NOT EXISTS peeq_cdc.reconciliation_runs (
    run_id          text        PRIMARY KEY,
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL,
    verdict         text        NOT NULL CHECK (verdict IN ('clean', 'different', 'unresolved', 'failed')),
    target_verdict  text        NOT NULL CHECK (target_verdict IN ('clean', 'different', 'unresolved', 'failed')),
    differences     bigint      NOT NULL,
    unresolved      bigint      NOT NULL,
    parked          bigint      NOT NULL,
    totals          jsonb       NOT NULL,
    report          text
);
CREATE INDEX IF NOT EXISTS reconciliation_runs_finished ON peeq_cdc.reconciliation_runs (finished_at);

-- Cutover (docs/cutover.md; `peeq-cdc cutover`), one domain = one target. Written only by the cutover command.
-- cutover_runs: the domain's run: 'running' (a step may be resumed), 'rolled_back' (failed before the grant switch and
-- unfenced), 'failed' (failed after the grant switch started: resume it), 'done'. options holds what the run was started
-- with (service roles, fence mode), so a resumed run does what the interrupted one meant to.
CREATE TABLE IF NOT EXISTS peeq_cdc.cutover_runs (
    domain        text        PRIMARY KEY,
    state         text        NOT NULL CHECK (state IN ('running', 'rolled_back', 'failed', 'done')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    started_by    text        NOT NULL,
    options       jsonb       NOT NULL DEFAULT '{}',
    error         text
);
-- cutover_steps: one row per step of the current run once it started ('started') and when it finished ('done'), with
-- what it did (detail). A step recorded 'done' is not done again on resume, except fence and drain, which re-check.
CREATE TABLE IF NOT EXISTS peeq_cdc.cutover_steps (
    domain        text        NOT NULL,
    step          text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('started', 'done')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    detail        jsonb,
    PRIMARY KEY (domain, step)
);
-- cutover_fences: per fenced source database, its default_transaction_read_only before the fence (NULL: not set), so
-- unfencing restores exactly what was there; fence_lsn is the first fence marker's LSN (a change captured after it
-- was written by someone the fence did not stop).
CREATE TABLE IF NOT EXISTS peeq_cdc.cutover_fences (
    domain        text        NOT NULL,
    source        text        NOT NULL,
    database      text        NOT NULL,
    prior_setting text,
    fence_lsn     pg_lsn,
    fenced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (domain, source)
);
-- cutover_decisions: what to do with one dangling reference (references.yaml) of one row, decided by whom and when;
-- replayed by `cutover run`. key is the referring row's key, every value as text; placeholder maps the reference's
-- from columns to the parent the row is attached to instead (action 'placeholder').
CREATE TABLE IF NOT EXISTS peeq_cdc.cutover_decisions (
    domain        text        NOT NULL,
    reference     text        NOT NULL,
    key           jsonb       NOT NULL,
    action        text        NOT NULL CHECK (action IN ('delete', 'keep', 'placeholder')),
    placeholder   jsonb,
    decided_by    text        NOT NULL,
    decided_at    timestamptz NOT NULL DEFAULT now(),
    applied_at    timestamptz,
    PRIMARY KEY (domain, reference, key)
);
