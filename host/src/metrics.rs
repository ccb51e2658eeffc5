//! Prometheus metrics: requests and latency by route and status, component instantiations,
//! traps, deadline hits, memory peaks and the response cache. Served as text on `GET /metrics`.

use std::sync::{LazyLock, Mutex};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    instantiations: IntCounterVec,
    traps: IntCounterVec,
    deadlines: IntCounterVec,
    jobs: IntCounterVec,
    response_cache: IntCounterVec,
    memory_peaks: IntGaugeVec,
    /// Makes raising a memory peak (read, compare, set) one step between concurrent calls.
    memory_peak_raise: Mutex<()>,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new();
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "nexuma_http_request_duration_seconds",
            "HTTP request latency",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["method", "route", "status"],
    )
    .expect("static metric definition");
    registry
        .register(Box::new(latency.clone()))
        .expect("metric registered once");
    let memory_peaks = IntGaugeVec::new(
        Opts::new(
            "nexuma_component_memory_peak_bytes",
            "Largest linear memory one instance of the component grew to since the process started, in bytes \
             (compare with COMPONENT_MEMORY_MB)",
        ),
        &["component"],
    )
    .expect("static metric definition");
    registry
        .register(Box::new(memory_peaks.clone()))
        .expect("metric registered once");
    Metrics {
        requests: counter(
            &registry,
            "nexuma_http_requests_total",
            "HTTP requests answered",
            &["method", "route", "status"],
        ),
        instantiations: counter(
            &registry,
            "nexuma_component_instantiations_total",
            "Component instances created",
            &["component"],
        ),
        traps: counter(
            &registry,
            "nexuma_component_traps_total",
            "Component calls that trapped",
            &["component"],
        ),
        deadlines: counter(
            &registry,
            "nexuma_component_deadline_hits_total",
            "Component calls cut at their deadline",
            &["component"],
        ),
        jobs: counter(
            &registry,
            "nexuma_job_runs_total",
            "Background job ticks run on this replica",
            &["component", "job", "outcome"],
        ),
        response_cache: counter(
            &registry,
            "nexuma_response_cache_total",
            "Response cache lookups and stores: hit (answered from the cache), stale (a kept answer \
             retired because what it depends on changed or it expired), kept (an answer stored)",
            &["outcome"],
        ),
        latency,
        memory_peaks,
        memory_peak_raise: Mutex::new(()),
        registry,
    }
});

pub fn request(method: &str, route: &str, status: u16, seconds: f64) {
    let status = status.to_string();
    let labels = [method, route, status.as_str()];
    METRICS.requests.with_label_values(&labels).inc();
    METRICS.latency.with_label_values(&labels).observe(seconds);
}

pub fn instantiation(component: &str) {
    METRICS.instantiations.with_label_values(&[component]).inc();
}

pub fn response_cache(outcome: &str) {
    METRICS.response_cache.with_label_values(&[outcome]).inc();
}

pub fn trap(component: &str) {
    METRICS.traps.with_label_values(&[component]).inc();
}

pub fn deadline_hit(component: &str) {
    METRICS.deadlines.with_label_values(&[component]).inc();
}

/// Raises the component's memory peak to `bytes` when that is higher; the gauge never falls.
pub fn memory_peak(component: &str, bytes: usize) {
    // Zero: no memory was ever created (the instance did not start), nothing to say.
    if bytes == 0 {
        return;
    }
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    let gauge = METRICS.memory_peaks.with_label_values(&[component]);
    // Once warm, calls rarely set a new peak: only those take the lock.
    if bytes <= gauge.get() {
        return;
    }
    let _raising = METRICS
        .memory_peak_raise
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if bytes > gauge.get() {
        gauge.set(bytes);
    }
}

pub fn job_run(component: &str, job: &str, outcome: &str) {
    METRICS
        .jobs
        .with_label_values(&[component, job, outcome])
        .inc();
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&METRICS.registry.gather(), &mut out) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

/// What `/metrics` answers a request under `access`.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    Serve,
    /// No or a wrong bearer token: 401.
    Unauthorized,
    /// Production without `METRICS_TOKEN`: 404, as if the route did not exist.
    Hidden,
}

pub fn gate(access: &crate::config::MetricsAccess, headers: &http::HeaderMap) -> Gate {
    use crate::config::MetricsAccess;
    match access {
        MetricsAccess::Open => Gate::Serve,
        MetricsAccess::Hidden => Gate::Hidden,
        MetricsAccess::Bearer(token) => {
            let presented = crate::auth::bearer(headers).unwrap_or("");
            if same_secret(presented, token) {
                Gate::Serve
            } else {
                Gate::Unauthorized
            }
        }
    }
}

/// Compares the SHA-256 digests in constant time, so the time taken says nothing about how
/// much of the token was right (nor its length).
fn same_secret(presented: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    bool::from(a[..].ct_eq(&b[..]))
}

/// One line at start saying who may read `/metrics` and how to change it.
pub fn announce(access: &crate::config::MetricsAccess) {
    use crate::config::MetricsAccess;
    match access {
        MetricsAccess::Open => tracing::info!("/metrics is open (development)"),
        MetricsAccess::Bearer(_) => {
            tracing::info!("/metrics requires Authorization: Bearer <METRICS_TOKEN>")
        }
        MetricsAccess::Hidden => tracing::info!(
            "/metrics is off in production (404): set METRICS_TOKEN and scrape with \
             Authorization: Bearer <token> to enable it"
        ),
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;
    use crate::config::MetricsAccess;

    #[test]
    fn only_the_exact_bearer_token_opens_metrics() {
        let access = MetricsAccess::Bearer("s3cret".into());
        let mut headers = http::HeaderMap::new();
        assert_eq!(gate(&access, &headers), Gate::Unauthorized);
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer s3cre".parse().expect("hv"),
        );
        assert_eq!(gate(&access, &headers), Gate::Unauthorized);
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer s3cret".parse().expect("hv"),
        );
        assert_eq!(gate(&access, &headers), Gate::Serve);
        assert_eq!(gate(&MetricsAccess::Hidden, &headers), Gate::Hidden);
    }
}
