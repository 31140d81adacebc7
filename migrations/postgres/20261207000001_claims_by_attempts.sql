-- The parking of exhausted jobs that starts each claim read every job still to run to find
-- the few whose attempts are used up (none, mostly): O(queue) per claim. It reads those alone.
CREATE INDEX jobs_live_by_attempts ON jobs (attempts) WHERE status IN ('queued', 'running');
