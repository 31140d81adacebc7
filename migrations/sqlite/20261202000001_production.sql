-- Production history: merged pull requests, deployments and their statuses, incidents, and
-- the links between incidents and the pull requests that caused them.

CREATE TABLE pull_requests (
    repository       TEXT NOT NULL,
    number           INTEGER NOT NULL,
    title            TEXT NOT NULL,
    author           TEXT,
    head_sha         TEXT,
    merge_commit_sha TEXT,
    merged_at        INTEGER,
    closed_at        INTEGER,
    reverts_number   INTEGER,                   -- the pull request this one reverts
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (repository, number)
);

CREATE INDEX pull_requests_by_merge ON pull_requests (repository, merged_at);

-- Deployments and statuses are events: written once, never changed.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY NOT NULL,   -- GitHub deployment id
    repository  TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha         TEXT NOT NULL,
    ref_name    TEXT,
    task        TEXT,
    description TEXT,
    creator     TEXT,
    created_at  INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL
);

CREATE INDEX deployments_by_environment ON deployments (repository, environment, created_at);

CREATE TABLE deployment_statuses (
    id            INTEGER PRIMARY KEY NOT NULL, -- GitHub deployment status id
    deployment_id INTEGER NOT NULL,             -- no foreign key: a status may come first
    repository    TEXT NOT NULL,
    state         TEXT NOT NULL,
    creator       TEXT,
    description   TEXT,
    created_at    INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL
);

CREATE INDEX deployment_statuses_by_deployment ON deployment_statuses (deployment_id, created_at);
CREATE INDEX deployment_statuses_by_repository ON deployment_statuses (repository);

CREATE TRIGGER deployments_no_update BEFORE UPDATE ON deployments
BEGIN
    SELECT RAISE(ABORT, 'deployments are immutable events');
END;
CREATE TRIGGER deployments_no_delete BEFORE DELETE ON deployments
BEGIN
    SELECT RAISE(ABORT, 'deployments are immutable events');
END;
CREATE TRIGGER deployment_statuses_no_update BEFORE UPDATE ON deployment_statuses
BEGIN
    SELECT RAISE(ABORT, 'deployment statuses are immutable events');
END;
CREATE TRIGGER deployment_statuses_no_delete BEFORE DELETE ON deployment_statuses
BEGIN
    SELECT RAISE(ABORT, 'deployment statuses are immutable events');
END;

-- Derived from the two tables above and pull_requests; rebuilt whenever one of them changes.
CREATE TABLE deployment_pulls (
    deployment_id INTEGER NOT NULL,
    repository    TEXT NOT NULL,
    pr_number     INTEGER NOT NULL,
    PRIMARY KEY (deployment_id, pr_number)
);

CREATE INDEX deployment_pulls_by_repository ON deployment_pulls (repository, pr_number);

CREATE TABLE incidents (
    id          TEXT PRIMARY KEY NOT NULL,      -- the incident tool's id
    source      TEXT NOT NULL,                  -- github_issue, api, import
    title       TEXT NOT NULL,
    repository  TEXT,
    service     TEXT,
    environment TEXT,
    opened_at   INTEGER NOT NULL,
    resolved_at INTEGER,
    commit_sha  TEXT,
    pr_number   INTEGER,
    body        TEXT,
    recorded_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX incidents_by_repository ON incidents (repository, opened_at);

-- Derived: rebuilt from incidents, deployments and pull requests; `why` keeps the reason.
CREATE TABLE incident_links (
    incident_id   TEXT NOT NULL,
    repository    TEXT NOT NULL,
    pr_number     INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    why           TEXT NOT NULL,                -- JSON
    deployment_id INTEGER,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (incident_id, repository, pr_number)
);

CREATE INDEX incident_links_by_pull_request ON incident_links (repository, pr_number);

-- A maintainer's "this incident was not caused by that PR": never linked again.
CREATE TABLE incident_link_rejections (
    incident_id TEXT NOT NULL,
    repository  TEXT NOT NULL,
    pr_number   INTEGER NOT NULL,
    rejected_by TEXT,
    note        TEXT,
    at          INTEGER NOT NULL,
    PRIMARY KEY (incident_id, repository, pr_number)
);
