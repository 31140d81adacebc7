//! Reading deliveries, from hand-written bodies and the recorded fixtures.

use super::*;

#[test]
fn ping_is_understood() {
    let e = parse_event(
        "ping",
        br#"{"zen":"Keep it logically awesome.","hook_id":1}"#,
    )
    .unwrap();
    assert_eq!(e, Event::Ping);
    assert!(e.is_ignored());
}

#[test]
fn null_body_and_empty_object_are_ignored() {
    for body in [&b"null"[..], b"{}", b"[]", b"42", b"\"x\""] {
        for event in ["pull_request", "check_run", "installation", "ping-ish"] {
            let e = parse_event(event, body).unwrap();
            assert!(
                matches!(e, Event::Ignored { .. }),
                "{event} {body:?}: {e:?}"
            );
        }
    }
}

#[test]
fn malformed_json_is_an_error() {
    assert!(parse_event("pull_request", b"{\"action\": ").is_err());
    assert!(parse_event("pull_request", b"").is_err());
    assert!(parse_event("pull_request", b"not json").is_err());
}

#[test]
fn wrong_types_are_ignored_not_a_panic() {
    let body = br#"{"action":"opened","pull_request":{"number":"two"}}"#;
    let e = parse_event("pull_request", body).unwrap();
    match e {
        Event::Ignored { reason, .. } => assert!(reason.contains("shape"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let body = br#"{"action":7}"#;
    assert!(matches!(
        parse_event("pull_request", body).unwrap(),
        Event::Ignored { .. }
    ));
}

#[test]
fn missing_fields_name_the_field() {
    let body = format!(
        r#"{{"action":"opened","pull_request":{{"number":3,"head":{{"sha":"{}","ref":"x"}},"base":{{"sha":"{}","ref":"main"}},"user":{{"login":"u"}}}}}}"#,
        "a".repeat(40),
        "b".repeat(40)
    );
    match parse_event("pull_request", body.as_bytes()).unwrap() {
        Event::Ignored { reason, action, .. } => {
            assert_eq!(action.as_deref(), Some("opened"));
            assert!(reason.contains("repository"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_actions_and_events_are_ignored() {
    let body = br#"{"action":"closed"}"#;
    match parse_event("pull_request", body).unwrap() {
        Event::Ignored { action, .. } => assert_eq!(action.as_deref(), Some("closed")),
        other => panic!("{other:?}"),
    }
    assert!(parse_event("star", br#"{"action":"created"}"#)
        .unwrap()
        .is_ignored());
}

const REPO: &str = r#""repository":{"full_name":"o/r","clone_url":"file:///tmp/r.git"}"#;

#[test]
fn deployment_status_carries_its_deployment() {
    let body = format!(
        r#"{{"action":"created",{REPO},"installation":{{"id":3}},
        "deployment":{{"id":11,"sha":"abc","ref":"main","task":"deploy","environment":"production",
          "creator":{{"login":"bot"}},"created_at":"2026-11-02T10:00:00Z","payload":"x"}},
        "deployment_status":{{"id":99,"state":"success","creator":{{"login":"ci"}},
          "created_at":"2026-11-02T10:05:00Z"}}}}"#
    );
    match parse_event("deployment_status", body.as_bytes()).unwrap() {
        Event::Deployment {
            deployment, status, ..
        } => {
            assert_eq!(deployment.id, 11);
            assert_eq!(deployment.environment, "production");
            assert_eq!(deployment.created_at, 1_793_613_600_000);
            let status = status.unwrap();
            assert_eq!((status.id, status.deployment_id), (99, 11));
            assert_eq!(status.created_at - deployment.created_at, 5 * 60_000);
        }
        other => panic!("{other:?}"),
    }
    let no_env = body.replace(r#""environment":"production","#, "");
    match parse_event("deployment", no_env.as_bytes()).unwrap() {
        Event::Ignored { reason, .. } => {
            assert!(reason.contains("deployment.environment"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn merged_revert_names_what_it_reverts() {
    let body = format!(
        r#"{{"action":"closed","number":8,{REPO},
        "pull_request":{{"number":8,"title":"Revert \"Add cache\"","body":"Reverts o/r#5",
          "merged":true,"merged_at":"2026-11-02T10:00:00Z","closed_at":"2026-11-02T10:00:00Z",
          "merge_commit_sha":"feed","user":{{"login":"carol"}},"head":{{"sha":"beef"}}}}}}"#
    );
    match parse_event("pull_request", body.as_bytes()).unwrap() {
        Event::PullRequestClosed { pull, .. } => {
            assert_eq!(pull.number, 8);
            assert_eq!(pull.reverts_number, Some(5));
            assert_eq!(pull.merged_at, Some(1_793_613_600_000));
            assert_eq!(pull.merge_commit_sha.as_deref(), Some("feed"));
        }
        other => panic!("{other:?}"),
    }
    let unmerged = body.replace(r#""merged":true"#, r#""merged":false"#);
    match parse_event("pull_request", unmerged.as_bytes()).unwrap() {
        Event::PullRequestClosed { pull, .. } => {
            assert_eq!(pull.merged_at, None);
            assert_eq!(pull.merge_commit_sha, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_labelled_issues_are_candidates() {
    let issue = |labels: &str| {
        format!(
            r#"{{"action":"opened",{REPO},"issue":{{"number":4,"title":"Down","labels":{labels},
            "created_at":"2026-11-02T10:00:00Z"}}}}"#
        )
    };
    assert!(parse_event("issues", issue("[]").as_bytes())
        .unwrap()
        .is_ignored());
    match parse_event("issues", issue(r#"[{"name":"incident"}]"#).as_bytes()).unwrap() {
        Event::Issue { number, labels, .. } => {
            assert_eq!(number, 4);
            assert_eq!(labels, vec!["incident".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_workflow_run_knows_whether_its_head_came_from_a_fork() {
    let run = |head_repository: &str| {
        let body = format!(
            r#"{{"action":"completed","repository":{{"id":10,"full_name":"o/r","clone_url":"file:///tmp/r.git"}},
            "workflow_run":{{"id":9,"head_sha":"0123456789abcdef0123456789abcdef01234567","head_branch":"main","conclusion":"success",
              "pull_requests":[]{head_repository}}}}}"#
        );
        match parse_event("workflow_run", body.as_bytes()).unwrap() {
            Event::WorkflowRun {
                head_repository,
                same_repository,
                ..
            } => (head_repository, same_repository),
            other => panic!("{other:?}"),
        }
    };
    let own = run(r#","head_repository":{"id":10,"full_name":"o/r"}"#);
    assert_eq!(own, (Some("o/r".to_string()), true));
    let fork = run(r#","head_repository":{"id":11,"full_name":"mallory/r"}"#);
    assert_eq!(fork, (Some("mallory/r".to_string()), false));
    // The id decides: a fork cannot pass for the repository by its name.
    let named_alike = run(r#","head_repository":{"id":11,"full_name":"o/r"}"#);
    assert!(!named_alike.1);
    // Without ids, the names decide.
    let by_name = run(r#","head_repository":{"name":"r","owner":{"login":"O"}}"#);
    assert_eq!(by_name, (Some("O/r".to_string()), true));
    let unknown = run("");
    assert_eq!(
        unknown,
        (None, false),
        "a run of unknown origin is not trusted"
    );
    let null = run(r#","head_repository":null"#);
    assert_eq!(null, (None, false));
}

#[test]
fn merge_group_checks_requested_is_read_from_the_fixture() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/github/merge_group.checks_requested.json"
    ))
    .unwrap();
    match parse_event("merge_group", &body).unwrap() {
        Event::MergeGroup {
            action,
            installation_id,
            repo,
            head_sha,
            head_ref,
            base_sha,
            base_ref,
        } => {
            assert_eq!(action, "checks_requested");
            assert_eq!(installation_id, Some(1));
            assert_eq!(repo.full_name, "Codertocat/Hello-World");
            assert!(is_commit_sha(&head_sha) && is_commit_sha(&base_sha));
            assert!(head_ref.starts_with("refs/heads/gh-readonly-queue/main/pr-2-"));
            assert_eq!(base_ref, "refs/heads/main");
        }
        other => panic!("{other:?}"),
    }
    let mut destroyed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    destroyed["action"] = "destroyed".into();
    destroyed["reason"] = "merged".into();
    let destroyed = serde_json::to_vec(&destroyed).unwrap();
    assert!(parse_event("merge_group", &destroyed).unwrap().is_ignored());
}

#[test]
fn merge_group_refs_and_shas_must_be_plain() {
    let body = |head_ref: &str, head_sha: &str| {
        serde_json::json!({
            "action": "checks_requested",
            "repository": {"full_name": "o/r", "clone_url": "file:///tmp/r.git"},
            "merge_group": {"head_ref": head_ref, "head_sha": head_sha,
                            "base_ref": "refs/heads/main", "base_sha": "b".repeat(40)},
        })
        .to_string()
    };
    let sha = "a".repeat(40);
    let good = body("refs/heads/gh-readonly-queue/main/pr-2-abc", &sha);
    assert!(matches!(
        parse_event("merge_group", good.as_bytes()).unwrap(),
        Event::MergeGroup { .. }
    ));
    for (head_ref, head_sha) in [
        ("--upload-pack=touch /tmp/x", sha.as_str()),
        ("refs/heads/a:refs/heads/b", &sha),
        ("refs/heads/*", &sha),
        ("refs/heads/x/../../y", &sha),
        ("refs/tags/v1", &sha),
        ("refs/heads/-rf", &sha),
        ("refs/heads/ok", "HEAD~1"),
        ("refs/heads/ok", "--all"),
    ] {
        match parse_event("merge_group", body(head_ref, head_sha).as_bytes()).unwrap() {
            Event::Ignored { reason, .. } => {
                assert!(reason.contains("merge_group.head_"), "{reason}")
            }
            other => panic!("{head_ref} {head_sha}: {other:?}"),
        }
    }
}

/// A pull request's, a review's, a check run's and a check suite's commit ids and branches go
/// to git too: the recorded deliveries are read, and each with one field made a revision
/// expression, an option or a ref of another kind is ignored, naming the field.
#[test]
fn pull_request_refs_and_shas_must_be_plain() {
    let fixture = |name: &str| -> serde_json::Value {
        let path = format!("{}/fixtures/github/{name}.json", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let cases: [(&str, &str, &[&str]); 3] = [
        (
            "pull_request",
            "pull_request.opened",
            &[
                "/pull_request/head/sha",
                "/pull_request/base/sha",
                "/pull_request/head/ref",
                "/pull_request/base/ref",
            ],
        ),
        (
            "pull_request_review",
            "pull_request_review.submitted",
            &["/pull_request/head/sha", "/pull_request/base/ref"],
        ),
        (
            "check_run",
            "check_run.rerequested",
            &["/check_run/head_sha"],
        ),
    ];
    for (event, file, fields) in cases {
        let body = fixture(file);
        let read = parse_event(event, body.to_string().as_bytes()).unwrap();
        assert!(!read.is_ignored(), "{file} as recorded: {read:?}");
        for field in fields.iter() {
            let is_sha = field.ends_with("sha");
            let wrong: &[&str] = if is_sha {
                &[
                    "refs/heads/main",
                    "HEAD~1",
                    "--all",
                    "x^{/fix}",
                    "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
                ]
            } else {
                &[
                    "--upload-pack=touch /tmp/x",
                    "a:b",
                    "*",
                    "x/../y",
                    "-rf",
                    "main@{1}",
                ]
            };
            for value in wrong {
                let mut body = body.clone();
                *body.pointer_mut(field).unwrap() = (*value).into();
                match parse_event(event, body.to_string().as_bytes()).unwrap() {
                    Event::Ignored { reason, .. } => {
                        let name = field.trim_start_matches('/').replace('/', ".");
                        assert!(reason.contains(&format!("`{name}`")), "{reason}")
                    }
                    other => panic!("{event} {field}={value}: {other:?}"),
                }
            }
        }
    }
    let suite = serde_json::json!({
        "action": "requested",
        "repository": {"full_name": "o/r"},
        "check_suite": {"head_sha": "HEAD~1", "pull_requests": []},
    });
    assert!(matches!(
        parse_event("check_suite", suite.to_string().as_bytes()).unwrap(),
        Event::Ignored { .. }
    ));
}

#[test]
fn branch_refs() {
    for ok in [
        "refs/heads/main",
        "refs/heads/gh-readonly-queue/main/pr-12-0123abc",
        "refs/heads/feature/ünïcode",
        "refs/heads/a.b-c_d",
    ] {
        assert!(is_branch_ref(ok), "{ok}");
    }
    for bad in [
        "main",
        "refs/heads/",
        "refs/heads/a//b",
        "refs/heads/.hidden",
        "refs/heads/a.lock",
        "refs/heads/a.",
        "refs/heads/a b",
        "refs/heads/a@{1}",
        "refs/heads/a\\b",
        "refs/heads/a\nb",
        "refs/heads/@",
    ] {
        assert!(!is_branch_ref(bad), "{bad:?}");
    }
}

#[test]
fn repository_without_full_name_uses_owner_and_name() {
    let body = br#"{"action":"completed","workflow_run":{"id":9,"head_sha":"0123456789abcdef0123456789abcdef01234567","pull_requests":[{"number":4}]},
        "repository":{"name":"r","owner":{"login":"o"},"clone_url":"file:///tmp/r.git"}}"#;
    match parse_event("workflow_run", body).unwrap() {
        Event::WorkflowRun {
            repo,
            run_id,
            pull_numbers,
            installation_id,
            ..
        } => {
            assert_eq!(repo.full_name, "o/r");
            assert_eq!(run_id, 9);
            assert_eq!(pull_numbers, vec![4]);
            assert_eq!(installation_id, None);
        }
        other => panic!("{other:?}"),
    }
}

/// The parsed event carries the delivery's action as the body gave it, for every outcome:
/// an event acted on, one ignored, one of an unexpected shape, and none at all.
#[test]
fn the_event_carries_the_deliverys_action() {
    let action = |event: &str, body: &str| {
        parse_event(event, body.as_bytes())
            .unwrap()
            .action()
            .map(str::to_string)
    };
    let opened = format!(
        r#"{{"action":"opened",{REPO},"pull_request":{{"number":3,"head":{{"sha":"a","ref":"x"}},
        "base":{{"sha":"b","ref":"main"}},"user":{{"login":"u"}}}}}}"#
    );
    assert_eq!(action("pull_request", &opened).as_deref(), Some("opened"));
    let closed = format!(r#"{{"action":"closed",{REPO},"pull_request":{{"number":3}}}}"#);
    assert_eq!(action("pull_request", &closed).as_deref(), Some("closed"));
    assert_eq!(
        action("star", r#"{"action":"created"}"#).as_deref(),
        Some("created")
    );
    assert_eq!(
        action(
            "pull_request",
            r#"{"action":"opened","pull_request":{"number":"two"}}"#
        )
        .as_deref(),
        Some("opened"),
        "a payload of an unexpected shape still has its action"
    );
    assert_eq!(action("pull_request", r#"{"action":7}"#), None);
    assert_eq!(action("ping", r#"{"zen":"z"}"#), None);
    assert_eq!(action("issues", "[]"), None);
}

/// The one-pass read gives what reading the whole document gives, for every recorded delivery
/// and for bodies it must leave to the long way.
#[test]
fn the_one_pass_read_matches_the_whole_document() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/github");
    let mut bodies: Vec<(String, Vec<u8>)> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_str().unwrap();
            let event = name.split('.').next().unwrap().to_string();
            bodies.push((event, std::fs::read(&path).unwrap()));
        }
    }
    assert!(bodies.len() >= 5);
    for (body, event) in [
        (&br#"{"action": 7, "number": 1}"#[..], "pull_request"),
        (
            br#"{"action": "opened", "action": "closed"}"#,
            "pull_request",
        ),
        (
            br#"  {"action": "opened", "pull_request": {"number": "x"}}"#,
            "pull_request",
        ),
        (b"[]", "pull_request"),
        (b"null", "check_run"),
        (b"{}", "installation"),
    ] {
        bodies.push((event.to_string(), body.to_vec()));
    }
    for (event, body) in &bodies {
        let (read, action) = parse_event_and_action(event, body).unwrap();
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        let expected_action = value
            .get("action")
            .and_then(|a| a.as_str())
            .map(String::from);
        assert_eq!(read, parse_event(event, body).unwrap(), "{event}");
        assert_eq!(action, expected_action, "{event}");
    }
    assert!(parse_event_and_action("pull_request", b"{\"action\":").is_err());
    assert!(parse_event_and_action("pull_request", b"{} x").is_err());
}
