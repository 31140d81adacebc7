-- Production history: merged pull requests, deployments and their statuses, incidents, and
-- the links between incidents and the pull requests that caused them.

CREATE TABLE pull_requests (
    repository       TEXT NOT NULL,
    number           BIGINT NOT NULL,
    title            TEXT NOT NULL,
    author           TEXT,
    head_sha         TEXT,
    merge_commit_sha TEXT,
    merged_at        BIGINT,
    closed_at        BIGINT,
    reverts_number   BIGINT,                   -- the pull request this one reverts
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (repository, number)
);

CREATE INDEX pull_requests_by_merge ON pull_requests (repository, merged_at);

-- Deployments and statuses are events: written once, never changed.
CREATE TABLE deployments (
    id          BIGINT PRIMARY KEY,             -- GitHub deployment id
    repository  TEXT NOT NULL,
    environment TEXT NOT NULL,
    sha         TEXT NOT NULL,
    ref_name    TEXT,
    task        TEXT,
    description TEXT,
    creator     TEXT,
    created_at  BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);

CREATE INDEX deployments_by_environment ON deployments (repository, environment, created_at);

CREATE TABLE deployment_statuses (
    id            BIGINT PRIMARY KEY,           -- GitHub deployment status id
    deployment_id BIGINT NOT NULL,             -- no foreign key: a status may come first
    repository    TEXT NOT NULL,
    state         TEXT NOT NULL,
    creator       TEXT,
    description   TEXT,
    created_at    BIGINT NOT NULL,
    recorded_at   BIGINT NOT NULL
);

CREATE INDEX deployment_statuses_by_deployment ON deployment_statuses (deployment_id, created_at);
CREATE INDEX deployment_statuses_by_repository ON deployment_statuses (repository);

CREATE FUNCTION production_events_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable events', TG_TABLE_NAME;
END;
$$;

CREATE TRIGGER deployments_immutable
    BEFORE UPDATE OR DELETE ON deployments
    FOR EACH ROW EXECUTE FUNCTION production_events_immutable();

CREATE TRIGGER deployment_statuses_immutable
    BEFORE UPDATE OR DELETE ON deployment_statuses
    FOR EACH ROW EXECUTE FUNCTION production_events_immutable();

-- Derived from the two tables above and pull_requests; rebuilt whenever one of them changes.
CREATE TABLE deployment_pulls (
    deployment_id BIGINT NOT NULL,
    repository    TEXT NOT NULL,
    pr_number     BIGINT NOT NULL,
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
    opened_at   BIGINT NOT NULL,
    resolved_at BIGINT,
    commit_sha  TEXT,
    pr_number   BIGINT,
    body        TEXT,
    recorded_at BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX incidents_by_repository ON incidents (repository, opened_at);

-- Derived: rebuilt from incidents, deployments and pull requests; `why` keeps the reason.
CREATE TABLE incident_links (
    incident_id   TEXT NOT NULL,
    repository    TEXT NOT NULL,
    pr_number     BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    why           TEXT NOT NULL,                -- JSON
    deployment_id BIGINT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (incident_id, repository, pr_number)
);

CREATE INDEX incident_links_by_pull_request ON incident_links (repository, pr_number);

-- A maintainer's "this incident was not caused by that PR": never linked again.
CREATE TABLE incident_link_rejections (
    incident_id TEXT NOT NULL,
    repository  TEXT NOT NULL,
    pr_number   BIGINT NOT NULL,
    rejected_by TEXT,
    note        TEXT,
    at          BIGINT NOT NULL,
    PRIMARY KEY (incident_id, repository, pr_number)
);
