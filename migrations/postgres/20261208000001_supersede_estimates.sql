-- The intake's supersede for a batch over several pull requests joins the jobs table to the
-- batch's pull requests, so its plan cannot see their values and estimates from the
-- statistics alone. When nearly every job is queued for one pull request and head (GitHub
-- unreachable, one busy pull request), those say that any pull request and head match the
-- whole table, and the plan read every live job and then the whole table for each batch. A
-- pull request has some tens of jobs and a head a few, whatever one backlog says: the planner
-- is told so, and keeps to jobs_by_pull_request. Plans made with known values still use the
-- most common values ANALYZE finds.
ALTER TABLE jobs
    ALTER COLUMN pr_number SET (n_distinct = -0.05),
    ALTER COLUMN head_sha SET (n_distinct = -0.5);
ANALYZE jobs;
