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
        .with_writer(std::io::stderr);
    let _ = if std::env::var("RISKGATE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
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
