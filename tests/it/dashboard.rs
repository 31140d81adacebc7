//! The dashboard of `riskgate serve` in a real headless browser: a history planted in the
//! store (scores in every band, merged and reverted pull requests, deployments to two
//! environments, an incident), the real server with a dashboard token and a model file that
//! carries hold-out curves, and Debian's Chromium dumping the DOM after the page's script ran.
//! Also: no token, a wrong token or no configured token get nothing. On SQLite and on
//! PostgreSQL.

use std::path::Path;
use std::time::Duration;

use riskgate::labels::deployments::{Deployment, DeploymentStatus, PullRecord};
use riskgate::labels::incidents::Incident;
use riskgate::production::{record_deployment, record_incident, record_pull, LinkSettings};
use riskgate::store::{NewScore, Store};
use serde_json::{json, Value};
use wiremock::MockServer;

use crate::harness::start_app_with;
use crate::support::{database, Db};

const CHROMIUM: &str = "/usr/bin/chromium";
const TOKEN: &str = "dashboard-test-token-8f3a";
const REPO: &str = "acme/shop";
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;
/// A title a user wrote, with markup that must stay text.
const EVIL_TITLE: &str = "<b>Checkout</b> & \"cart\" </script>";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// (pull request, probability, band, merged?) — scored one hour before merging.
const PULLS: [(i64, f64, &str, bool); 7] = [
    (11, 0.05, "low", true),
    (12, 0.12, "low", true),
    (13, 0.22, "elevated", true),
    (14, 0.35, "high", true),
    (15, 0.50, "high", true),
    (16, 0.08, "low", true),
    // Still open: listed and drawn, not in the curves.
    (17, 0.18, "elevated", false),
];

fn merged_at(now: i64, pr: i64) -> i64 {
    now - 40 * DAY + (pr - 10) * DAY
}

/// Everything the page shows, written through the same functions the App uses.
async fn plant(url: &str, now: i64) {
    let store = Store::connect(url).await.expect("open the store");
    let links = LinkSettings::default();
    for (pr, _, _, merged) in PULLS.iter().filter(|p| p.3) {
        assert!(*merged);
        record_pull(
            &store,
            &PullRecord {
                repository: REPO.into(),
                number: *pr,
                title: if *pr == 13 {
                    EVIL_TITLE.into()
                } else {
                    format!("Change {pr}")
                },
                author: Some("carol".into()),
                head_sha: Some(format!("{pr:0>40}")),
                merge_commit_sha: Some(format!("{:0>40}", pr + 100)),
                merged_at: Some(merged_at(now, *pr)),
                closed_at: Some(merged_at(now, *pr)),
                reverts_number: None,
            },
            links,
            now,
        )
        .await
        .unwrap();
    }
    // #18 reverts #15 (and is not scored itself).
    record_pull(
        &store,
        &PullRecord {
            repository: REPO.into(),
            number: 18,
            title: "Revert \"Change 15\"".into(),
            author: Some("dave".into()),
            head_sha: None,
            merge_commit_sha: None,
            merged_at: Some(now - 2 * DAY),
            closed_at: Some(now - 2 * DAY),
            reverts_number: Some(15),
        },
        links,
        now,
    )
    .await
    .unwrap();
    for (pr, probability, band, merged) in PULLS {
        let at = if merged {
            merged_at(now, pr) - HOUR
        } else {
            now - 6 * HOUR
        };
        store
            .record_score(
                &NewScore {
                    repository: REPO.into(),
                    pr_number: pr,
                    head_sha: format!("{pr:0>40}"),
                    base_sha: "b".repeat(40),
                    probability,
                    band: band.into(),
                    model_version: "test-model-1".into(),
                    features: json!({"la": 10}),
                    conclusion: "success".into(),
                    check_run_id: None,
                    delivery_id: None,
                },
                at,
            )
            .await
            .unwrap();
    }
    // Production: three successes (10, 20, 30 minutes) and a failure; staging: one success.
    let deployments: [(i64, &str, f64, &str, i64); 5] = [
        (1, "production", 20.5, "success", 10),
        (2, "production", 10.5, "success", 20),
        (3, "production", 3.5, "failure", 5),
        (4, "production", 3.4, "success", 30),
        (5, "staging", 5.5, "success", 2),
    ];
    for (id, env, days_ago, state, minutes) in deployments {
        let created = now - (days_ago * DAY as f64) as i64;
        let deployment = Deployment {
            id,
            repository: REPO.into(),
            environment: env.into(),
            sha: format!("{:0>40}", 900 + id),
            ref_name: Some("main".into()),
            task: Some("deploy".into()),
            description: None,
            creator: Some("ci".into()),
            created_at: created,
        };
        let status = DeploymentStatus {
            id: 100 + id,
            deployment_id: id,
            repository: REPO.into(),
            state: state.into(),
            creator: Some("ci".into()),
            description: None,
            created_at: created + minutes * MIN,
        };
        record_deployment(&store, &deployment, Some(&status), links, now)
            .await
            .unwrap();
    }
    // An hour after deployment 2 went live (40 minutes after): names #13.
    let d2 = now - (10.5 * DAY as f64) as i64;
    record_incident(
        &store,
        &Incident {
            id: "inc-1".into(),
            source: "api".into(),
            title: "Checkout <errors>".into(),
            repository: Some(REPO.into()),
            service: None,
            environment: Some("production".into()),
            opened_at: d2 + HOUR,
            resolved_at: None,
            commit_sha: None,
            pr_number: Some(13),
            body: None,
        },
        Some("pager"),
        links,
        now,
    )
    .await
    .unwrap();
    store.close().await;
}

