//! `.github/riskgate.yml` as the App applies it: advisory mode, per-path thresholds and when
//! the comment is posted, against the stateful fake GitHub.

use serde_json::{json, Value};

use crate::harness::*;
use crate::support::{database, Db};

/// Scores the fixture PR (`src/payments/charge.rs`, 300 lines) of a repository whose main
/// holds `config`; the completed check run and the comments GitHub then holds.
async fn scored_with(config: &str) -> (Value, Vec<Value>) {
    scored_in_organisation(Some(config), None).await
}

/// The same, with `organisation` as the `.github/riskgate.yml` of the owner's `.github`
/// repository.
async fn scored_in_organisation(
    config: Option<&str>,
    organisation: Option<&str>,
) -> (Value, Vec<Value>) {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let origin = origin(300, config, None);
    let gh = fake_github(json!([]), "read").await;
    if let Some(text) = organisation {
        gh.set_file(&format!("{OWNER}/.github"), ".github/riskgate.yml", text);
    }
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, text) = deliver(&server, "pull_request", "s-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202, "{text}");
    wait_for("the check run to complete", LONG, || async {
        !completions(&gh).await.is_empty()
    })
    .await;
    server.wait_until_drained().await;
    let run = completions(&gh).await.remove(0);
    (run, gh.comments(&format!("{OWNER}/{NAME}"), 2))
}

const VERY_LOW: &str = "{elevated: 0.001, high: 0.002}";

#[tokio::test(flavor = "multi_thread")]
async fn advisory_mode_never_fails_a_high_risk() {
    let (gate, _) = scored_with(&format!("thresholds: {VERY_LOW}\n")).await;
    assert_eq!(gate["conclusion"], "failure", "{gate}");
    let (advisory, _) = scored_with(&format!("thresholds: {VERY_LOW}\nmode: advisory\n")).await;
    assert_eq!(advisory["conclusion"], "neutral", "{advisory}");
    assert!(advisory["output"]["title"]
        .as_str()
        .unwrap()
        .contains("high"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_strictest_touched_path_rule_sets_the_band_and_is_named() {
    let config = format!("paths:\n  'src/payments/**': {VERY_LOW}\n  'docs/**': {{high: 0.001}}\n");
    let (run, _) = scored_with(&config).await;
    assert_eq!(run["conclusion"], "failure", "{run}");
    let summary = run["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains(
            "held to the thresholds of `` src/payments/** `` (elevated from 0.1%, high from 0.2%)"
        ) && summary.contains("src/payments/charge.rs"),
        "{summary}"
    );
    // A rule for paths the change does not touch changes nothing.
    let (run, _) = scored_with("paths: {'docs/**': {elevated: 0.001, high: 0.002}}\n").await;
    assert_ne!(run["conclusion"], "failure", "{run}");
    assert!(!run["output"]["summary"]
        .as_str()
        .unwrap()
        .contains("held to the thresholds"));
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_when_high_posts_only_for_a_high_risk() {
    let (_, comments) = scored_with(&format!("thresholds: {VERY_LOW}\ncomment: high\n")).await;
    assert_eq!(comments.len(), 1, "high risk: one comment");
    let lenient = "thresholds: {elevated: 0.001, high: 0.99}\ncomment: {when: high}\n";
    let (run, comments) = scored_with(lenient).await;
    assert!(
        run["output"]["title"]
            .as_str()
            .unwrap()
            .contains("elevated"),
        "{run}"
    );
    assert!(
        comments.is_empty(),
        "elevated is below `when: high`: {comments:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_organisations_defaults_apply_and_an_extending_file_is_laid_over_them() {
    let org = format!("thresholds: {VERY_LOW}\nmode: advisory\n");
    // No file of its own: the organisation's applies.
    let (run, _) = scored_in_organisation(None, Some(&org)).await;
    assert!(
        run["output"]["title"].as_str().unwrap().contains("high"),
        "{run}"
    );
    assert_eq!(
        run["conclusion"], "neutral",
        "advisory from the organisation: {run}"
    );
    // A file of its own without `_extends` stands alone.
    let (run, _) = scored_in_organisation(Some("score_drafts: true\n"), Some(&org)).await;
    assert!(
        !run["output"]["title"].as_str().unwrap().contains("high"),
        "{run}"
    );
    // `_extends: .github` keeps the organisation's thresholds and overrides its mode.
    let (run, _) =
        scored_in_organisation(Some("_extends: .github\nmode: gate\n"), Some(&org)).await;
    assert_eq!(run["conclusion"], "failure", "{run}");
    // A broken organisation file fails the check and names the file.
    let (run, _) = scored_in_organisation(None, Some("mode: sometimes\n")).await;
    assert_eq!(run["conclusion"], "failure", "{run}");
    let summary = run["output"]["summary"].as_str().unwrap();
    assert!(
        summary.contains("Codertocat/.github:.github/riskgate.yml")
            && summary.contains("sometimes"),
        "{summary}"
    );
}

/// Two pushes that change the score: the comment is edited in place (`update`), posted anew
/// (`new`) or left as first posted (`once`). The comments, each as the head it speaks of (the
/// first push's `1` or the second's `2`).
async fn comments_after_two_pushes(behavior: &str) -> Vec<u8> {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let config =
        format!("thresholds: {VERY_LOW}\ncomment: {{when: always, behavior: {behavior}}}\n");
    let mut origin = origin(300, Some(&config), None);
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let opened = pull_request_payload("pull_request.opened.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "b-open", &bytes(&opened), SECRET).await;
    assert_eq!(status, 202);
    server.wait_until_drained().await;
    let first = origin.head[..10].to_string();
    origin.push(900);
    let second = origin.head[..10].to_string();
    let sync = pull_request_payload("pull_request.synchronize.json", &origin);
    let (status, _) = deliver(&server, "pull_request", "b-sync", &bytes(&sync), SECRET).await;
    assert_eq!(status, 202);
    wait_for("the second check run", LONG, || async {
        completions(&gh).await.len() >= 2
    })
    .await;
    server.wait_until_drained().await;
    gh.comments(&format!("{OWNER}/{NAME}"), 2)
        .iter()
        .map(|c| {
            let body = c["body"].as_str().unwrap();
            match (body.contains(&first), body.contains(&second)) {
                (true, false) => 1,
                (false, true) => 2,
                _ => panic!("a comment about neither head: {body}"),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_behaviour_update_new_and_once() {
    assert_eq!(
        comments_after_two_pushes("update").await,
        [2],
        "edited in place"
    );
    assert_eq!(comments_after_two_pushes("new").await, [1, 2], "a new one");
    assert_eq!(
        comments_after_two_pushes("once").await,
        [1],
        "left as posted"
    );
}
