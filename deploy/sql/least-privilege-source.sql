-- Least privilege on a SOURCE (legacy) database: run once per source database, as a superuser or the tables' owner,
-- connected to that database. Guide: docs/security.md.
--
--   psql "host=wallet-db dbname=wallet user=postgres" -f deploy/sql/least-privilege-source.sql \
--     -v source=wallet -v tables=public.balance_transaction,public.create_transaction \
--     -v capture_role=peeq_capture -v reconciler_role=peeq_reconciler
--
-- Variables (-v name=value):
--   source           the source's name in the pipeline configuration (names the publications peeq_cdc_<source>[_append])
--   tables           the captured tables, schema-qualified, comma-separated (exactly the source's `tables`)
--   capture_role     Capture's role: LOGIN REPLICATION, SELECT on the tables, nothing else; never a superuser
--   reconciler_role  the reconciler's role: SELECT on the tables, nothing else
--   publication      dba (default): this script creates the publications and Capture runs with
--                    createReplicationObjects: false; capture: the capture role creates them itself, which PostgreSQL
--                    allows only to the tables' owner, so this script then grants it CREATE on the database and you
--                    must have made it the tables' owner (rarely acceptable on a legacy database)
--   capture_password, reconciler_password   optional; sets the role's password. The statement reaches the server in
--                    plaintext (log_statement = ddl or all would log it): prefer psql's \password, which sends a hash.
-- Every statement is idempotent: run it again after adding a table to `tables`.
\set ON_ERROR_STOP on
\if :{?source}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-source.sql: -v source=<source name> is required'; END $$;
\endif
\if :{?tables}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-source.sql: -v tables=<schema.table,...> is required'; END $$;
\endif
\if :{?capture_role}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-source.sql: -v capture_role=<role> is required'; END $$;
\endif
\if :{?reconciler_role}
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-source.sql: -v reconciler_role=<role> is required'; END $$;
\endif
\if :{?publication}
\else
\set publication dba
\endif
SELECT :'publication' = 'dba' AS publication_by_dba, :'publication' = 'capture' AS publication_by_capture \gset
\if :publication_by_dba
\elif :publication_by_capture
\else
DO $$ BEGIN RAISE EXCEPTION 'least-privilege-source.sql: -v publication must be dba or capture'; END $$;
\endif

BEGIN;

-- The roles: Capture reads the WAL (REPLICATION) and the captured tables, nothing more.
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY[:'capture_role', :'reconciler_role']) r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE :"capture_role" LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
ALTER ROLE :"reconciler_role" LOGIN NOREPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
\if :{?capture_password}
ALTER ROLE :"capture_role" PASSWORD :'capture_password';
\endif
\if :{?reconciler_password}
ALTER ROLE :"reconciler_role" PASSWORD :'reconciler_password';
\endif

CREATE TEMP TABLE peeq_lp_tables ON COMMIT DROP AS
SELECT trim(t) AS name, to_regclass(trim(t)) AS rel FROM unnest(string_to_array(:'tables', ',')) t WHERE trim(t) <> '';
SELECT format('DO $x$ BEGIN RAISE EXCEPTION %L; END $x$', 'least-privilege-source.sql: no such table in database ' || current_database() || ': ' || string_agg(name, ', '))
FROM peeq_lp_tables WHERE rel IS NULL HAVING count(*) > 0 \gexec

SELECT format('GRANT CONNECT ON DATABASE %I TO %I, %I', current_database(), :'capture_role', :'reconciler_role') \gexec
SELECT DISTINCT format('GRANT USAGE ON SCHEMA %I TO %I, %I', n.nspname, :'capture_role', :'reconciler_role')
FROM peeq_lp_tables t JOIN pg_class c ON c.oid = t.rel JOIN pg_namespace n ON n.oid = c.relnamespace \gexec
SELECT format('GRANT SELECT ON TABLE %s TO %I, %I', rel, :'capture_role', :'reconciler_role') FROM peeq_lp_tables \gexec

-- The publications Capture reads: keyed tables publish everything, keyless ones (no primary key, no replica identity
-- index or FULL) are append-only (docs/contracts.md). Both exist from the start, the second possibly empty.
CREATE TEMP TABLE peeq_lp_publications ON COMMIT DROP AS
SELECT p.pubname, p.publish, array_remove(array_agg(t.rel::text ORDER BY t.rel::text), NULL) AS rels
FROM (VALUES ('peeq_cdc_' || :'source', 'insert, update, delete, truncate', false),
             ('peeq_cdc_' || :'source' || '_append', 'insert, truncate', true)) p(pubname, publish, append_only)
LEFT JOIN (peeq_lp_tables t JOIN pg_class c ON c.oid = t.rel)
  ON p.append_only = (c.relreplident = 'n' OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))
GROUP BY p.pubname, p.publish;
\if :publication_by_dba
SELECT CASE
         WHEN NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = p.pubname) AND cardinality(p.rels) > 0
           THEN format('CREATE PUBLICATION %I FOR TABLE %s WITH (publish = %L)', p.pubname, array_to_string(p.rels, ', '), p.publish)
         WHEN NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = p.pubname)
           THEN format('CREATE PUBLICATION %I WITH (publish = %L)', p.pubname, p.publish)
         WHEN cardinality(p.rels) > 0
           THEN format('ALTER PUBLICATION %I SET TABLE %s', p.pubname, array_to_string(p.rels, ', '))
       END
FROM peeq_lp_publications p \gexec
\else
SELECT format('GRANT CREATE ON DATABASE %I TO %I', current_database(), :'capture_role') \gexec
SELECT format('DO $x$ BEGIN RAISE EXCEPTION %L; END $x$', 'least-privilege-source.sql: publication=capture needs the capture role to own '
              || string_agg(t.rel::text, ', ') || ' (ALTER TABLE ... OWNER TO ' || quote_ident(:'capture_role') || ')')
FROM peeq_lp_tables t JOIN pg_class c ON c.oid = t.rel
WHERE NOT pg_has_role(:'capture_role', c.relowner, 'USAGE') HAVING count(*) > 0 \gexec
\endif

COMMIT;
