//! The GitHub layer against real webhook payloads and a fake GitHub served over HTTP.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use riskgate::github::auth::{app_jwt, AppCredentials, InstallationTokens};
use riskgate::github::client::{
    Annotation, CheckRunId, CheckRunUpdate, GitHubApi, GitHubError, RepoId, RetryPolicy,
};
use riskgate::github::events::{parse_event, Event};
use riskgate::github::render;
use riskgate::github::webhook::{sign, verify_signature, SignatureError};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PR_OPENED: &[u8] = include_bytes!("../../fixtures/github/pull_request.opened.json");
const PR_SYNC: &[u8] = include_bytes!("../../fixtures/github/pull_request.synchronize.json");
const REVIEW: &[u8] = include_bytes!("../../fixtures/github/pull_request_review.submitted.json");
const CHECK_RUN: &[u8] = include_bytes!("../../fixtures/github/check_run.rerequested.json");
const INSTALLATION: &[u8] = include_bytes!("../../fixtures/github/installation.created.json");

const HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const BASE: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";

// ---------------------------------------------------------------- webhook signatures

#[test]
fn signature_matches_githubs_test_vector() {
    let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    assert_eq!(
        sign(b"It's a Secret to Everybody", b"Hello, World!"),
        expected
    );
    assert!(verify_signature(
        b"It's a Secret to Everybody",
        b"Hello, World!",
        Some(expected)
    )
    .is_ok());
}