/// A model file: the shipped model with pooled hold-out curves, as `riskgate train` writes them.
fn model_with_curves(dir: &Path) -> std::path::PathBuf {
    let mut model: Value = serde_json::from_str(riskgate::model::file::SHIPPED_MODEL).unwrap();
    model["metrics"]["curves"] = json!({
        "roc": [[0.0, 0.0], [0.1, 0.4], [0.3, 0.7], [1.0, 1.0]],
        "calibration": [
            {"predicted": 0.05, "observed": 0.04, "count": 4000},
            {"predicted": 0.15, "observed": 0.17, "count": 2500},
            {"predicted": 0.40, "observed": 0.33, "count": 1000},
            {"predicted": 0.90, "observed": 0.50, "count": 0}
        ]
    });
    let path = dir.join("model.json");
    std::fs::write(&path, serde_json::to_string_pretty(&model).unwrap()).unwrap();
    path
}

/// The DOM of `url` after its scripts ran, as headless Chromium serialises it.
async fn chromium_dom(url: &str) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the dashboard test needs Debian's Chromium \
         (apt-get install -y chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=5000", "--dump-dom", url])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("Chromium finishes within two minutes")
        .expect("Chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "Chromium failed ({}): {}\n{dom}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// Each `<svg …>…</svg>` whose opening tag has all of `attributes`.
fn svgs<'d>(dom: &'d str, attributes: &[&str]) -> Vec<&'d str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(start) = dom[from..].find("<svg ").map(|i| from + i) {
        let open_end = start + dom[start..].find('>').unwrap();
        let end = start + dom[start..].find("</svg>").expect("svg closes");
        if attributes.iter().all(|a| dom[start..open_end].contains(a)) {
            out.push(&dom[start..end]);
        }
        from = end;
    }
    out
}

fn one_svg<'d>(dom: &'d str, attributes: &[&str]) -> &'d str {
    let found = svgs(dom, attributes);
    assert_eq!(found.len(), 1, "one chart with {attributes:?} in:\n{dom}");
    found[0]
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The table row `<tr data-environment="env">…</tr>`.
fn env_row<'d>(dom: &'d str, env: &str) -> &'d str {
    let start = dom
        .find(&format!("<tr data-environment=\"{env}\">"))
        .unwrap_or_else(|| panic!("a figures row for {env}"));
    &dom[start..start + dom[start..].find("</tr>").unwrap()]
}

