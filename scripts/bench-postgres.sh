#!/usr/bin/env bash
# The PostgreSQL baseline of BENCH.md: installs PostgreSQL (Debian package) if missing, starts
# its own server on 127.0.0.1 in a temporary folder, measures the same double-entry transfer
# as one transaction per transfer (pgbench at 1, 4, 16 and 64 clients) and as a server-side
# batch of 1,000 transfers per commit, prints one JSON line per case, and stops the server.
# Usage: scripts/bench-postgres.sh [duration_s=10] [accounts=10000]
set -euo pipefail
duration="${1:-10}"
accounts="${2:-10000}"

if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    echo "installing PostgreSQL (Debian package)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql postgresql-contrib >&2
fi
bin="$(dirname "$(ls /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -1)")"
work="$(mktemp -d /tmp/hansa-pg.XXXXXX)"
port=55432
run_as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
chown -R postgres "$work" 2>/dev/null || true
cleanup() {
    run_as_postgres "$bin/pg_ctl" -D "$work/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

run_as_postgres "$bin/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
run_as_postgres "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -c synchronous_commit=on -c fsync=on -c max_connections=100 -k $work" start >/dev/null
psql() { run_as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
pgbench() { run_as_postgres "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres "$@"; }

psql <<SQL
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE transfers (id bigserial PRIMARY KEY, debit bigint NOT NULL, credit bigint NOT NULL, amount bigint NOT NULL);
INSERT INTO accounts SELECT g, 1000000000000 FROM generate_series(1, $accounts) g;
-- One transfer: two balance updates in account order (no deadlocks), one insert.
CREATE FUNCTION transfer(a bigint, b bigint, amount bigint) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  UPDATE accounts SET balance = balance + CASE WHEN id = a THEN -amount ELSE amount END WHERE id = least(a, b);
  UPDATE accounts SET balance = balance + CASE WHEN id = a THEN -amount ELSE amount END WHERE id = greatest(a, b);
  INSERT INTO transfers (debit, credit, amount) VALUES (a, b, amount);
END \$\$;
-- The batched variant: n transfers in one transaction, sorted so locks are taken in order.
CREATE FUNCTION transfer_batch(n int, accounts bigint) RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE r record;
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS batch (a bigint, b bigint, amount bigint) ON COMMIT DELETE ROWS;
  INSERT INTO batch SELECT x.a, 1 + (x.a + floor(random() * (accounts - 1))::bigint) % accounts, x.amount
    FROM (SELECT 1 + floor(random() * accounts)::bigint AS a,
                 1 + floor(-ln(random() + 1e-12) * 10000)::bigint AS amount
          FROM generate_series(1, n)) x;
  -- Lock every account the batch touches in id order, so concurrent batches cannot deadlock.
  PERFORM 1 FROM accounts WHERE id IN (SELECT a FROM batch UNION SELECT b FROM batch) ORDER BY id FOR UPDATE;
  FOR r IN SELECT * FROM batch LOOP
    PERFORM transfer(r.a, r.b, r.amount);
  END LOOP;
END \$\$;
SQL

cat > "$work/transfer.sql" <<SQL
\set a random(1, $accounts)
\set b 1 + (:a + random(0, $((accounts - 2)))) % $accounts
\set amount random_exponential(1, 200000, 20)
BEGIN;
UPDATE accounts SET balance = balance + CASE WHEN id = :a THEN -:amount ELSE :amount END WHERE id = least(:a, :b);
UPDATE accounts SET balance = balance + CASE WHEN id = :a THEN -:amount ELSE :amount END WHERE id = greatest(:a, :b);
INSERT INTO transfers (debit, credit, amount) VALUES (:a, :b, :amount);
END;
SQL
echo "SELECT transfer_batch(1000, $accounts);" > "$work/batch.sql"
chown postgres "$work"/*.sql 2>/dev/null || true

tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
for clients in 1 4 16 64; do
    value=$(pgbench -n -c "$clients" -j "$clients" -T "$duration" -f "$work/transfer.sql" postgres 2>/dev/null | tps)
    echo "{\"system\":\"postgresql\",\"case\":\"transaction\",\"clients\":$clients,\"duration_s\":$duration,\"transfers_s\":$value}"
done
for clients in 1 16; do
    value=$(pgbench -n -c "$clients" -j "$clients" -T "$duration" -f "$work/batch.sql" postgres 2>/dev/null | tps)
    transfers=$(awk "BEGIN { print $value * 1000 }")
    echo "{\"system\":\"postgresql\",\"case\":\"batched\",\"clients\":$clients,\"transfers_per_commit\":1000,\"duration_s\":$duration,\"transfers_s\":$transfers}"
done
# Validate: money conserved (every account started at 10^12).
total=$(psql -At -c "SELECT sum(balance) = $accounts::bigint * 1000000000000 FROM accounts")
[ "$total" = "t" ] || { echo "PostgreSQL validation failed: balances do not sum to the funding" >&2; exit 1; }
