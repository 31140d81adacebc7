//! Incidents as people and incident tools hand them to us: one JSON object (the API), a JSON
//! list or a CSV file (imports). Field names of the common tools' exports are accepted beside
//! riskgate's own; every refusal names the field (and, for a file, the record). Pure.

use serde_json::{Map, Value};

use super::incidents::Incident;
use crate::time;

/// Why one incident record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// riskgate's field names, each followed by the names other tools use for it.
const ID: &[&str] = &["id", "incident_id", "incident_number", "number", "key"];
const TITLE: &[&str] = &["title", "name", "summary", "message"];
const OPENED: &[&str] = &[
    "opened_at",
    "created_at",
    "createdAt",
    "started_at",
    "triggered_at",
    "reported_at",
];
const RESOLVED: &[&str] = &["resolved_at", "resolvedAt", "closed_at", "ended_at"];
const REPOSITORY: &[&str] = &["repository", "repo"];
const SERVICE: &[&str] = &["service", "service_name", "component"];
const ENVIRONMENT: &[&str] = &["environment", "env"];
const COMMIT: &[&str] = &["commit_sha", "commit", "sha"];
const PULL: &[&str] = &["pr_number", "pull_request", "pr"];
const BODY: &[&str] = &["description", "body", "details", "postmortem"];

/// The first of `names` present and not null/empty: (the name used, its value).
fn pick<'v>(
    object: &'v Map<String, Value>,
    names: &[&'static str],
) -> Option<(&'static str, &'v Value)> {
    names.iter().find_map(|n| {
        object
            .get(*n)
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
            .map(|v| (*n, v))
    })
}

/// A text field; objects such as PagerDuty's `service: {"summary": …}` give their
/// `summary`, `name` or `id`.
///
/// Text with a NUL character is refused: no export writes one, and PostgreSQL cannot store it.
fn text(field: &str, value: &Value) -> Result<String, FieldError> {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => ["summary", "name", "id", "slug"]
            .iter()
            .find_map(|k| o.get(*k).and_then(Value::as_str))
            .map(|s| s.to_string())
            .ok_or_else(|| refuse(field, "an object without summary, name or id"))?,
        other => return Err(refuse(field, format!("expected text, got {other}"))),
    };
    if text.contains('\0') {
        return Err(refuse(field, "contains a NUL character"));
    }
    Ok(text)
}

/// The most characters of an incident's id, service or environment. Incident tools use short
/// ones; these are keys the store indexes (the service names an incident of no repository in
/// the audit trail), and an index entry has a size limit.
const MAX_KEY_CHARS: usize = 256;

/// `value` of `field`, refused past [`MAX_KEY_CHARS`].
fn short(field: &str, value: String) -> Result<String, FieldError> {
    if value.chars().count() > MAX_KEY_CHARS {
        return Err(refuse(
            field,
            format!("longer than {MAX_KEY_CHARS} characters"),
        ));
    }
    Ok(value)
}

/// 3000-01-01T00:00:00Z in unix seconds: no incident time is this late.
const LAST_UNIX_SECOND: i64 = 32_503_680_000;

/// A time: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), `YYYY-MM-DD`, or unix seconds (a number
/// or digits).
pub fn parse_time(field: &str, value: &Value) -> Result<i64, FieldError> {
    let bad = |shown: &str| {
        refuse(
            field,
            format!("`{shown}` is not a time (RFC 3339, YYYY-MM-DD HH:MM:SS, or unix seconds)"),
        )
    };
    // Unix seconds past the year 3000 are almost surely milliseconds (or garbage): refused,
    // rather than stored as an incident centuries from now that no change ever precedes.
    let seconds = |secs: i64, shown: &str| -> Result<i64, FieldError> {
        if secs <= 0 {
            return Err(bad(shown));
        }
        if secs >= LAST_UNIX_SECOND {
            return Err(refuse(
                field,
                format!("`{shown}` as unix seconds is past the year 3000; milliseconds? give seconds or an RFC 3339 time"),
            ));
        }
        Ok(secs * 1000)
    };
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(secs) => seconds(secs, &n.to_string()),
            None => Err(bad(&n.to_string())),
        },
        Value::String(s) => {
            let t = s.trim();
            if let Some(ms) = time::parse_rfc3339_ms(t) {
                return Ok(ms);
            }
            for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
                if let Some(ms) = time::parse_utc_ms(t, format) {
                    return Ok(ms);
                }
            }
            if let Some(ms) = time::parse_date_ms(t) {
                return Ok(ms);
            }
            match t.parse::<i64>() {
                Ok(secs) => seconds(secs, t),
                Err(_) => Err(bad(t)),
            }
        }
        other => Err(bad(&other.to_string())),
    }
}