/// The week groups of one environment in the release chart, as (successful, failed,
/// incidents, marks drawn).
fn weeks(chart: &str, env: &str) -> Vec<(usize, usize, usize, String)> {
    let start = chart
        .find(&format!("data-environment=\"{env}\""))
        .unwrap_or_else(|| panic!("a panel for {env}"));
    let panel = &chart[start..];
    let panel = &panel[..panel[1..]
        .find("class=\"environment\"")
        .map(|i| i + 1)
        .unwrap_or(panel.len())];
    panel
        .split("<g class=\"week\"")
        .skip(1)
        .map(|w| {
            let attr = |name: &str| -> usize {
                let key = format!("{name}=\"");
                let at = w.find(&key).unwrap() + key.len();
                w[at..at + w[at..].find('"').unwrap()].parse().unwrap()
            };
            let marks = w[..w.find("</g>").unwrap()].to_string();
            (
                attr("data-successful"),
                attr("data-failed"),
                attr("data-incidents"),
                marks,
            )
        })
        .collect()
}

/// Which of the 12 weeks (from 84 days before `now`) a moment `days_ago` falls in.
fn week_of(days_ago: f64) -> usize {
    ((84.0 - days_ago) / 7.0).floor() as usize
}

async fn dashboard_in_a_browser(db: Db) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the dashboard test needs Debian's Chromium \
         (apt-get install -y chromium)"
    );
    let database = database(db);
    let now = now_ms();
    plant(&database.url, now).await;
    let dir = tempfile::tempdir().unwrap();
    let model = model_with_curves(dir.path());
    let github = MockServer::start().await;
    let server = start_app_with(
        &database,
        &github.uri(),
        &dir.path().join("data"),
        &[
            ("RISKGATE_DASHBOARD_TOKEN", TOKEN),
            ("RISKGATE_MODEL", model.to_str().unwrap()),
        ],
    )
    .await;
    let page = format!("{}/dashboard/acme/shop", server.base);

    // ---- the page in Chromium, opened with the token in the URL -------------------------
    let dom = chromium_dom(&format!("{page}?token={TOKEN}")).await;
    assert!(
        dom.contains("<h1 id=\"repository\">acme/shop</h1>"),
        "{dom}"
    );
    assert!(!dom.contains(TOKEN), "the token is not in the page");

    // (1) Risk: one bar per scored pull request, by band, with both thresholds.
    let risk = one_svg(&dom, &["data-chart=\"risk\""]);
    let band = |b: &str| PULLS.iter().filter(|p| p.2 == b).count();
    assert_eq!(count(risk, "class=\"bar band-"), PULLS.len());
    for b in ["low", "elevated", "high"] {
        assert_eq!(
            count(risk, &format!("class=\"bar band-{b}\"")),
            band(b),
            "{b}"
        );
    }
    assert_eq!(count(risk, "class=\"threshold threshold-elevated\""), 1);
    assert_eq!(count(risk, "class=\"threshold threshold-high\""), 1);
    // The bar of #13 carries its title as text, not markup.
    assert!(risk.contains(
        "#13 &lt;b&gt;Checkout&lt;/b&gt; &amp; \"cart\" &lt;/script&gt;: 22.0% (elevated)"
    ));
    assert!(!dom.contains("<b>Checkout"));

    // (2) Releases: 12 weeks per environment; bars only where something happened.
    let releases = one_svg(&dom, &["data-chart=\"releases\""]);
    assert_eq!(count(releases, "<g class=\"week\""), 24);
    let prod = weeks(releases, "production");
    let staging = weeks(releases, "staging");
    assert_eq!((prod.len(), staging.len()), (12, 12));
    let mut want = vec![(0, 0, 0); 12];
    for (days_ago, ok) in [(20.5, true), (10.5, true), (3.5, false), (3.4, true)] {
        let w = &mut want[week_of(days_ago)];
        if ok {
            w.0 += 1
        } else {
            w.1 += 1
        }
    }
    want[week_of(10.5 - 1.0 / 24.0)].2 += 1;
    for (k, (s, f, i, marks)) in prod.iter().enumerate() {
        assert_eq!((*s, *f, *i), want[k], "production week {k}");
        assert_eq!(count(marks, "class=\"bar successful\""), (*s > 0) as usize);
        assert_eq!(count(marks, "class=\"bar failed\""), (*f > 0) as usize);
        assert_eq!(count(marks, "class=\"point incident\""), (*i > 0) as usize);
    }
    for (k, (s, f, i, _)) in staging.iter().enumerate() {
        let expected = if k == week_of(5.5) {
            (1, 0, 0)
        } else {
            (0, 0, 0)
        };
        assert_eq!(
            (*s, *f, *i),
            expected,
            "staging week {k}: the incident was in production"
        );
    }
    assert_eq!(count(releases, "class=\"bar successful\""), 4);
    assert_eq!(count(releases, "class=\"bar failed\""), 1);
    assert_eq!(count(releases, "class=\"point incident\""), 1);

    // The figures, by hand: production had 4 deployments, 3 successful (10, 20, 30 minutes),
    // 1 failed; one incident 40 minutes after a release went live.
    let row = env_row(&dom, "production");
    for (figure, value) in [
        ("deployments", "4"),
        ("successful", "3"),
        ("failed", "1"),
        ("failed_release_rate", "25.0%"),
        ("median_release_minutes", "20.0 min"),
        ("releases_per_week", &format!("{:.2}", 3.0 / (90.0 / 7.0))),
        ("release_incidents", "1"),
        ("release_incident_rate", "33.3%"),
        ("rollbacks", "0"),
    ] {
        assert!(
            row.contains(&format!("data-figure=\"{figure}\">{value}</td>")),
            "production {figure} = {value} in {row}"
        );
    }
    assert!(env_row(&dom, "staging").contains("data-figure=\"failed_release_rate\">0.0%</td>"));
    // Gate: 4 of 7 pull requests elevated or high; the one incident names #13 (elevated).
    assert!(dom.contains("data-figure=\"gate_rate\">57.1%</td>"));
    assert!(dom.contains("data-figure=\"incident_capture\">100.0%</td>"));
    assert!(
        !dom.contains("id=\"stale-warning\""),
        "production deployed 3 days ago"
    );
    // The list: newest first, the open #17 on top.
    assert_eq!(count(&dom, "<tr data-pr="), PULLS.len());
    assert!(dom.find("<tr data-pr=\"17\"").unwrap() < dom.find("<tr data-pr=\"16\"").unwrap());
    assert!(dom.contains(&format!("<code>{}</code>", &format!("{:0>40}", 15)[..12])));

    // (3) ROC: the model's stored curve, and one from the history: merged #11–#16, #13
    // labelled by the incident and #15 by its revert; six distinct scores, seven points.
    let roc_model = one_svg(&dom, &["data-chart=\"roc\"", "data-source=\"model\""]);
    assert_eq!(count(roc_model, "class=\"point source-model\""), 4);
    let roc_history = one_svg(&dom, &["data-chart=\"roc\"", "data-source=\"history\""]);
    assert_eq!(count(roc_history, "class=\"point source-history\""), 7);
    assert_eq!(count(roc_history, "class=\"curve source-history\""), 1);
    // Of the 2 × 4 (buggy, clean) pairs, only 0.22 < 0.35 is ranked wrong: AUC 7/8.
    assert!(dom.contains("AUC 0.875"), "{dom}");
    assert!(dom.contains("6 scored pull requests, 2 labelled buggy"));
    assert!(dom.contains("ROC curve from the model's training hold-out of 7505"));

    // (4) Calibration: the model's three non-empty bins; the history's scores fall in
    // five of ten bins (0.05 and 0.08 share the first).
    let cal_model = one_svg(
        &dom,
        &["data-chart=\"calibration\"", "data-source=\"model\""],
    );
    assert_eq!(count(cal_model, "class=\"point source-model\""), 3);
    let cal_history = one_svg(
        &dom,
        &["data-chart=\"calibration\"", "data-source=\"history\""],
    );
    assert_eq!(count(cal_history, "class=\"point source-history\""), 5);
    assert!(cal_history.contains("data-count=\"2\""));
    assert!(!dom.contains("data-empty="), "every chart has data");

    // ---- refusals -------------------------------------------------------------------------
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |url: String, auth: Option<String>, cookie: Option<String>| {
        let mut r = client.get(url);
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        async move {
            let resp = r.send().await.expect("server answers");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            (status, headers, resp.text().await.unwrap_or_default())
        }
    };
    for url in [
        page.clone(),
        format!("{page}/data.json"),
        format!("{}/dashboard", server.base),
        format!("{}/dashboard/%FF/shop", server.base),
    ] {
        let (status, headers, body) = get(url.clone(), None, None).await;
        assert_eq!(status, 401, "{url} without a token");
        assert!(headers.contains_key("www-authenticate"));
        assert!(
            !body.contains(REPO) && !body.contains("dashboard-data") && !body.contains("Change 1")
        );
        for (auth, cookie) in [
            (Some("Bearer wrong-token".to_string()), None),
            (Some(format!("Basic {TOKEN}")), None),
            (None, Some("riskgate_dashboard=0000".to_string())),
            // The session of an earlier token.
            (
                None,
                Some(format!(
                    "riskgate_dashboard={}",
                    riskgate::server::dashboard::cookie_value(
                        "an-earlier-token",
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_secs() as i64
                    )
                )),
            ),
        ] {
            let (status, _, body) = get(url.clone(), auth.clone(), cookie.clone()).await;
            assert_eq!(status, 401, "{url} with {auth:?} {cookie:?}");
            assert!(!body.contains(REPO));
        }
        let (status, _, _) = get(format!("{url}?token=wrong-token"), None, None).await;
        assert_eq!(status, 401, "{url} with a wrong ?token=");
    }
    let refused = chromium_dom(&page).await;
    assert!(
        !refused.contains("<svg") && !refused.contains("dashboard-data"),
        "{refused}"
    );
    assert!(!refused.contains(REPO) && refused.contains("needs its token"));
    let wrong = chromium_dom(&format!("{page}?token=wrong-token")).await;
    assert!(!wrong.contains("<svg") && !wrong.contains(REPO), "{wrong}");

    // ---- the ways in ---------------------------------------------------------------------
    let (status, headers, _) = get(format!("{page}?token={TOKEN}"), None, None).await;
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/dashboard/acme/shop");
    let set_cookie = headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(!set_cookie.contains(TOKEN));
    let session = set_cookie.split(';').next().unwrap().to_string();
    let (status, _, body) = get(page.clone(), None, Some(session)).await;
    assert_eq!(status, 200);
    assert!(body.contains("data-chart") || body.contains("id=\"chart-risk\""));
    let bearer = Some(format!("Bearer {TOKEN}"));
    let (status, headers, body) = get(format!("{page}/data.json"), bearer.clone(), None).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "no-store");
    let data: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(data["pulls"].as_array().unwrap().len(), PULLS.len());
    assert_eq!(data["roc"].as_array().unwrap().len(), 2);
    assert_eq!(data["health"]["gate"]["gated_pulls"], 4);
    let (status, _, body) = get(format!("{}/dashboard", server.base), bearer.clone(), None).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<a href=\"/dashboard/acme/shop\">acme/shop</a>"),
        "{body}"
    );
    let (status, _, body) = get(format!("{}/dashboard/acme/none", server.base), bearer, None).await;
    assert_eq!(status, 404);
    assert!(body.contains("knows nothing of acme/none"));

    // ---- no token configured: no dashboard at all ---------------------------------------
    let closed = start_app_with(
        &database,
        &github.uri(),
        &dir.path().join("data-closed"),
        &[],
    )
    .await;
    for url in [
        format!("{}/dashboard", closed.base),
        format!("{}/dashboard/acme/shop", closed.base),
        format!("{}/dashboard/acme/shop/data.json", closed.base),
        format!("{}/dashboard/%FF/shop", closed.base),
    ] {
        for auth in [None, Some(format!("Bearer {TOKEN}"))] {
            let (status, _, body) = get(url.clone(), auth, None).await;
            assert_eq!(status, 404, "{url}");
            assert!(body.contains("the dashboard is off: set RISKGATE_DASHBOARD_TOKEN"));
            assert!(!body.contains(REPO));
        }
        let (status, _, _) = get(format!("{url}?token={TOKEN}"), None, None).await;
        assert_eq!(status, 404);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_dashboard_in_a_browser() {
    dashboard_in_a_browser(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_dashboard_in_a_browser() {
    dashboard_in_a_browser(Db::Postgres).await;
}
