-- Least privilege on a TARGET (consolidated) database: run once per target database, as a superuser or the database
-- owner, connected to that database, BEFORE the pipeline's first start. Guide: docs/security.md.
--
--   psql "host=commerce-db dbname=peeq_commerce user=postgres" -f deploy/sql/least-privilege-target.sql \
--     -v schemas=commerce -v sink_role=peeq_sink -v reconciler_role=peeq_reconciler -v service_roles=wallet_svc,inventory_svc
--
-- Variables (-v name=value):
--   schemas          the schemas the Sink writes, comma-separated (the mapping's target schemas, or each source's
--                    targetSchema with the identity mapping); peeq_cdc, the pipeline's own schema, is always added
--   sink_role        the Sink's role: owns those schemas and their tables (it creates tables, adds columns a source
--                    added, writes rows), may use temporary tables (its staging tables), and nothing else: no CREATE on
--                    the database, no other schema
--   reconciler_role  the reconciler's role: reads those schemas and peeq_cdc, may only insert its run into
--                    peeq_cdc.reconciliation_runs
--   service_roles    optional, comma-separated: the legacy services' roles. Before cutover they may connect and read
--                    nothing else; `peeq-cdc cutover` (src/Cutover/Grants) grants them SELECT, INSERT, UPDATE, DELETE
--                    on the tables the pipeline wrote and USAGE on their schemas and sequences, as the Sink's role,
--                    which owns them. This script checks none of them can write any table of these schemas now.
--   sink_password, reconciler_password   optional (see least-privilege-source.sql on passwords in statements).
-- Every statement is idempotent.
\set ON_ERROR_STOP on
\if :{?schemas}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-target.sql: -v schemas=<schema,...> is required'; END $$;
\endif
\if :{?sink_role}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-target.sql: -v sink_role=<role> is required'; END $$;
\endif
\if :{?reconciler_role}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-target.sql: -v reconciler_role=<role> is required'; END $$;
\endif
\if :{?service_roles}
\else
\set service_roles ''
\endif

BEGIN;

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY[:'sink_role', :'reconciler_role']) r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE :"sink_role" LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE :"reconciler_role" LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
\if :{?sink_password}
ALTER ROLE :"sink_role" PASSWORD :'sink_password';
\endif
\if :{?reconciler_password}
ALTER ROLE :"reconciler_role" PASSWORD :'reconciler_password';
\endif

CREATE TEMP TABLE peeq_lp_services ON COMMIT DROP AS
SELECT trim(r) AS name FROM unnest(string_to_array(:'service_roles', ',')) r WHERE trim(r) <> '';
SELECT format('DO $x$ BEGIN RAISE EXCEPTION %L; END $x$', 'least-privilege-target.sql: no such service role: ' || string_agg(name, ', '))
FROM peeq_lp_services WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) HAVING count(*) > 0 \gexec

-- Nobody creates anything in this database by default; the Sink gets temporary tables for its staging.
SELECT format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'sink_role') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'reconciler_role') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The Sink's schemas, owned by it.
CREATE TEMP TABLE peeq_lp_schemas ON COMMIT DROP AS
SELECT DISTINCT s AS name FROM (SELECT trim(s) AS s FROM unnest(string_to_array(:'schemas', ',')) s UNION ALL SELECT 'peeq_cdc') x WHERE s <> '';
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', name, :'sink_role') FROM peeq_lp_schemas \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', name, :'sink_role') FROM peeq_lp_schemas \gexec

-- The pipeline's own tables now, so the reconciler can be granted its insert (the Sink would create them at start).
\ir ../../schemas/target/peeq_cdc.sql

-- Tables and sequences already in those schemas (schemas/target/*.sql run by a DBA) become the Sink's: it adds columns
-- a source added and creates indexes, which only the owner may. ALTER TABLE carries a table's indexes and owned sequences.
SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, :'sink_role')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN peeq_lp_schemas s ON s.name = n.nspname
WHERE c.relkind IN ('r', 'p') AND NOT pg_has_role(:'sink_role', c.relowner, 'USAGE') \gexec
SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, :'sink_role')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN peeq_lp_schemas s ON s.name = n.nspname
WHERE c.relkind = 'S' AND NOT pg_has_role(:'sink_role', c.relowner, 'USAGE')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')) \gexec

-- Nobody else writes them: what PUBLIC was given goes, the reconciler reads (now and whatever the Sink creates later).
SELECT format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM PUBLIC', name) FROM peeq_lp_schemas \gexec
SELECT format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM PUBLIC', name) FROM peeq_lp_schemas \gexec
SELECT format('GRANT USAGE ON SCHEMA %I TO %I', name, :'reconciler_role') FROM peeq_lp_schemas \gexec
SELECT format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', name, :'reconciler_role') FROM peeq_lp_schemas \gexec
SELECT format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I GRANT SELECT ON TABLES TO %I', :'sink_role', name, :'reconciler_role') FROM peeq_lp_schemas \gexec
GRANT INSERT ON peeq_cdc.reconciliation_runs TO :"reconciler_role";

-- The services before cutover: no write, no create, in any of these schemas (the cutover's grant switch gives them
-- their privileges on the tables the pipeline wrote).
SELECT format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s.name, r.name) FROM peeq_lp_schemas s CROSS JOIN peeq_lp_services r \gexec
SELECT format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s.name, r.name) FROM peeq_lp_schemas s CROSS JOIN peeq_lp_services r \gexec
SELECT format('REVOKE CREATE ON SCHEMA %I FROM %I', s.name, r.name) FROM peeq_lp_schemas s CROSS JOIN peeq_lp_services r \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), name) FROM peeq_lp_services \gexec
SELECT format('DO $x$ BEGIN RAISE EXCEPTION %L; END $x$', 'least-privilege-target.sql: still able to write (through a group role or ownership): '
              || string_agg(r.name || ' on ' || c.oid::regclass::text, ', '))
FROM peeq_lp_services r CROSS JOIN pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN peeq_lp_schemas s ON s.name = n.nspname
WHERE c.relkind IN ('r', 'p')
  AND (has_table_privilege(r.name, c.oid, 'INSERT') OR has_table_privilege(r.name, c.oid, 'UPDATE')
       OR has_table_privilege(r.name, c.oid, 'DELETE') OR has_table_privilege(r.name, c.oid, 'TRUNCATE'))
HAVING count(*) > 0 \gexec

COMMIT;