#[test]
fn signed_payloads_verify_and_tampered_ones_do_not() {
    let secret = b"webhook secret";
    for body in [PR_OPENED, PR_SYNC, REVIEW, CHECK_RUN, INSTALLATION] {
        let sig = sign(secret, body);
        assert_eq!(verify_signature(secret, body, Some(&sig)), Ok(()));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert_eq!(
            verify_signature(secret, &tampered, Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }
}

// ---------------------------------------------------------------- events

#[test]
fn pull_request_opened_payload() {
    match parse_event("pull_request", PR_OPENED).unwrap() {
        Event::PullRequest {
            action,
            installation_id,
            repo,
            number,
            head_sha,
            head_ref,
            base_ref,
            base_sha,
            draft,
            opened_at,
            labels,
            author,
            changed_label,
        } => {
            assert_eq!(action, "opened");
            // 2019-05-15T15:20:33Z
            assert_eq!(opened_at, Some(1_557_933_633));
            assert_eq!(installation_id, Some(1));
            assert_eq!(repo.owner, "Codertocat");
            assert_eq!(repo.name, "Hello-World");
            assert_eq!(repo.full_name, "Codertocat/Hello-World");
            assert_eq!(repo.default_branch, "master");
            assert_eq!(number, 2);
            assert_eq!(head_sha, HEAD);
            assert_eq!(head_ref, "changes");
            assert_eq!(base_ref, "master");
            assert_eq!(base_sha, BASE);
            assert!(!draft);
            assert_eq!(labels, vec!["bug".to_string()]);
            assert_eq!(author, "Codertocat");
            assert_eq!(changed_label, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pull_request_synchronize_payload() {
    match parse_event("pull_request", PR_SYNC).unwrap() {
        Event::PullRequest {
            action,
            number,
            head_sha,
            base_sha,
            installation_id,
            ..
        } => {
            assert_eq!(action, "synchronize");
            assert_eq!(number, 2);
            assert_eq!(head_sha, HEAD);
            assert_eq!(base_sha, BASE);
            assert_eq!(installation_id, Some(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pull_request_review_submitted_payload() {
    match parse_event("pull_request_review", REVIEW).unwrap() {
        Event::PullRequestReview {
            action,
            installation_id,
            repo,
            number,
            head_sha,
            base_ref,
            review_id,
            reviewer,
            state,
        } => {
            assert_eq!(action, "submitted");
            assert_eq!(installation_id, Some(1));
            assert_eq!(repo.full_name, "Codertocat/Hello-World");
            assert_eq!(number, 2);
            assert_eq!(head_sha, HEAD);
            assert_eq!(base_ref, "master");
            assert_eq!(review_id, Some(237_895_671));
            assert_eq!(reviewer.as_deref(), Some("Codertocat"));
            assert_eq!(state.as_deref(), Some("commented"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn check_run_rerequested_payload() {
    match parse_event("check_run", CHECK_RUN).unwrap() {
        Event::CheckRun {
            action,
            installation_id,
            repo,
            check_run_id,
            head_sha,
            name,
            external_id,
            app_id,
            pull_numbers,
            requested_action,
            sender,
        } => {
            assert_eq!(action, "rerequested");
            assert_eq!(installation_id, Some(1));
            assert_eq!(repo.full_name, "github/hello-world");
            assert_eq!(check_run_id, 4);
            assert_eq!(head_sha, "d6fde92930d4715a2b49857d24b940956b26d2d3");
            assert_eq!(name, "randscape");
            assert_eq!(external_id, None, "an empty external_id is no id");
            assert_eq!(app_id, Some(2));
            assert!(pull_numbers.is_empty());
            assert_eq!(requested_action, None);
            assert_eq!(sender, "octocat");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn installation_created_payload() {
    match parse_event("installation", INSTALLATION).unwrap() {
        Event::Installation {
            action,
            installation_id,
            account,
            target_type,
            repositories,
        } => {
            assert_eq!(action, "created");
            assert_eq!(installation_id, 957_387);
            assert_eq!(account, "Codertocat");
            assert_eq!(target_type, "User");
            assert_eq!(repositories, vec!["Codertocat/Hello-World".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn payload_of_the_wrong_event_is_ignored() {
    // A check_run body announced as a pull_request lacks `pull_request`.
    let e = parse_event("pull_request", CHECK_RUN).unwrap();
    assert!(matches!(e, Event::Ignored { .. }), "{e:?}");
    let e = parse_event("workflow_run", PR_OPENED).unwrap();
    assert!(matches!(e, Event::Ignored { .. }), "{e:?}");
}

#[test]
fn requested_action_carries_the_identifier() {
    let mut v: Value = serde_json::from_slice(CHECK_RUN).unwrap();
    v["action"] = json!("requested_action");
    v["requested_action"] = json!({ "identifier": "rescore" });
    let body = serde_json::to_vec(&v).unwrap();
    match parse_event("check_run", &body).unwrap() {
        Event::CheckRun {
            requested_action, ..
        } => assert_eq!(requested_action.as_deref(), Some("rescore")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn labeled_pull_request_names_the_label() {
    let mut v: Value = serde_json::from_slice(PR_OPENED).unwrap();
    v["action"] = json!("labeled");
    v["label"] = json!({ "name": "riskgate:skip" });
    let body = serde_json::to_vec(&v).unwrap();
    match parse_event("pull_request", &body).unwrap() {
        Event::PullRequest {
            action,
            changed_label,
            ..
        } => {
            assert_eq!(action, "labeled");
            assert_eq!(changed_label.as_deref(), Some("riskgate:skip"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn null_empty_truncated_and_mistyped_bodies_never_panic() {
    for event in [
        "pull_request",
        "pull_request_review",
        "check_run",
        "installation",
    ] {
        assert!(parse_event(event, b"null").unwrap().is_ignored());
        assert!(parse_event(event, b"{}").unwrap().is_ignored());
        assert!(parse_event(event, &PR_OPENED[..PR_OPENED.len() / 2]).is_err());
    }
    // A number where a string belongs, and a string where a number belongs.
    let mut v: Value = serde_json::from_slice(PR_OPENED).unwrap();
    v["pull_request"]["head"]["sha"] = json!(12345);
    let e = parse_event("pull_request", &serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(e.is_ignored(), "{e:?}");
    let mut v: Value = serde_json::from_slice(PR_OPENED).unwrap();
    v["number"] = json!("2");
    v["pull_request"]["number"] = json!("2");
    let e = parse_event("pull_request", &serde_json::to_vec(&v).unwrap()).unwrap();
    assert!(e.is_ignored(), "{e:?}");
    // `installation: null` is a delivery without an installation, not a failure.
    let mut v: Value = serde_json::from_slice(PR_OPENED).unwrap();
    v["installation"] = Value::Null;
    match parse_event("pull_request", &serde_json::to_vec(&v).unwrap()).unwrap() {
        Event::PullRequest {
            installation_id, ..
        } => assert_eq!(installation_id, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_prefix_of_a_payload_parses_or_fails_cleanly() {
    let cases: [(&str, &[u8], usize); 5] = [
        ("installation", INSTALLATION, 1),
        ("check_run", CHECK_RUN, 3),
        ("pull_request", PR_OPENED, 7),
        ("pull_request", PR_SYNC, 11),
        ("pull_request_review", REVIEW, 5),
    ];
    for (event, body, step) in cases {
        for end in (0..body.len()).step_by(step) {
            // Either outcome is fine; a panic fails the test.
            let _ = parse_event(event, &body[..end]);
        }
        assert!(!parse_event(event, body).unwrap().is_ignored(), "{event}");
    }
}

// ---------------------------------------------------------------- fake GitHub

/// A small deterministic generator for the test key (the key signs nothing real).
struct TestRng(u64);

impl rsa::rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for TestRng {}

/// (private PEM, public PEM), generated once per test binary.
fn test_key() -> &'static (String, String) {
    static KEY: OnceLock<(String, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut TestRng(42), 2048).expect("RSA key");
        let private = key.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
        let public = key.to_public_key().to_pkcs1_pem(LineEnding::LF).unwrap();
        (private, public)
    })
}

fn creds() -> AppCredentials {
    AppCredentials {
        app_id: 4242,
        private_key_pem: test_key().0.clone(),
    }
}

fn fast_retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_rate_limit_wait: Duration::from_secs(2),
    }
}

fn now() -> i64 {
    riskgate::time::now_secs()
}

/// RFC 3339 UTC for Unix seconds, for `expires_at` in fake answers.
fn rfc3339(t: i64) -> String {
    riskgate::time::rfc3339(t * 1000)
}

const TOKEN: &str = "ghs_installationtoken0123456789";

async fn mount_token(server: &MockServer, installation: u64, expires_at: i64) {
    Mock::given(method("POST"))
        .and(path(format!(
            "/app/installations/{installation}/access_tokens"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": TOKEN,
            "expires_at": rfc3339(expires_at),
            "permissions": { "checks": "write" },
        })))
        .mount(server)
        .await;
}

async fn api_for(server: &MockServer, retry: RetryPolicy) -> GitHubApi {
    mount_token(server, 1, now() + 3600).await;
    GitHubApi::new(&server.uri(), InstallationTokens::new(creds()), retry).unwrap()
}

const REPO: RepoId<'static> = RepoId {
    owner: "octo",
    name: "app",
};

fn requests_to(reqs: &[Request], p: &str) -> usize {
    reqs.iter().filter(|r| r.url.path() == p).count()
}

// ---------------------------------------------------------------- auth

#[test]
fn app_jwt_verifies_with_the_public_key_and_has_the_claims() {
    use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
    let t = now();
    let jwt = app_jwt(&creds(), t).unwrap();
    let key = DecodingKey::from_rsa_pem(test_key().1.as_bytes()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&["4242"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss"]);
    let data = decode::<Value>(&jwt, &key, &validation).unwrap();
    assert_eq!(data.header.alg, Algorithm::RS256);
    let c = data.claims;
    assert_eq!(c["iss"], "4242");
    assert_eq!(c["iat"].as_i64().unwrap(), t - 60);
    let exp = c["exp"].as_i64().unwrap();
    assert_eq!(exp, t + 9 * 60);
    assert!(
        exp - t <= 600,
        "GitHub refuses JWTs living over ten minutes"
    );
}

#[tokio::test]
async fn installation_token_is_fetched_once_with_the_jwt_and_then_cached() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/7/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": TOKEN,
            "expires_at": rfc3339(now() + 3600),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let api = GitHubApi::new(
        &server.uri(),
        InstallationTokens::new(creds()),
        fast_retry(3),
    )
    .unwrap();
    assert_eq!(api.installation_token(7).await.unwrap(), TOKEN);
    assert_eq!(api.installation_token(7).await.unwrap(), TOKEN);

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    let auth = reqs[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    let jwt = auth.strip_prefix("Bearer ").expect("Bearer JWT");
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(test_key().1.as_bytes()).unwrap();
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let claims = jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["iss"], "4242");
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed() {
    let server = MockServer::start().await;
    let t0 = now();
    let clock = Arc::new(AtomicI64::new(t0));
    Mock::given(method("POST"))
        .and(path("/app/installations/7/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": TOKEN,
            "expires_at": rfc3339(t0 + 3600),
        })))
        .expect(2)
        .mount(&server)
        .await;
    let c = clock.clone();
    let tokens =
        InstallationTokens::with_clock(creds(), Arc::new(move || c.load(Ordering::SeqCst)));
    let api = GitHubApi::new(&server.uri(), tokens, fast_retry(3)).unwrap();
    api.installation_token(7).await.unwrap();
    clock.store(t0 + 3600 - 6 * 60, Ordering::SeqCst);
    api.installation_token(7).await.unwrap();
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "still valid"
    );
    // Within five minutes of expiry: fetched again.
    clock.store(t0 + 3600 - 4 * 60, Ordering::SeqCst);
    api.installation_token(7).await.unwrap();
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/7/access_tokens"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "token": TOKEN, "expires_at": rfc3339(now() + 3600) }))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let api = GitHubApi::new(
        &server.uri(),
        InstallationTokens::new(creds()),
        fast_retry(3),
    )
    .unwrap();
    let calls = (0..5).map(|_| {
        let api = api.clone();
        tokio::spawn(async move { api.installation_token(7).await.unwrap() })
    });
    for call in calls.collect::<Vec<_>>() {
        assert_eq!(call.await.unwrap(), TOKEN);
    }
}

#[tokio::test]
async fn tokens_never_appear_in_debug_output() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    api.installation_token(1).await.unwrap();
    let shown = format!("{api:?} {:?}", api.tokens());
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
}

// ---------------------------------------------------------------- client faults

#[tokio::test]
async fn a_502_is_retried_and_the_second_attempt_succeeds() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_partial_json(json!({
            "name": "riskgate",
            "head_sha": HEAD,
            "status": "in_progress",
            "external_id": "job-9",
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 77 })))
        .mount(&server)
        .await;
    let id = api
        .create_check_run(1, REPO, HEAD, "riskgate", "job-9")
        .await
        .unwrap();
    assert_eq!(id, CheckRunId(77));
    let reqs = server.received_requests().await.unwrap();
    assert_eq!(requests_to(&reqs, "/repos/octo/app/check-runs"), 2);
}

#[tokio::test]
async fn a_403_with_retry_after_waits_then_succeeds() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/collaborators/carol/permission"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("retry-after", "1")
                .set_body_json(json!({ "message": "You have exceeded a secondary rate limit." })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/collaborators/carol/permission"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({ "permission": "write", "role_name": "maintain" })),
        )
        .mount(&server)
        .await;
    let started = Instant::now();
    let perm = api.collaborator_permission(1, REPO, "carol").await.unwrap();
    assert_eq!(perm, "maintain");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_429_waits_until_the_rate_limit_resets() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/pulls/5/reviews"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", (now() + 1).to_string().as_str())
                .set_body_json(json!({ "message": "API rate limit exceeded" })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/pulls/5/reviews"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            { "id": 1, "user": { "login": "dave" }, "state": "APPROVED", "commit_id": HEAD, "submitted_at": "2026-01-01T00:00:00Z" }
        ])))
        .mount(&server)
        .await;
    let started = Instant::now();
    let reviews = api.list_reviews(1, REPO, 5).await.unwrap();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].reviewer, "dave");
    assert_eq!(reviews[0].state, "APPROVED");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_404_fails_at_once_with_githubs_message() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(4)).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/pulls/9/comments"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })))
        .expect(1)
        .mount(&server)
        .await;
    match api.list_review_comments(1, REPO, 9).await {
        Err(GitHubError::Status {
            status, message, ..
        }) => {
            assert_eq!(status, 404);
            assert_eq!(message, "Not Found");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_permission_403_is_not_retried() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(4)).await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/issues/3/comments"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({ "message": "Resource not accessible by integration" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = api
        .create_issue_comment(1, REPO, 3, "hi")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("Resource not accessible"), "{err}");
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_max_attempts() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(4)).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/app/issues/comments/55"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({ "message": "unavailable" })))
        .expect(4)
        .mount(&server)
        .await;
    match api.update_issue_comment(1, REPO, 55, "new body").await {
        Err(GitHubError::GaveUp {
            status,
            attempts,
            message,
            ..
        }) => {
            assert_eq!(status, Some(503));
            assert_eq!(attempts, 4);
            assert_eq!(message, "unavailable");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_gives_up_without_a_status() {
    // Bind and drop a listener: its port is free, and nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = GitHubApi::new(
        &format!("http://127.0.0.1:{port}"),
        InstallationTokens::new(creds()),
        fast_retry(3),
    )
    .unwrap();
    match api.installation_token(1).await {
        Err(GitHubError::GaveUp {
            status, attempts, ..
        }) => {
            assert_eq!(status, None);
            assert_eq!(attempts, 3);
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------- client calls

fn annotation(i: usize) -> Annotation {
    Annotation {
        path: format!("src/f{i}.rs"),
        start_line: 1,
        end_line: 1,
        annotation_level: "warning".into(),
        title: Some(format!("t{i}")),
        message: format!("m{i}"),
    }
}

#[tokio::test]
async fn annotations_go_in_patches_of_fifty() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/app/check-runs/77"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 77 })))
        .expect(3)
        .mount(&server)
        .await;
    let update = CheckRunUpdate {
        status: Some("completed".into()),
        conclusion: Some("neutral".into()),
        title: Some("riskgate: 31% risk — elevated".into()),
        summary: Some("summary".into()),
        text: Some("details".into()),
        annotations: (0..120).map(annotation).collect(),
        actions: vec![],
    };
    api.update_check_run(1, REPO, CheckRunId(77), &update)
        .await
        .unwrap();
    let reqs = server.received_requests().await.unwrap();
    let patches: Vec<Value> = reqs
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let sizes: Vec<usize> = patches
        .iter()
        .map(|p| p["output"]["annotations"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    assert_eq!(patches[0]["conclusion"], "neutral");
    assert_eq!(patches[0]["status"], "completed");
    assert_eq!(patches[0]["output"]["text"], "details");
    assert_eq!(patches[0]["output"]["annotations"][0]["path"], "src/f0.rs");
    assert_eq!(
        patches[2]["output"]["annotations"][19]["path"],
        "src/f119.rs"
    );
    for p in &patches[1..] {
        assert_eq!(p["output"]["title"], "riskgate: 31% risk — elevated");
        assert_eq!(p["output"]["summary"], "summary");
        assert!(p.get("conclusion").is_none(), "{p}");
    }
}

#[tokio::test]
async fn issue_comments_are_read_across_pages() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    let page = |from: u64, n: u64| -> Value {
        (from..from + n)
            .map(|id| json!({ "id": id, "body": format!("comment {id}"), "user": { "login": "u", "type": "User" } }))
            .collect()
    };
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/issues/2/comments"))
        .and(query_param("per_page", "100"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(1, 100)))
        .expect(1)
        .mount(&server)
        .await;
    let mut last = page(101, 2);
    last.as_array_mut().unwrap().push(json!({
        "id": 103,
        "body": render::comment_body("### riskgate", riskgate::model::Band::Low),
        "user": { "login": "riskgate[bot]", "type": "Bot" },
    }));
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/issues/2/comments"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(last))
        .expect(1)
        .mount(&server)
        .await;
    let comments = api.list_issue_comments(1, REPO, 2).await.unwrap();
    assert_eq!(comments.len(), 103);
    assert_eq!(comments[0].id, 1);
    assert_eq!(comments[102].author_type, "Bot");
    assert_eq!(
        render::find_sticky(&comments, "riskgate[bot]").map(|c| c.id),
        Some(103)
    );
}

/// A list that never ends (every page full) is read to its page limit and refused by name,
/// not held; GitHub's error message is cut short, whatever its length.
#[tokio::test]
async fn an_endless_list_stops_at_its_page_limit_and_long_messages_are_cut() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    let full: Value = (0..100)
        .map(|id| json!({ "id": id, "body": "spam", "user": { "login": "u", "type": "User" } }))
        .collect();
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/issues/2/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(full))
        .expect(riskgate::github::client::MAX_PAGES as u64)
        .mount(&server)
        .await;
    let error = api.list_issue_comments(1, REPO, 2).await.unwrap_err();
    assert!(
        matches!(
            error,
            GitHubError::TooManyPages {
                route: "issue_comments.list"
            }
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("runs past 3000 items"),
        "{error}"
    );

    Mock::given(method("GET"))
        .and(path("/repos/octo/app/pulls/3/reviews"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(json!({ "message": "x".repeat(1 << 20) })),
        )
        .mount(&server)
        .await;
    let error = api.list_reviews(1, REPO, 3).await.unwrap_err();
    assert!(
        error.to_string().len() < 1_000,
        "{} bytes",
        error.to_string().len()
    );
}

#[tokio::test]
async fn one_token_request_serves_many_calls() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/app/installations/1/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": TOKEN,
            "expires_at": rfc3339(now() + 3600),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let api = GitHubApi::new(
        &server.uri(),
        InstallationTokens::new(creds()),
        fast_retry(3),
    )
    .unwrap();
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/issues/2/comments"))
        .and(body_partial_json(json!({ "body": "hello" })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 9, "body": "hello" })))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/app/issues/comments/9"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "id": 9 })))
        .expect(2)
        .mount(&server)
        .await;
    assert_eq!(
        api.create_issue_comment(1, REPO, 2, "hello").await.unwrap(),
        9
    );
    api.update_issue_comment(1, REPO, 9, "edited")
        .await
        .unwrap();
    api.update_issue_comment(1, REPO, 9, "edited again")
        .await
        .unwrap();
}

#[tokio::test]
async fn artifacts_are_listed_and_downloaded_through_the_redirect() {
    let server = MockServer::start().await;
    let api = api_for(&server, fast_retry(3)).await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/actions/runs/31/artifacts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "total_count": 1,
            "artifacts": [{ "id": 5, "name": "coverage", "size_in_bytes": 4, "expired": false,
                            "archive_download_url": format!("{}/repos/octo/app/actions/artifacts/5/zip", server.uri()) }],
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/repos/octo/app/actions/artifacts/5/zip"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/blob/abc?sig=1", server.uri()).as_str(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/blob/abc"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"PK\x03\x04".to_vec()))
        .expect(1)
        .mount(&server)
        .await;
    let artifacts = api.list_run_artifacts(1, REPO, 31).await.unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].name, "coverage");
    let zip = api.download_artifact(1, REPO, 5).await.unwrap();
    assert_eq!(&zip[..], b"PK\x03\x04");
    let reqs = server.received_requests().await.unwrap();
    let blob = reqs.iter().find(|r| r.url.path() == "/blob/abc").unwrap();
    assert!(
        blob.headers.get("authorization").is_none(),
        "the download URL must not receive the installation token"
    );
}

#[tokio::test]
async fn calls_are_counted_by_route_and_status() {
    let server = MockServer::start().await;
    let seen: Arc<Mutex<Vec<(String, u16)>>> = Arc::default();
    let s = seen.clone();
    let api = api_for(&server, fast_retry(3))
        .await
        .with_counter(Arc::new(move |route, status| {
            s.lock().unwrap().push((route.to_string(), status))
        }));
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/repos/octo/app/check-runs"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "id": 1 })))
        .mount(&server)
        .await;
    api.create_check_run(1, REPO, HEAD, "riskgate", "x")
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("installation_token".to_string(), 201),
            ("check_runs.create".to_string(), 500),
            ("check_runs.create".to_string(), 201),
        ]
    );
}

#[tokio::test]
async fn a_github_enterprise_base_path_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v3/app/installations/1/access_tokens"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "token": TOKEN,
            "expires_at": rfc3339(now() + 3600),
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v3/repos/octo/app/collaborators/eve/permission"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "permission": "read" })))
        .expect(1)
        .mount(&server)
        .await;
    let api = GitHubApi::new(
        &format!("{}/api/v3", server.uri()),
        InstallationTokens::new(creds()),
        fast_retry(2),
    )
    .unwrap();
    assert_eq!(
        api.collaborator_permission(1, REPO, "eve").await.unwrap(),
        "read"
    );
}
