-- The planner is kept from estimating `jobs.status` from statistics. Between ANALYZEs those
-- describe the table as it was, and the table changes shape at once: finished jobs are
-- nearly all of it, until GitHub is unreachable and a backlog queues. Statistics that say no
-- job is queued make the intake's supersede read every queued job once for each queued job,
-- so that each delivery slows with the square of the backlog (91 deliveries/s instead of
-- 4,000 with 500,000 finished jobs and a backlog of a thousand), and autovacuum analyses a
-- large table again only after a tenth of it has changed. Without statistics, `status = x`
-- is estimated at a small fixed share, and the supersede keeps to the index of its pull
-- request (`jobs_by_pull_request`) whether the queue is empty or long.
--
-- A target of 0 stops ANALYZE from collecting them, but keeps what it collected before;
-- changing the column to its own type drops those (the table is not rewritten; the indexes
-- on `status` are rebuilt).
ALTER TABLE jobs
    ALTER COLUMN status SET STATISTICS 0,
    ALTER COLUMN status TYPE text;
