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
    deliver_accepted(&server, "pull_request", "s-open", &opened).await;
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
    // The check run reads as the command line does: the score against the base rate, and
    // what would help (the pull request has no review yet).
    assert!(
        summary.contains("the base rate of trouble")
            && summary.contains("request a review: no one but the author has looked at it yet"),
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

/// Three heads of one PR, scored under `comment: {when: always, behavior: ...}`: the opened
/// one (high), a push that changes the probability but not the band (still high), and a push
/// after main's settings have made the change elevated (the advice changes). The comments
/// GitHub holds after each, each comment as the head it speaks of (1, 2 or 3).
async fn comments_after_pushes(behavior: &str) -> Vec<Vec<u8>> {
    let database = database(Db::Sqlite);
    let data = tempfile::tempdir().unwrap();
    let comment = format!("comment: {{when: always, behavior: {behavior}}}\n");
    let mut origin = origin(
        300,
        Some(&format!("thresholds: {VERY_LOW}\n{comment}")),
        None,
    );
    let gh = fake_github(json!([]), "read").await;
    let server = start_app_for(&origin, &database, &gh.uri(), data.path()).await;
    let mut heads = vec![origin.head[..10].to_string()];
    let mut after = Vec::new();
    for step in 0..3 {
        let (event, delivery) = match step {
            0 => ("pull_request.opened.json", "b-open"),
            1 => {
                origin.push(900);
                ("pull_request.synchronize.json", "b-sync-1")
            }
            _ => {
                origin.set_base_config(&format!(
                    "thresholds: {{elevated: 0.001, high: 0.999}}\n{comment}"
                ));
                origin.push(950);
                ("pull_request.synchronize.json", "b-sync-2")
            }
        };
        if step > 0 {
            heads.push(origin.head[..10].to_string());
        }
        let payload = pull_request_payload(event, &origin);
        let (status, _) =
            deliver(&server, "pull_request", delivery, &bytes(&payload), SECRET).await;
        assert_eq!(status, 202);
        wait_for("the check run", LONG, || async {
            completions(&gh).await.len() > step
        })
        .await;
        server.wait_until_drained().await;
        after.push(
            gh.comments(&format!("{OWNER}/{NAME}"), 2)
                .iter()
                .map(|c| {
                    let body = c["body"].as_str().unwrap();
                    let about: Vec<u8> = (1..)
                        .zip(&heads)
                        .filter(|(_, h)| body.contains(h.as_str()))
                        .map(|(i, _)| i)
                        .collect();
                    assert_eq!(about.len(), 1, "a comment about one head: {body}");
                    about[0]
                })
                .collect(),
        );
    }
    let titles: Vec<String> = completions(&gh)
        .await
        .iter()
        .map(|run| run["output"]["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles[0].ends_with("high") && titles[1].ends_with("high"),
        "{titles:?}"
    );
    assert_ne!(
        titles[0], titles[1],
        "the first push changes the probability"
    );
    assert!(titles[2].ends_with("elevated"), "{titles:?}");
    after
}

#[tokio::test(flavor = "multi_thread")]
async fn comment_behaviour_update_new_and_once() {
    assert_eq!(
        comments_after_pushes("update").await,
        [vec![1], vec![1], vec![3]],
        "edited in place, only when the band changes"
    );
    assert_eq!(
        comments_after_pushes("new").await,
        [vec![1], vec![1, 2], vec![1, 2, 3]],
        "a new one whenever the text changes"
    );
    assert_eq!(
        comments_after_pushes("once").await,
        [vec![1], vec![1], vec![1]],
        "left as posted"
    );
}
