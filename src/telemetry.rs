//! Telemetry: the process's logging set-up and the App's Prometheus metrics (deliveries by
//! event, jobs by status, scoring latency, GitHub API calls by status, requests in flight and
//! refused as busy).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Logs go to stderr, filtered by `RISKGATE_LOG` (default: warnings only), so stdout stays
/// clean; `RISKGATE_LOG_FORMAT=json` writes one JSON object per line, for log collectors.
pub fn init() {
    let filter = std::env::var("RISKGATE_LOG")
        .ok()
        .filter(|f| !f.is_empty())
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours for a person at a terminal; a log file or collector gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(|| OneLinePerEvent(std::io::stderr()));
    let _ = if std::env::var("RISKGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// A writer that keeps each log event on one line. Fields quote text from payloads,
/// repositories and settings (an error naming a glob, a zip entry); the formatter escapes
/// terminal controls but not line breaks, so such text could start a log line of its own
/// that reads as riskgate's. The formatter writes an event at once, ending in its one `\n`.
struct OneLinePerEvent<W>(W);

impl<W: std::io::Write> std::io::Write for OneLinePerEvent<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&one_line(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `event` with each line break but a last `\n` written as `\n` or `\r`.
fn one_line(event: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let body = event.strip_suffix(b"\n").unwrap_or(event);
    if !body.iter().any(|&b| b == b'\n' || b == b'\r') {
        return std::borrow::Cow::Borrowed(event);
    }
    let mut line = Vec::with_capacity(event.len() + 16);
    for &b in body {
        match b {
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            b => line.push(b),
        }
    }
    line.extend_from_slice(&event[body.len()..]);
    std::borrow::Cow::Owned(line)
}

type Labels = Vec<(String, String)>;

/// The App's metrics, rendered as OpenMetrics text for `GET /metrics`.
pub struct Metrics {
    registry: Mutex<Registry>,
    deliveries: Family<Labels, Counter>,
    jobs: Family<Labels, Gauge>,
    github_calls: Family<Labels, Counter>,
    scoring_seconds: Histogram,
    requests_in_flight: Gauge,
    requests_refused_busy: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("riskgate");
        let deliveries = Family::<Labels, Counter>::default();
        let jobs = Family::<Labels, Gauge>::default();
        let github_calls = Family::<Labels, Counter>::default();
        // 50 ms … ~100 s
        let scoring_seconds =
            Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0]);
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries received, by event",
            deliveries.clone(),
        );
        registry.register("jobs", "Jobs in the queue, by status", jobs.clone());
        registry.register(
            "github_api_calls",
            "GitHub API calls, by HTTP status",
            github_calls.clone(),
        );
        registry.register(
            "scoring_seconds",
            "Time from claiming a scoring job to its completed check run",
            scoring_seconds.clone(),
        );
        let requests_in_flight = Gauge::default();
        let requests_refused_busy = Counter::default();
        registry.register(
            "http_requests_in_flight",
            "Requests holding one of the RISKGATE_HTTP_MAX_REQUESTS slots",
            requests_in_flight.clone(),
        );
        registry.register(
            "http_requests_refused_busy",
            "Requests answered 503 because every slot was taken",
            requests_refused_busy.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            deliveries,
            jobs,
            github_calls,
            scoring_seconds,
            requests_in_flight,
            requests_refused_busy,
        }
    }
}

impl Metrics {
    pub fn delivery(&self, event: &str) {
        self.deliveries
            .get_or_create(&vec![("event".to_string(), event.to_string())])
            .inc();
    }

    pub fn github_call(&self, status: u16) {
        self.github_calls
            .get_or_create(&vec![("status".to_string(), status.to_string())])
            .inc();
    }

    pub fn scored(&self, seconds: f64) {
        self.scoring_seconds.observe(seconds);
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn request_started(&self) -> InFlight {
        self.requests_in_flight.inc();
        InFlight(self.requests_in_flight.clone())
    }

    pub fn request_refused_busy(&self) {
        self.requests_refused_busy.inc();
    }

    /// Text exposition, with the job gauges set from the store's counts at scrape time.
    pub fn render(&self, job_counts: &BTreeMap<String, i64>) -> String {
        for status in ["queued", "running", "parked", "done", "superseded"] {
            self.jobs
                .get_or_create(&vec![("status".to_string(), status.to_string())])
                .set(job_counts.get(status).copied().unwrap_or(0));
        }
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        encode(&mut out, &registry).expect("metrics encode to a string");
        out
    }
}

/// One request in flight; dropping it (answered, or the client went away) ends the count.
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// What the formatter writes, kept for the test.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// An event whose field quotes text with line breaks is still one line of the log, and
    /// that text starts no line of its own.
    #[test]
    fn a_line_break_in_a_field_stays_in_its_event_s_line() {
        let kept = Kept::default();
        let writer = kept.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || OneLinePerEvent(writer.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let quoted = "paths: `a\nERROR riskgate: forged\r\n` is not a valid glob";
            tracing::warn!(error = %quoted, "job parked");
            tracing::warn!("the next event");
        });
        let text = String::from_utf8(kept.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains(r"`a\nERROR riskgate: forged\r\n` is not"),
            "{text}"
        );
        assert!(lines[1].ends_with("the next event"), "{text}");
        assert_eq!(one_line(b"plain\n"), &b"plain\n"[..]);
    }
}
