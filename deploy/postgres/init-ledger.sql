-- One PostgreSQL server, two databases: `dagster` (the instance: runs, event logs, schedules;
-- created by POSTGRES_DB) and `export_ledger` (every vendor job, created here on first start).
CREATE DATABASE export_ledger;
