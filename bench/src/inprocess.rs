//! The in-process figure: one `LoadedComponent::handle` of the probe's `GET /test/echo` —
//! a fresh store and instance, the call, and the drop — through the library, no HTTP.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use nexuma_host::app::capabilities;
use nexuma_host::bindings::Request;
use nexuma_host::config::Config;
use nexuma_host::iface::api::Source;
use nexuma_host::runtime::{LoadedComponent, Runtime};

use crate::cpu::{self, Snapshot};
use crate::settings::{Settings, TempDir, JWT_REFRESH_SECRET, JWT_SECRET};
use crate::stats::{Latencies, Summary};

const ROUTE: &str = "/test/echo";

pub struct Figures {
    pub calls: u32,
    pub latency: Summary,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Average vCPUs used by other processes during the timed calls.
    pub others_cpu: Option<f64>,
}

pub async fn measure(settings: &Settings) -> anyhow::Result<Figures> {
    let dir = TempDir::new("inprocess")?;
    let database_url = format!("sqlite://{}", dir.path().join("nexuma.db").display());
    let data_dir = dir.path().display().to_string();
    let cache_dir = settings.cache_dir().display().to_string();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", "memory://"),
        ("DATA_DIR", data_dir.as_str()),
        ("COMPONENT_CACHE_DIR", cache_dir.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET),
    ];
    let config = Config::from_env(&env).context("invalid configuration")?;
    let caps = Arc::new(capabilities(&config).await?);
    let runtime = Runtime::new(config.limits.clone(), config.cache_dir.clone())
        .context("cannot create the component runtime")?;
    let path = settings.wasm("probe");
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let component = LoadedComponent::load(&runtime, &caps, "probe", bytes)
        .await
        .context("cannot load the probe component")?;
    if !component
        .routes
        .iter()
        .any(|r| r.method == "GET" && r.path == ROUTE)
    {
        bail!("the probe component does not declare GET {ROUTE}");
    }

    let request_id: Arc<str> = Arc::from("bench-in-process");
    let request = echo_request(&request_id);
    let mut latencies = Latencies::new()?;
    let (mut errors, mut first_error) = (0u64, None);
    let total = settings.calls_warmup + settings.calls;
    let mut before = None;
    for i in 0..total {
        let started = Instant::now();
        let result = component
            .handle(&caps, Arc::clone(&request_id), Source::HOST, &request)
            .await;
        let elapsed = started.elapsed();
        let failure = match result {
            Ok(answer) if answer.response.status == 200 => None,
            Ok(answer) => Some(format!("answered {}", answer.response.status)),
            Err(e) => Some(e.to_string()),
        };
        if i < settings.calls_warmup {
            continue;
        }
        if i == settings.calls_warmup {
            before = Snapshot::take();
        }
        match failure {
            None => latencies.record(elapsed),
            Some(message) => {
                errors += 1;
                first_error.get_or_insert(message);
            }
        }
    }
    let figures = Figures {
        calls: settings.calls,
        latency: latencies.summary(),
        errors,
        first_error,
        others_cpu: before
            .zip(Snapshot::take())
            .and_then(|(before, after)| after.others_since(&before, cpu::cpus())),
    };
    eprintln!(
        "   p50 {}  p99 {}  mean {}  errors {}",
        crate::stats::format_us(figures.latency.p50_us),
        crate::stats::format_us(figures.latency.p99_us),
        crate::stats::format_us(figures.latency.mean_us),
        figures.errors
    );
    Ok(figures)
}

/// The request the server would build for `GET /test/echo` from a plain client.
fn echo_request(request_id: &str) -> Request {
    Request {
        request_id: request_id.to_string(),
        method: "GET".into(),
        route: ROUTE.into(),
        path: ROUTE.into(),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![
            ("host".into(), "127.0.0.1:3000".into()),
            ("accept".into(), "*/*".into()),
        ],
        body: Vec::new(),
        caller: None,
        remote_addr: "127.0.0.1".into(),
    }
}
