-- riskgate store, PostgreSQL schema. Timestamps are unix milliseconds (BIGINT).
-- JSON values are kept as TEXT so both backends read and write the same text.

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY,            -- X-GitHub-Delivery
    event       TEXT NOT NULL,
    action      TEXT,
    repository  TEXT,                        -- owner/name
    received_at BIGINT NOT NULL,
    payload     TEXT NOT NULL                -- raw webhook body
);

CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    delivery_id  TEXT REFERENCES deliveries (id),
    kind         TEXT NOT NULL,
    repository   TEXT,
    pr_number    BIGINT,
    head_sha     TEXT,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'parked', 'superseded')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_after    BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    state        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE INDEX jobs_by_status ON jobs (status, run_after);
CREATE INDEX jobs_by_pull_request ON jobs (repository, pr_number, status);

CREATE TABLE installations (
    id            BIGINT PRIMARY KEY,            -- GitHub installation id
    account_login TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    repositories  TEXT NOT NULL DEFAULT '[]',    -- JSON list of owner/name
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    removed_at    BIGINT
);

CREATE TABLE scores (
    id            BIGSERIAL PRIMARY KEY,
    repository    TEXT NOT NULL,
    pr_number     BIGINT NOT NULL,
    head_sha      TEXT NOT NULL,
    base_sha      TEXT NOT NULL,
    probability   DOUBLE PRECISION NOT NULL,
    band          TEXT NOT NULL,
    model_version TEXT NOT NULL,
    features      TEXT NOT NULL,                 -- JSON object name -> value
    conclusion    TEXT NOT NULL,
    check_run_id  BIGINT,
    delivery_id   TEXT,
    created_at    BIGINT NOT NULL
);

CREATE INDEX scores_by_pull_request ON scores (repository, pr_number, created_at);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    repository TEXT NOT NULL,
    pr_number  BIGINT,
    head_sha   TEXT,
    kind       TEXT NOT NULL,
    actor      TEXT,
    detail     TEXT NOT NULL                     -- JSON
);

CREATE INDEX audit_events_by_repository ON audit_events (repository, at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE coverage_reports (
    id         BIGSERIAL PRIMARY KEY,
    repository TEXT NOT NULL,
    branch     TEXT NOT NULL,
    sha        TEXT NOT NULL,
    format     TEXT NOT NULL,                    -- lcov, cobertura, ...
    report     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX coverage_reports_by_branch ON coverage_reports (repository, branch, created_at);
CREATE INDEX coverage_reports_by_sha ON coverage_reports (repository, sha);