/// A pull request: its number, and the repository (`owner/name`) that a URL
/// (`https://github.com/owner/name/pull/7`) or `owner/name#7` names, if it names one.
fn pull_request(field: &str, value: &Value) -> Result<(i64, Option<String>), FieldError> {
    let (number, named) = match value {
        Value::Number(n) => (n.as_i64(), None),
        Value::String(s) => {
            let t = s.trim();
            let (before, digits) = t
                .rsplit_once("/pull/")
                .or_else(|| t.rsplit_once('#'))
                .unwrap_or(("", t));
            // The last two components of the word before the number, when it has a `/`: the
            // URL's or `owner/name#N`'s repository. "PR #42" names none.
            let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
            let mut parts = word.trim_end_matches('/').rsplit('/');
            let named = match (parts.next(), parts.next()) {
                (Some(name), Some(owner)) => Some(format!("{owner}/{name}")),
                _ => None,
            };
            if let Some(named) = &named {
                if crate::names::split_full_name(named).is_none() {
                    return Err(refuse(
                        field,
                        format!(
                            "`{t}` names `{named}`, which is not owner/name as GitHub names them"
                        ),
                    ));
                }
            }
            (digits.trim().parse().ok(), named)
        }
        Value::Object(o) => (o.get("number").and_then(Value::as_i64), None),
        _ => (None, None),
    };
    number
        .filter(|n| *n > 0)
        .map(|n| (n, named))
        .ok_or_else(|| refuse(field, format!("`{value}` is not a pull request number")))
}

fn commit(field: &str, value: &Value) -> Result<String, FieldError> {
    let sha = text(field, value)?.to_ascii_lowercase();
    if (7..=40).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha)
    } else {
        Err(refuse(
            field,
            format!("`{sha}` is not a commit SHA (7 to 40 hex digits)"),
        ))
    }
}

