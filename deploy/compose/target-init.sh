#!/bin/sh
# Runs once, when the target PostgreSQL volume is first initialised (docker-entrypoint-initdb.d).
# Creates the sink role and the six consolidated databases from schemas/target (mounted at /schemas/target),
# without their foreign keys (created and validated at cutover: docs/contracts.md).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -c "CREATE ROLE peeq_sink LOGIN PASSWORD '${TARGET_DB_PASSWORD}';"
for db in peeq_users peeq_media peeq_commerce peeq_events peeq_platform peeq_encryption; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -c "CREATE DATABASE $db OWNER peeq_sink;"
  PGPASSWORD="$TARGET_DB_PASSWORD" psql -v ON_ERROR_STOP=1 --username peeq_sink --dbname "$db" -f "/schemas/target/$db.sql"
done
