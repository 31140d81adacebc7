-- When a coverage report was last read to score a change. The newest report of a branch used
-- to be kept for good, so every pull request's branch kept one report (up to 128 MiB) for
-- ever; it is now kept while it is recent or was read for a score within the retention period.
ALTER TABLE coverage_reports ADD COLUMN used_at BIGINT;