/// One incident from a JSON object. Required: an id, a title, when it opened, and the
/// repository (`owner/name`) or service it hit.
pub fn incident_from_json(value: &Value, source: &str) -> Result<Incident, FieldError> {
    let Value::Object(o) = value else {
        return Err(refuse("incident", "expected a JSON object"));
    };
    let (id_field, id) = pick(o, ID).ok_or_else(|| refuse("id", "missing"))?;
    let id = text(id_field, id)?;
    if id.is_empty() {
        return Err(refuse(id_field, "empty"));
    }
    let id = short(id_field, id)?;
    let (title_field, title) = pick(o, TITLE).ok_or_else(|| refuse("title", "missing"))?;
    let title = text(title_field, title)?;
    let (opened_field, opened) = pick(o, OPENED).ok_or_else(|| refuse("opened_at", "missing"))?;
    let opened_at = parse_time(opened_field, opened)?;
    let resolved_at = match pick(o, RESOLVED) {
        Some((f, v)) => {
            let at = parse_time(f, v)?;
            if at < opened_at {
                return Err(refuse(f, "is before opened_at"));
            }
            Some(at)
        }
        None => None,
    };
    let repository = match pick(o, REPOSITORY) {
        Some((f, v)) => {
            let r = text(f, v)?;
            if crate::names::split_full_name(&r).is_none() {
                return Err(refuse(
                    f,
                    format!("`{r}` is not owner/name as GitHub names them (letters, digits, `-`, `_`; `.` in the name)"),
                ));
            }
            Some(r)
        }
        None => None,
    };
    let pull = pick(o, PULL)
        .map(|(f, v)| pull_request(f, v).map(|p| (f, p)))
        .transpose()?;
    // A pull request of another repository would be linked as this one's pull request of the
    // same number; one named without a repository names the incident's.
    let repository = match (repository, &pull) {
        (Some(r), Some((f, (_, Some(named))))) if !r.eq_ignore_ascii_case(named) => {
            return Err(refuse(
                f,
                format!("is a pull request of `{named}`, not of the incident's repository `{r}`"),
            ));
        }
        (None, Some((_, (_, named)))) => named.clone(),
        (r, _) => r,
    };
    let service = pick(o, SERVICE)
        .map(|(f, v)| text(f, v).and_then(|s| short(f, s)))
        .transpose()?;
    if repository.is_none() && service.is_none() {
        return Err(refuse("repository", "missing (give repository or service)"));
    }
    let optional_text = |names: &[&'static str]| -> Result<Option<String>, FieldError> {
        pick(o, names)
            .map(|(f, v)| text(f, v))
            .transpose()
            .map(|t| t.filter(|s| !s.is_empty()))
    };
    Ok(Incident {
        id,
        source: source.to_string(),
        title,
        repository,
        service,
        environment: optional_text(ENVIRONMENT)?
            .map(|e| short("environment", e))
            .transpose()?,
        opened_at,
        resolved_at,
        commit_sha: pick(o, COMMIT).map(|(f, v)| commit(f, v)).transpose()?,
        pr_number: pull.map(|(_, (number, _))| number),
        body: optional_text(BODY)?,
    })
}

/// A refusal within a file: which record (1-based; for CSV the line number) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {record}: {error}")]
pub struct RecordError {
    pub record: usize,
    pub error: FieldError,
}

/// A JSON document of incidents: a list, one object, or `{"incidents": [...]}` (the export
/// shape of several tools). All or nothing: any bad record refuses the whole document.
pub fn incidents_from_json(text: &str, source: &str) -> Result<Vec<Incident>, Vec<RecordError>> {
    let text = crate::input::without_bom(text);
    let value: Value = serde_json::from_str(text).map_err(|e| {
        vec![RecordError {
            record: 0,
            error: refuse("document", format!("not JSON: {e}")),
        }]
    })?;
    let records: Vec<&Value> = match &value {
        Value::Array(list) => list.iter().collect(),
        Value::Object(o) => match o.get("incidents").or_else(|| o.get("data")) {
            Some(Value::Array(list)) => list.iter().collect(),
            _ => vec![&value],
        },
        _ => {
            return Err(vec![RecordError {
                record: 0,
                error: refuse("document", "expected a list of incidents or an object"),
            }])
        }
    };
    collect(
        records
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, incident_from_json(v, source))),
    )
}

/// A CSV file with a header row using the same field names. Line numbers count the header
/// as line 1.
pub fn incidents_from_csv(text: &str, source: &str) -> Result<Vec<Incident>, Vec<RecordError>> {
    // Line numbers as an editor shows them: a quoted cell may span lines and blank lines are
    // skipped, so a count of records would point at the wrong line.
    let (bytes, lines) = crate::input::editor_lines(text.as_bytes());
    let line_at = |position: Option<&csv::Position>| {
        // Without a position, the line last reached.
        let line = lines.line_of(position.map_or(0, |p| p.byte()));
        usize::try_from(line).unwrap_or(usize::MAX)
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let headers = reader.headers().cloned().map_err(|e| {
        vec![RecordError {
            record: 1,
            error: refuse("header", e.to_string()),
        }]
    })?;
    // A column named twice would have its second cell win silently.
    let mut seen = std::collections::BTreeSet::new();
    if let Some(twice) = headers
        .iter()
        .find(|h| !seen.insert(h.to_ascii_lowercase()))
    {
        return Err(vec![RecordError {
            record: 1,
            error: refuse("header", format!("column `{twice}` is named twice")),
        }]);
    }
    let mut results = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                results.push((line_at(e.position()), Err(refuse("row", e.to_string()))));
                continue;
            }
        };
        let line = line_at(record.position());
        let object: Map<String, Value> = headers
            .iter()
            .zip(record.iter())
            .filter(|(_, cell)| !cell.is_empty() && *cell != "NA")
            .map(|(h, cell)| (h.to_string(), Value::String(cell.to_string())))
            .collect();
        results.push((line, incident_from_json(&Value::Object(object), source)));
    }
    if results.is_empty() {
        return Err(vec![RecordError {
            record: 1,
            error: refuse("file", "no incidents below the header"),
        }]);
    }
    collect(results.into_iter())
}

