//! The dashboard's HTML. Pure: a view in, a page out. Tables are rendered here; the charts
//! are drawn in the browser by a small inline script from the JSON embedded in the page, so
//! the page needs nothing from the network.

use std::fmt::Write;
use std::sync::LazyLock;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::view::{RepoView, PERIOD_DAYS};
use crate::health::STALE_AFTER_MS;
use crate::time::rfc3339;

/// The script that draws the charts.
pub const SCRIPT: &str = include_str!("dashboard.js");

pub const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1100px;\
padding:0 16px 48px;color:#1f2328;background:#fff}\
header{border-bottom:1px solid #d0d7de;padding:12px 0;margin-bottom:8px}\
header a{color:#0969da;text-decoration:none}\
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:28px 0 8px}h3{font-size:14px;margin:16px 0 4px}\
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}\
th,td{border-bottom:1px solid #eaeef2;padding:4px 8px;text-align:left;vertical-align:top}\
th{font-weight:600;color:#57606a}td.num{text-align:right}code{font-size:12px}\
.meta,.empty,.note,figcaption{color:#57606a}\
.warning{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px}\
figure.chart{margin:12px 0;max-width:780px}figure.square{width:340px;margin:12px 0}\
figcaption{font-size:12px;max-width:760px}\
.charts{display:flex;flex-wrap:wrap;gap:8px 24px}.wide{overflow-x:auto}\
#environments{font-size:13px}#environments th,#environments td{padding:4px 6px}\
svg text{font-size:11px;fill:#57606a}\
.tag{display:inline-block;padding:0 7px;border-radius:9px;color:#fff;font-size:12px}\
.tag-low{background:#1a7f37}.tag-elevated{background:#9a6700}.tag-high{background:#cf222e}\
.tag-unknown{background:#6e7781}\
.band-low{fill:#2da44e}.band-elevated{fill:#d4a72c}.band-high{fill:#cf222e}.band-unknown{fill:#8c959f}\
.grid{stroke:#eaeef2}.axis{stroke:#8c959f}\
.threshold{stroke-width:1.5;stroke-dasharray:5 3}.threshold-elevated{stroke:#9a6700}\
.threshold-high{stroke:#a40e26}\
.successful{fill:#2da44e}.failed{fill:#cf222e}.incident{fill:#8250df}\
.diagonal{stroke:#8c959f;stroke-dasharray:4 4}\
.curve{fill:none;stroke-width:2}.source-model{stroke:#0969da}.source-history{stroke:#bc4c00}\
.point.source-model{fill:#0969da}.point.source-history{fill:#bc4c00;fill-opacity:.8}\
";

fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The Content-Security-Policy of the dashboard's pages: nothing but the page's own script and
/// style, no network at all.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src {}; style-src {}; img-src data:; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    )
});

/// Text safe in HTML content and in quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside `<script>`: nothing in it can close the element or open a comment.
pub fn script_json<T: serde::Serialize>(value: &T) -> String {
    let json = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// One path segment, percent-encoded.
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `/dashboard/owner/name`, or `None` for a name that is not `owner/name`.
pub fn repo_path(repository: &str) -> Option<String> {
    let (owner, name) = repository.split_once('/')?;
    if owner.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some(format!(
        "/dashboard/{}/{}",
        encode_segment(owner),
        encode_segment(name)
    ))
}

fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.1}%", v * 100.0),
        _ => "—".into(),
    }
}

fn minutes(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v:.1} min"),
        _ => "—".into(),
    }
}

fn band_class(band: &str) -> &'static str {
    match band {
        "low" => "low",
        "elevated" => "elevated",
        "high" => "high",
        _ => "unknown",
    }
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// The list of repositories the store knows.
pub fn index_page(repositories: &[String]) -> String {
    let mut body = String::from(
        "<header><h1>riskgate</h1><p class=\"meta\">Read-only dashboard: pull request risk, \
         release health and model quality per repository.</p></header>\n",
    );
    if repositories.is_empty() {
        body.push_str(
            "<p class=\"empty\" id=\"no-repositories\">riskgate knows no repository yet: it \
             learns of them from the pull requests it scores and the deployments and \
             incidents it records.</p>\n",
        );
    } else {
        body.push_str("<ul id=\"repositories\">\n");
        for r in repositories {
            match repo_path(r) {
                Some(path) => {
                    let _ = writeln!(
                        body,
                        "<li><a href=\"{}\">{}</a></li>",
                        escape(&path),
                        escape(r)
                    );
                }
                None => {
                    let _ = writeln!(body, "<li>{}</li>", escape(r));
                }
            }
        }
        body.push_str("</ul>\n");
    }
    document("riskgate dashboard", &body)
}

/// The short page of a refused or failed request: it says what to do and shows no data.
pub fn message_page(title: &str, message: &str) -> String {
    document(
        title,
        &format!(
            "<header><h1>{}</h1></header>\n<p>{}</p>\n",
            escape(title),
            escape(message)
        ),
    )
}

/// The dashboard of one repository.
pub fn repo_page(view: &RepoView) -> String {
    let mut b = String::new();
    let repo = escape(&view.repository);
    let _ = write!(
        b,
        "<header><a href=\"/dashboard\">riskgate</a><h1 id=\"repository\">{repo}</h1>\
         <p class=\"meta\">Last {PERIOD_DAYS} days, {} to {} · model <code>{}</code> \
         (elevated from {}, high from {})",
        escape(&rfc3339(view.since)),
        escape(&rfc3339(view.generated_at)),
        escape(&view.model.version),
        pct(Some(view.model.elevated)),
        pct(Some(view.model.high)),
    );
    if let Some(path) = repo_path(&view.repository) {
        let _ = write!(
            b,
            " · <a href=\"{}/data.json\">data as JSON</a>",
            escape(&path)
        );
    }
    b.push_str("</p></header>\n");
    stale_warning(&mut b, view);
    pulls_section(&mut b, view);
    health_section(&mut b, view);
    model_section(&mut b, view);
    let _ = write!(
        b,
        "<script type=\"application/json\" id=\"dashboard-data\">{}</script>\n\
         <script>{SCRIPT}</script>\n",
        script_json(view)
    );
    document(&format!("riskgate · {}", view.repository), &b)
}

fn stale_warning(b: &mut String, view: &RepoView) {
    if !view.health.stale_production {
        return;
    }
    let days = STALE_AFTER_MS / (24 * 60 * 60 * 1000);
    let stale: Vec<String> = view
        .health
        .environments
        .iter()
        .filter(|e| e.stale)
        .map(|e| match e.last_success_at {
            Some(at) => format!(
                "{} (last successful deployment {})",
                e.environment,
                rfc3339(at)
            ),
            None => format!("{} (no successful deployment on record)", e.environment),
        })
        .collect();
    let text = if stale.is_empty() {
        let envs: Vec<&str> = view
            .health
            .environments
            .iter()
            .map(|e| e.environment.as_str())
            .collect();
        format!(
            "Stale pipeline: deployments went to {} but none to a production environment \
             (production, prod, live) in the period.",
            envs.join(", ")
        )
    } else {
        format!(
            "Stale pipeline: no successful deployment in {days} days to {}.",
            stale.join(", ")
        )
    };
    let _ = writeln!(
        b,
        "<p class=\"warning\" id=\"stale-warning\">{}</p>",
        escape(&text)
    );
}

fn pulls_section(b: &mut String, view: &RepoView) {
    b.push_str("<section id=\"risk\">\n<h2>Risk of recent pull requests</h2>\n");
    if view.pulls.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"empty\" data-empty=\"risk\">No pull request was scored in the last \
             {PERIOD_DAYS} days.</p>\n</section>"
        );
        return;
    }
    let _ = writeln!(
        b,
        "<figure class=\"chart\" id=\"chart-risk\"><figcaption>The latest score of each pull \
         request, from riskgate's stored scores; bars coloured by the band each was given \
         (a repository's .github/riskgate.yml can move the bands); dashed lines are the \
         thresholds of the model in use, {}.</figcaption></figure>",
        escape(&view.model.version)
    );
    if view.pulls_in_period > view.pulls.len() {
        let _ = writeln!(
            b,
            "<p class=\"note\">The newest {} of {} pull requests scored in the period.</p>",
            view.pulls.len(),
            view.pulls_in_period
        );
    }
    b.push_str(
        "<table id=\"pulls\">\n<thead><tr><th>pull request</th><th>title</th><th>risk</th>\
         <th>band</th><th>model</th><th>head</th><th>scored</th><th>labelled buggy</th></tr>\
         </thead>\n<tbody>\n",
    );
    for p in &view.pulls {
        let band = band_class(&p.band);
        let head: String = p.head_sha.chars().take(12).collect();
        let _ = writeln!(
            b,
            "<tr data-pr=\"{}\" data-band=\"{band}\"><td class=\"num\">#{}</td><td>{}</td>\
             <td class=\"num\" data-figure=\"probability\">{}</td>\
             <td><span class=\"tag tag-{band}\">{}</span></td><td><code>{}</code></td>\
             <td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            p.number,
            p.number,
            escape(p.title.as_deref().unwrap_or("")),
            pct(Some(p.probability)),
            escape(&p.band),
            escape(&p.model_version),
            escape(&head),
            escape(&rfc3339(p.scored_at)),
            escape(&p.labels.join(", ")),
        );
    }
    b.push_str("</tbody>\n</table>\n</section>\n");
}

fn health_section(b: &mut String, view: &RepoView) {
    let h = &view.health;
    b.push_str("<section id=\"health\">\n<h2>Release health</h2>\n");
    if h.environments.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"empty\" data-empty=\"releases\">No deployment was recorded in the last \
             {PERIOD_DAYS} days: riskgate learns of them from GitHub's deployment and \
             deployment_status events.</p>"
        );
    } else {
        b.push_str(
            "<div class=\"wide\"><table id=\"environments\">\n<thead><tr><th>environment</th><th>deployments</th>\
             <th>successful</th><th>failed</th><th>releases per week</th>\
             <th>median duration</th><th>mean duration</th><th>rollbacks</th>\
             <th>rollback rate</th><th>failed release rate</th><th>release incidents</th>\
             <th>release-incident rate</th><th>last success</th></tr></thead>\n<tbody>\n",
        );
        for e in &h.environments {
            let cells: [(&str, String); 12] = [
                ("deployments", e.deployments.to_string()),
                ("successful", e.successful.to_string()),
                ("failed", e.failed.to_string()),
                ("releases_per_week", format!("{:.2}", e.releases_per_week)),
                ("median_release_minutes", minutes(e.median_release_minutes)),
                ("mean_release_minutes", minutes(e.mean_release_minutes)),
                ("rollbacks", e.rollbacks.to_string()),
                ("rollback_rate", pct(e.rollback_rate)),
                ("failed_release_rate", pct(e.failed_release_rate)),
                ("release_incidents", e.release_incidents.to_string()),
                ("release_incident_rate", pct(e.release_incident_rate)),
                (
                    "last_success_at",
                    e.last_success_at
                        .map(|at| rfc3339(at).replace('T', " "))
                        .unwrap_or_else(|| "—".into()),
                ),
            ];
            let _ = write!(
                b,
                "<tr data-environment=\"{}\"><th>{}{}</th>",
                escape(&e.environment),
                escape(&e.environment),
                if e.stale { " (stale)" } else { "" }
            );
            for (name, value) in cells {
                let _ = write!(
                    b,
                    "<td class=\"num\" data-figure=\"{name}\">{}</td>",
                    escape(&value)
                );
            }
            b.push_str("</tr>\n");
        }
        b.push_str("</tbody>\n</table></div>\n");
        let _ = writeln!(
            b,
            "<figure class=\"chart\" id=\"chart-releases\"><figcaption>Deployments per week and \
             environment over the last {} weeks, from the deployment statuses GitHub reported; \
             points are incidents opened that week (an incident that names no environment \
             counts for each).</figcaption></figure>",
            super::view::CHART_WEEKS
        );
    }
    let g = &h.gate;
    let rows: [(&str, &str, String); 7] = [
        (
            "scored_pulls",
            "pull requests scored",
            g.scored_pulls.to_string(),
        ),
        (
            "gated_pulls",
            "rated elevated or high",
            g.gated_pulls.to_string(),
        ),
        ("gate_rate", "gate rate", pct(g.gate_rate)),
        ("incidents", "incidents opened", g.incidents.to_string()),
        (
            "linked_incidents",
            "incidents linked to a pull request",
            g.linked_incidents.to_string(),
        ),
        (
            "captured_incidents",
            "of them, with a linked pull request rated elevated or high",
            g.captured_incidents.to_string(),
        ),
        (
            "incident_capture",
            "incident capture",
            pct(g.incident_capture),
        ),
    ];
    b.push_str("<h3>riskgate's checks</h3>\n<table id=\"gate\">\n<tbody>\n");
    for (name, text, value) in rows {
        let _ = writeln!(
            b,
            "<tr><th>{}</th><td class=\"num\" data-figure=\"{name}\">{}</td></tr>",
            escape(text),
            escape(&value)
        );
    }
    b.push_str("</tbody>\n</table>\n</section>\n");
}

fn model_section(b: &mut String, view: &RepoView) {
    b.push_str("<section id=\"model\">\n<h2>Model quality</h2>\n");
    let notes = |b: &mut String| {
        for n in &view.curve_notes {
            let _ = writeln!(b, "<p class=\"note\">{}</p>", escape(n));
        }
    };
    if view.roc.is_empty() && view.calibration.is_empty() {
        b.push_str(
            "<p class=\"empty\" data-empty=\"roc\">No ROC curve to show.</p>\n\
             <p class=\"empty\" data-empty=\"calibration\">No calibration plot to show.</p>\n",
        );
        notes(b);
        b.push_str("</section>\n");
        return;
    }
    b.push_str("<div class=\"charts\">\n");
    for r in &view.roc {
        let auc = r
            .auc
            .filter(|a| a.is_finite())
            .map(|a| format!("; AUC {a:.3}"))
            .unwrap_or_default();
        let _ = writeln!(
            b,
            "<figure class=\"chart square\" id=\"chart-roc-{}\" data-source=\"{}\"><figcaption>ROC \
             curve from {}{}. The dashed diagonal is a random ranking.</figcaption></figure>",
            escape(r.source),
            escape(r.source),
            escape(&r.label),
            auc
        );
    }
    b.push_str("</div>\n<div class=\"charts\">\n");
    for c in &view.calibration {
        let _ = writeln!(
            b,
            "<figure class=\"chart square\" id=\"chart-calibration-{}\" data-source=\"{}\"><figcaption>\
             Calibration from {}. Points on the dashed diagonal are probabilities that come \
             true as often as they say; bigger points hold more changes.</figcaption></figure>",
            escape(c.source),
            escape(c.source),
            escape(&c.label)
        );
    }
    b.push_str("</div>\n");
    if view.roc.is_empty() {
        b.push_str("<p class=\"empty\" data-empty=\"roc\">No ROC curve to show.</p>\n");
    }
    if view.calibration.is_empty() {
        b.push_str(
            "<p class=\"empty\" data-empty=\"calibration\">No calibration plot to show.</p>\n",
        );
    }
    notes(b);
    b.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::super::view::{ModelSummary, PullRow, RocSeries, SOURCE_HISTORY};
    use super::*;
    use crate::health::{EnvironmentHealth, GateHealth, RepositoryHealth};

    fn view() -> RepoView {
        RepoView {
            repository: "o/<r>".into(),
            generated_at: 1_700_000_000_000,
            since: 1_700_000_000_000 - PERIOD_DAYS * 86_400_000,
            model: ModelSummary {
                version: "m-1".into(),
                elevated: 0.15,
                high: 0.3,
            },
            pulls: vec![PullRow {
                number: 7,
                title: Some("</script><script>alert(1)</script> & \"quotes\"".into()),
                probability: 0.4123,
                band: "high".into(),
                model_version: "m-1".into(),
                head_sha: "0123456789abcdef0123".into(),
                scored_at: 1_699_000_000_000,
                labels: vec!["incident:inc-1".into()],
            }],
            pulls_in_period: 1,
            health: RepositoryHealth {
                repository: "o/<r>".into(),
                since: 0,
                until: 1,
                environments: vec![EnvironmentHealth {
                    environment: "production".into(),
                    deployments: 4,
                    successful: 3,
                    failed: 1,
                    releases_per_week: 0.2333,
                    median_release_minutes: Some(20.0),
                    mean_release_minutes: None,
                    rollbacks: 0,
                    rollback_rate: Some(0.0),
                    failed_release_rate: Some(0.25),
                    release_incidents: 1,
                    release_incident_rate: Some(1.0 / 3.0),
                    last_success_at: Some(1_699_000_000_000),
                    stale: true,
                }],
                gate: GateHealth {
                    scored_pulls: 1,
                    gated_pulls: 1,
                    gate_rate: Some(1.0),
                    incidents: 1,
                    linked_incidents: 1,
                    captured_incidents: 1,
                    incident_capture: Some(1.0),
                },
                stale_production: true,
            },
            releases: vec![],
            roc: vec![RocSeries {
                source: SOURCE_HISTORY,
                label: "this repository's <history>".into(),
                auc: Some(0.75),
                points: vec![[0.0, 0.0], [1.0, 1.0]],
            }],
            calibration: vec![],
            curve_notes: vec!["The model in use (m-1) carries no hold-out curves.".into()],
        }
    }

    #[test]
    fn user_text_is_escaped_in_html_and_in_the_embedded_json() {
        let page = repo_page(&view());
        assert!(!page.contains("<script>alert(1)"));
        assert!(page.contains(
            "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"
        ));
        assert!(page.contains("<h1 id=\"repository\">o/&lt;r&gt;</h1>"));
        // Two scripts open and close: the data and the drawing code.
        assert_eq!(page.matches("<script").count(), 2);
        assert_eq!(page.matches("</script>").count(), 2);
        let start = page.find("id=\"dashboard-data\">").unwrap() + "id=\"dashboard-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let json: serde_json::Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(
            json["pulls"][0]["title"],
            view().pulls[0].title.clone().unwrap()
        );
        assert_eq!(json["repository"], "o/<r>");
        assert!(!page[start..end].contains('<'));
    }

    #[test]
    fn figures_chart_slots_and_missing_charts() {
        let page = repo_page(&view());
        assert!(page.contains("data-figure=\"failed_release_rate\">25.0%</td>"));
        assert!(page.contains("data-figure=\"median_release_minutes\">20.0 min</td>"));
        assert!(page.contains("data-figure=\"mean_release_minutes\">—</td>"));
        assert!(page.contains("data-figure=\"releases_per_week\">0.23</td>"));
        assert!(page.contains("data-figure=\"incident_capture\">100.0%</td>"));
        assert!(page.contains("data-figure=\"probability\">41.2%</td>"));
        assert!(page.contains("<code>0123456789ab</code>"));
        assert!(page.contains("id=\"stale-warning\""));
        assert!(page.contains("production (last successful deployment 2023-11-03T08:26:40Z)"));
        assert!(page.contains("id=\"chart-risk\""));
        assert!(page.contains("id=\"chart-releases\""));
        assert!(page.contains("id=\"chart-roc-history\""));
        assert!(page.contains("this repository&#39;s &lt;history&gt;; AUC 0.750"));
        assert!(!page.contains("id=\"chart-calibration-"));
        assert!(page.contains("data-empty=\"calibration\""));
        assert!(page.contains("carries no hold-out curves"));
        assert!(page.contains("href=\"/dashboard/o/%3Cr%3E/data.json\""));
    }

    #[test]
    fn an_empty_view_says_so_instead_of_drawing() {
        let mut v = view();
        v.pulls.clear();
        v.health.environments.clear();
        v.health.stale_production = false;
        v.roc.clear();
        let page = repo_page(&v);
        for kind in ["risk", "releases", "roc", "calibration"] {
            assert!(page.contains(&format!("data-empty=\"{kind}\"")), "{kind}");
        }
        assert!(!page.contains("id=\"chart-"));
        assert!(!page.contains("stale-warning"));
    }

    #[test]
    fn index_links_each_repository() {
        let page = index_page(&["o/r".into(), "a b/c&d".into(), "odd".into()]);
        assert!(page.contains("<a href=\"/dashboard/o/r\">o/r</a>"));
        assert!(page.contains("<a href=\"/dashboard/a%20b/c%26d\">a b/c&amp;d</a>"));
        assert!(page.contains("<li>odd</li>"));
        assert!(index_page(&[]).contains("id=\"no-repositories\""));
    }

    #[test]
    fn script_json_cannot_break_out() {
        let s = script_json(&serde_json::json!({"t": "</script><!-- & \u{2028}"}));
        assert_eq!(s, r#"{"t":"\u003c/script\u003e\u003c!-- \u0026 \u2028"}"#);
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["t"], "</script><!-- & \u{2028}");
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_script_and_style() {
        let csp = CONTENT_SECURITY_POLICY.as_str();
        assert!(csp.starts_with("default-src 'none'; script-src 'sha256-"));
        assert!(csp.contains(&csp_hash(SCRIPT)) && csp.contains(&csp_hash(STYLE)));
        assert!(!csp.contains("unsafe-inline"));
    }
}
