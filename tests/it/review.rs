//! The App scores with the review model: a pull request's reviews are inputs, so an approval
//! lowers the score when GitHub's review event asks for a rescore, and the check run says why.

use serde_json::json;

use crate::harness::*;
use crate::support::{database, Db};
use riskgate::store::Store;

async fn an_approval_lowers_the_score_on_rescore(db: Db) {
    let database = database(db);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(300, None, None);
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let store = Store::connect(&database.url).await.unwrap();
    let full = format!("{OWNER}/{NAME}");

    let opened = pull_request_payload("pull_request.opened.json", &origin);
    deliver_accepted(&server, "pull_request", "r-open", &opened).await;
    wait_for("the first check", LONG, || async {
        completions(&gh).await.len() == 1
    })
    .await;
    let first = completions(&gh).await.remove(0);
    let summary = first["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("no one but the author has approved it yet"),
        "an unreviewed PR is scored as unreviewed: {summary}"
    );

    // Alice, who wrote the code the PR builds on, approves the head.
    gh.add_review(
        &full,
        2,
        json!({
            "id": 9001,
            "user": {"login": "alice"},
            "state": "APPROVED",
            "body": "Looks right.",
            "commit_id": origin.head,
            "submitted_at": "2024-02-02T10:00:00Z"
        }),
    );
    let review = review_payload(&origin, &opened);
    deliver_accepted(&server, "pull_request_review", "r-review", &review).await;
    wait_for("the rescored check", LONG, || async {
        completions(&gh).await.len() == 2
    })
    .await;
    server.wait_until_drained().await;
    let rescored = completions(&gh).await.remove(1);
    let summary = rescored["output"]["summary"].as_str().unwrap();
    let since = summary
        .lines()
        .find(|l| l.starts_with("Down from "))
        .unwrap_or_else(|| panic!("the rescored check says the score went down: {summary}"));
    assert!(
        since.ends_with(
            "at the last score of this commit: a reviewer other than the author has approved it"
        ),
        "the rescored check names the approval as what moved the score: {since}"
    );
    assert!(
        !summary.contains("no one but the author has approved it yet"),
        "{summary}"
    );

    let scores = store.scores_for(&full).await.unwrap();
    assert_eq!(scores.len(), 2, "{scores:?}");
    assert_eq!(
        scores[0].head_sha, scores[1].head_sha,
        "the same head, rescored"
    );
    assert!(
        scores[1].probability < scores[0].probability,
        "the approval lowers the score: {} then {}",
        scores[0].probability,
        scores[1].probability
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_an_approval_lowers_the_score_on_rescore() {
    an_approval_lowers_the_score_on_rescore(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_an_approval_lowers_the_score_on_rescore() {
    an_approval_lowers_the_score_on_rescore(Db::Postgres).await;
}