/// All the incidents, or every refusal, each with its record number (a JSON list's position,
/// a CSV file's line).
fn collect(
    results: impl Iterator<Item = (usize, Result<Incident, FieldError>)>,
) -> Result<Vec<Incident>, Vec<RecordError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (record, r) in results {
        match r {
            Ok(incident) => ok.push((record, incident)),
            Err(error) => errors.push(RecordError { record, error }),
        }
    }
    let mut seen = std::collections::HashSet::new();
    if errors.is_empty() {
        for (record, incident) in &ok {
            if !seen.insert(incident.id.clone()) {
                errors.push(RecordError {
                    record: *record,
                    error: refuse("id", format!("`{}` appears twice in the file", incident.id)),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(ok.into_iter().map(|(_, incident)| incident).collect())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn riskgate_shape() {
        let i = incident_from_json(
            &json!({"id": "INC-7", "title": "Checkout 500s", "opened_at": "2026-11-02T10:15:00Z",
                    "resolved_at": "2026-11-02T12:00:00+01:00", "repository": "acme/shop",
                    "environment": "production", "commit_sha": "ABCDEF1234", "pr_number": "#42"}),
            "api",
        )
        .unwrap();
        assert_eq!(i.id, "INC-7");
        assert_eq!(i.opened_at, 1_793_614_500_000);
        assert_eq!(i.resolved_at, Some(1_793_614_500_000 + 45 * 60_000));
        assert_eq!(i.commit_sha.as_deref(), Some("abcdef1234"));
        assert_eq!(i.pr_number, Some(42));
        assert_eq!(i.environment.as_deref(), Some("production"));
    }

    #[test]
    fn pagerduty_and_incident_io_shapes() {
        let pd = incident_from_json(
            &json!({"id": "Q1ABC", "incident_number": 12, "title": "DB latency",
                    "created_at": "2026-11-02T10:15:00Z", "service": {"id": "P1", "summary": "shop"},
                    "description": "caused by #9"}),
            "import",
        )
        .unwrap();
        assert_eq!(pd.id, "Q1ABC");
        assert_eq!(pd.service.as_deref(), Some("shop"));
        assert_eq!(pd.body.as_deref(), Some("caused by #9"));
        let io = incident_from_json(
            &json!({"id": "01HX", "name": "Payments down", "created_at": 1762078500,
                    "repository": "acme/pay"}),
            "import",
        )
        .unwrap();
        assert_eq!(io.title, "Payments down");
        assert_eq!(io.opened_at, 1_762_078_500_000);
    }

    #[test]
    fn refusals_name_the_field() {
        let field = |v: Value| incident_from_json(&v, "api").unwrap_err().field;
        assert_eq!(
            field(json!({"title": "x", "opened_at": 1, "repository": "a/b"})),
            "id"
        );
        assert_eq!(
            field(json!({"id": "1", "opened_at": 1, "repository": "a/b"})),
            "title"
        );
        assert_eq!(
            field(json!({"id": "1", "title": "x", "repository": "a/b"})),
            "opened_at"
        );
        assert_eq!(
            field(json!({"id": "1", "title": "x", "opened_at": "yesterday", "repository": "a/b"})),
            "opened_at"
        );
        assert_eq!(
            field(json!({"id": "1", "title": "x", "opened_at": 5})),
            "repository"
        );
        for not_a_name in ["nope", "../..", "a/b/c", "a b/c", "-o/x", "a/.."] {
            assert_eq!(
                field(json!({"id": "1", "title": "x", "opened_at": 5, "repository": not_a_name})),
                "repository",
                "{not_a_name}"
            );
        }
        assert_eq!(
            field(json!({"id": "1", "title": "x", "opened_at": 5, "repo": "a/b", "sha": "zz"})),
            "sha"
        );
        assert_eq!(
            field(
                json!({"id": "1", "title": "x", "opened_at": 5, "repository": "a/b", "pr": "abc"})
            ),
            "pr"
        );
        assert_eq!(
            field(
                json!({"id": "1", "title": "x", "opened_at": 50, "resolved_at": 10, "repository": "a/b"})
            ),
            "resolved_at"
        );
        assert_eq!(field(json!([1, 2])), "incident");
        // A NUL character, which PostgreSQL cannot store, in any text field or in the text of a
        // PagerDuty-style object.
        for (name, value) in [
            ("id", json!("INC\u{0}1")),
            ("title", json!("down\u{0}")),
            ("service", json!({"summary": "shop\u{0}"})),
            ("env", json!("prod\u{0}")),
            ("details", json!("see \u{0} here")),
        ] {
            let mut incident =
                json!({"id": "1", "title": "x", "opened_at": 5, "repository": "a/b"});
            incident[name] = value;
            let refused = incident_from_json(&incident, "api").unwrap_err();
            assert_eq!(refused.field, name);
            assert!(refused.to_string().contains("NUL"), "{refused}");
        }
        // Keys the store indexes have a length limit.
        let long = "x".repeat(257);
        for name in ["id", "service", "environment"] {
            let mut incident =
                json!({"id": "1", "title": "x", "opened_at": 5, "repository": "a/b"});
            incident[name] = json!(long);
            let refused = incident_from_json(&incident, "api").unwrap_err();
            assert_eq!(refused.field, name);
            assert!(refused.to_string().contains("longer than 256"), "{refused}");
            incident[name] = json!(&long[1..]);
            assert!(
                incident_from_json(&incident, "api").is_ok(),
                "256 is allowed"
            );
        }
        let millis = incident_from_json(
            &json!({"id": "1", "title": "x", "opened_at": 1_762_078_500_000i64, "repository": "a/b"}),
            "api",
        )
        .unwrap_err();
        assert_eq!(millis.field, "opened_at");
        assert!(millis.to_string().contains("milliseconds"), "{millis}");
        assert_eq!(
            field(
                json!({"id": "1", "title": "x", "opened_at": "1762078500000", "repository": "a/b"})
            ),
            "opened_at"
        );
        assert_eq!(
            field(json!({"id": "1", "title": "x", "opened_at": i64::MAX, "repository": "a/b"})),
            "opened_at"
        );
        assert_eq!(
            field(json!({"id": [1], "title": "x", "opened_at": 5, "repository": "a/b"})),
            "id"
        );
    }

    /// A pull request named by URL or `owner/name#N` must be of the incident's repository, and
    /// names it when the incident gives none.
    #[test]
    fn a_pull_request_of_another_repository_is_refused() {
        let with = |repository: Option<&str>, pr: &str| {
            let mut v =
                json!({"id": "1", "title": "x", "opened_at": 5, "service": "shop", "pr": pr});
            if let Some(r) = repository {
                v["repository"] = json!(r);
            }
            incident_from_json(&v, "api")
        };
        let ours = with(Some("acme/shop"), "https://github.com/Acme/Shop/pull/42").unwrap();
        assert_eq!(
            (ours.pr_number, ours.repository.as_deref()),
            (Some(42), Some("acme/shop"))
        );
        assert_eq!(with(Some("acme/shop"), "#42").unwrap().pr_number, Some(42));
        let named = with(None, "acme/pay#7").unwrap();
        assert_eq!(
            (named.pr_number, named.repository.as_deref()),
            (Some(7), Some("acme/pay"))
        );
        let theirs = with(Some("acme/shop"), "https://github.com/acme/pay/pull/42").unwrap_err();
        assert_eq!(theirs.field, "pr");
        assert_eq!(
            theirs.message,
            "is a pull request of `acme/pay`, not of the incident's repository `acme/shop`"
        );
        for odd in [
            "https://github.com/../pull/3",
            "https://github.com/-x/y/pull/3",
        ] {
            assert_eq!(with(None, odd).unwrap_err().field, "pr", "{odd}");
        }
        // Words before the number that name no repository are read as before.
        for plain in ["PR #42", "shop#42", "see acme/shop#42"] {
            let i = with(Some("acme/shop"), plain).unwrap();
            assert_eq!(i.pr_number, Some(42), "{plain}");
        }
    }

    /// A CSV refusal names the line an editor shows, past quoted cells that span lines and
    /// blank lines.
    #[test]
    fn csv_refusals_name_the_line() {
        let csv = "id,title,opened_at,repository\n\
                   A,\"two\nlines\",1,a/b\n\
                   \n\
                   B,x,never,a/b\n";
        let errors = incidents_from_csv(csv, "import").unwrap_err();
        assert_eq!(
            (errors[0].record, errors[0].error.field.as_str()),
            (5, "opened_at")
        );
        let dup = "id,title,opened_at,repository\nA,\"x\ny\",1,a/b\nA,z,2,a/b\n";
        let errors = incidents_from_csv(dup, "import").unwrap_err();
        assert_eq!(
            (errors[0].record, errors[0].error.field.as_str()),
            (4, "id")
        );
    }

    #[test]
    fn files_are_all_or_nothing_and_name_the_record() {
        let csv = "id,title,opened_at,repository,pr_number\n\
                   A,One,2026-11-01 10:00:00,acme/shop,3\n\
                   B,Two,not a date,acme/shop,\n\
                   C,Three,2026-11-03,acme/shop,NA\n";
        let errors = incidents_from_csv(csv, "import").unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].record, 3);
        assert_eq!(errors[0].error.field, "opened_at");
        let fixed = csv.replace("not a date", "2026-11-02T00:00:00Z");
        let ok = incidents_from_csv(&fixed, "import").unwrap();
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[0].pr_number, Some(3));
        assert_eq!(ok[2].pr_number, None);

        let twice = incidents_from_csv(
            "id,title,opened_at,Title,repository\nA,x,1,y,a/b\n",
            "import",
        )
        .unwrap_err();
        assert_eq!(twice[0].error.field, "header");
        assert!(
            twice[0]
                .error
                .to_string()
                .contains("`Title` is named twice"),
            "{}",
            twice[0].error
        );
        let bom = "\u{feff}id,title,opened_at,repository\nA,x,1,a/b\n";
        assert_eq!(incidents_from_csv(bom, "import").unwrap()[0].id, "A");
        let bom = "\u{feff}[{\"id\": \"A\", \"title\": \"x\", \"opened_at\": 1, \"repository\": \"a/b\"}]";
        assert_eq!(incidents_from_json(bom, "import").unwrap()[0].id, "A");

        let dup = "id,title,opened_at,repository\nA,x,1,a/b\nA,y,2,a/b\n";
        assert_eq!(
            incidents_from_csv(dup, "import").unwrap_err()[0]
                .error
                .field,
            "id"
        );
        assert_eq!(
            incidents_from_csv("id,title\n", "import").unwrap_err()[0]
                .error
                .field,
            "file"
        );
        let ragged = "id,title,opened_at,repository\nA,x,1\n";
        assert_eq!(
            incidents_from_csv(ragged, "import").unwrap_err()[0]
                .error
                .field,
            "row"
        );

        let json = r#"{"incidents": [{"id": "A", "title": "x", "opened_at": 1, "repository": "a/b"},
                                     {"id": "B", "title": "y", "repository": "a/b"}]}"#;
        let errors = incidents_from_json(json, "import").unwrap_err();
        assert_eq!(
            (errors[0].record, errors[0].error.field.as_str()),
            (2, "opened_at")
        );
        assert_eq!(
            incidents_from_json("{", "import").unwrap_err()[0]
                .error
                .field,
            "document"
        );
    }
}
