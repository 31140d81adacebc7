-- Claiming a job reads the jobs still to run, oldest first. Without an index of those alone
-- PostgreSQL walked the primary key from the oldest job, through every finished job the table
-- keeps until retention prunes them (20 ms a claim at 120,000 jobs). SQLite reads the due
-- jobs through jobs_by_status instead and needs no such index.
CREATE INDEX jobs_live_by_id ON jobs (id) WHERE status IN ('queued', 'running');
