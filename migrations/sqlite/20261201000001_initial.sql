-- riskgate store, SQLite schema. Timestamps are unix milliseconds (INTEGER).
-- JSON values are kept as TEXT.

CREATE TABLE deliveries (
    id          TEXT PRIMARY KEY NOT NULL,   -- X-GitHub-Delivery
    event       TEXT NOT NULL,
    action      TEXT,
    repository  TEXT,                        -- owner/name
    received_at INTEGER NOT NULL,
    payload     TEXT NOT NULL                -- raw webhook body
);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT REFERENCES deliveries (id),
    kind         TEXT NOT NULL,
    repository   TEXT,
    pr_number    INTEGER,
    head_sha     TEXT,
    payload      TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'parked', 'superseded')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    run_after    INTEGER NOT NULL,
    locked_by    TEXT,
    locked_until INTEGER,
    last_error   TEXT,
    state        TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX jobs_by_status ON jobs (status, run_after);
CREATE INDEX jobs_by_pull_request ON jobs (repository, pr_number, status);

CREATE TABLE installations (
    id            INTEGER PRIMARY KEY NOT NULL,   -- GitHub installation id
    account_login TEXT NOT NULL,
    target_type   TEXT NOT NULL,
    repositories  TEXT NOT NULL DEFAULT '[]',     -- JSON list of owner/name
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    removed_at    INTEGER
);

CREATE TABLE scores (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    repository    TEXT NOT NULL,
    pr_number     INTEGER NOT NULL,
    head_sha      TEXT NOT NULL,
    base_sha      TEXT NOT NULL,
    probability   REAL NOT NULL,
    band          TEXT NOT NULL,
    model_version TEXT NOT NULL,
    features      TEXT NOT NULL,                  -- JSON object name -> value
    conclusion    TEXT NOT NULL,
    check_run_id  INTEGER,
    delivery_id   TEXT,
    created_at    INTEGER NOT NULL
);

CREATE INDEX scores_by_pull_request ON scores (repository, pr_number, created_at);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    repository TEXT NOT NULL,
    pr_number  INTEGER,
    head_sha   TEXT,
    kind       TEXT NOT NULL,
    actor      TEXT,
    detail     TEXT NOT NULL                      -- JSON
);

CREATE INDEX audit_events_by_repository ON audit_events (repository, at);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TABLE coverage_reports (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    repository TEXT NOT NULL,
    branch     TEXT NOT NULL,
    sha        TEXT NOT NULL,
    format     TEXT NOT NULL,                     -- lcov, cobertura, ...
    report     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE INDEX coverage_reports_by_branch ON coverage_reports (repository, branch, created_at);
CREATE INDEX coverage_reports_by_sha ON coverage_reports (repository, sha);
