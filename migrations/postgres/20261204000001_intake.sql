-- Webhook intake. A delivery's body is kept deflated (`payload_deflate`, `payload` then '');
-- rows written before keep their text in `payload`. The index on a pull request's jobs carries
-- kind, head and id, so that superseding older heads reads only the rows it changes.
ALTER TABLE deliveries ADD COLUMN payload_deflate BYTEA;
DROP INDEX jobs_by_pull_request;
CREATE INDEX jobs_by_pull_request ON jobs (repository, pr_number, status, kind, head_sha, id);
-- Deflated already: PostgreSQL need not try to compress it again before moving it out of line.
ALTER TABLE deliveries ALTER COLUMN payload_deflate SET STORAGE EXTERNAL;
