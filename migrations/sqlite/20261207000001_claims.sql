-- A claim, and the parking of exhausted jobs it starts with, used to read every due job through
-- jobs_by_status and sort them by id: O(queue) while the claim holds SQLite's one write turn,
-- 30-50 ms at 90,000 queued jobs, during which no webhook delivery could be recorded. A claim
-- now walks the jobs still to run in id order and stops at the first due one; the parking
-- reads only the jobs whose attempts are used up. The claims name these indexes
-- (INDEXED BY): without statistics SQLite's planner keeps to jobs_by_status.
CREATE INDEX jobs_live_by_id ON jobs (id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_live_by_attempts ON jobs (attempts) WHERE status IN ('queued', 'running');
