#!/bin/sh
# Runs once, when the legacy PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# The capture role: logical replication, creates the legacy databases (seed-data runs as it, so it owns
# the tables and may create publications for them), reads the statistics the dashboard needs.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE peeq_capture LOGIN REPLICATION CREATEDB PASSWORD '${LEGACY_DB_PASSWORD}';
GRANT pg_monitor TO peeq_capture;
SQL
# Heartbeats (pg_logical_emit_message) keep idle databases' slots advancing; databases created later
# copy template1, so the grant reaches all 22.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname template1 \
  -c "GRANT EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) TO peeq_capture;"
