#!/usr/bin/env python3
"""Fills a riskgate SQLite database (already created by riskgate, so its schema is current)
with a large production history, for scripts/bench-dashboard.sh:

    python3 scripts/gen-large-history.py DB [SCORES]

`big/repo`: SCORES scores (default 300,000) of a third as many pull requests, each score with
25 signals; 100,000 merged pull requests; 30,000 deployments with two statuses each; 5,000
incidents. `other/x`: 200,000 incidents (a neighbour the dashboard of `small/repo` must not
read). `small/repo`: one score and three incidents. Deterministic.
"""

import json
import sqlite3
import sys

DAY = 86_400_000


def main():
    db = sys.argv[1]
    scores = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
    now = 1_796_000_000_000
    start = now - 400 * DAY
    c = sqlite3.connect(db)
    features = json.dumps({f"f{i}": i * 1.5 for i in range(25)})
    sha = lambda n: f"{n:040x}"
    span = lambda i, n: start + (now - start) * i // n
    pulls = max(scores // 3, 1)
    c.executemany(
        "INSERT INTO scores (repository, pr_number, head_sha, base_sha, probability, band, "
        "model_version, features, conclusion, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (("big/repo", i % pulls + 1, sha(i), sha(i + 7), (i % 97) / 100, ["low", "elevated", "high"][i % 3],
          "m-1", features, "neutral", span(i, scores)) for i in range(scores)))
    c.executemany(
        "INSERT INTO pull_requests (repository, number, title, author, head_sha, merge_commit_sha, "
        "merged_at, closed_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
        (("big/repo", n, f"Change number {n}", f"user{n % 50}", sha(n), sha(n + 1_000_000),
          span(n, 100_000), span(n, 100_000), now) for n in range(1, 100_001)))
    c.executemany(
        "INSERT INTO deployments (id, repository, environment, sha, ref_name, created_at, recorded_at) "
        "VALUES (?,?,?,?,?,?,?)",
        ((d, "big/repo", ["staging", "production"][d % 2], sha(d * 3 + 1_000_000), "main",
          span(d, 30_000), now) for d in range(1, 30_001)))
    c.executemany(
        "INSERT INTO deployment_statuses (id, deployment_id, repository, state, created_at, recorded_at) "
        "VALUES (?,?,?,?,?,?)",
        ((s, (s + 1) // 2, "big/repo", "in_progress" if s % 2 else ("failure" if s % 20 == 0 else "success"),
          span((s + 1) // 2, 30_000) + 60_000 * (s % 2 + 1), now) for s in range(1, 60_001)))
    incidents = [(f"big-{i}", "api", f"Incident {i}", "big/repo", span(i, 5_000)) for i in range(5_000)]
    incidents += [(f"other-{i}", "api", f"Incident {i}", "other/x", span(i, 200_000)) for i in range(200_000)]
    incidents += [(f"small-{i}", "api", f"Incident {i}", "small/repo", now - i * DAY) for i in range(3)]
    c.executemany(
        "INSERT INTO incidents (id, source, title, repository, environment, opened_at, recorded_at, "
        "updated_at) VALUES (?,?,?,?,'production',?,?,?)",
        ((i, s, t, r, at, now, now) for (i, s, t, r, at) in incidents))
    c.execute(
        "INSERT INTO scores (repository, pr_number, head_sha, base_sha, probability, band, "
        "model_version, features, conclusion, created_at) VALUES "
        "('small/repo', 1, ?, ?, 0.2, 'elevated', 'm-1', ?, 'neutral', ?)",
        (sha(1), sha(2), features, now - DAY))
    c.commit()
    print(f"{db}: big/repo {scores} scores, 100000 pull requests, 30000 deployments; "
          "other/x 200000 incidents; small/repo 1 score")


if __name__ == "__main__":
    main()
