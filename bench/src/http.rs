//! The HTTP half for one backend: start the Core, register a user, load three routes in turn.

use crate::child::{Backend, Core, Setup};
use crate::cpu::{self, Snapshot};
use crate::load::{self, Outcome, Plan};
use crate::report::Section;
use crate::settings::Settings;

/// The routes measured, in order: (path, needs the bearer token, what it exercises).
pub const ROUTES: [(&str, bool, &str); 4] = [
    (
        "/health",
        false,
        "host only: no component (pings the database and key-value store)",
    ),
    (
        "/test/echo",
        false,
        "fresh probe component instance, no I/O",
    ),
    (
        "/test/whoami",
        true,
        "host checks the JWT and the account's standing now (its copy in the key-value store), \
         then a fresh probe component instance, no I/O",
    ),
    (
        "/me",
        true,
        "host checks the JWT, then a fresh auth component instance reads the user (one SELECT)",
    ),
];

pub struct RouteFigures {
    pub path: &'static str,
    pub what: &'static str,
    pub outcome: Outcome,
}

/// One backend's figures, and how much CPU other processes used meanwhile.
pub struct HttpRun {
    pub routes: Vec<RouteFigures>,
    /// Average vCPUs used outside `nexuma-bench` and its `nexuma` child, start to stop.
    pub others_cpu: Option<f64>,
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<HttpRun> {
    let before = Snapshot::take();
    match measure(settings, &backend).await {
        Ok(routes) => {
            let others_cpu = before
                .zip(Snapshot::take())
                .and_then(|(before, after)| after.others_since(&before, cpu::cpus()));
            Section::Done(HttpRun { routes, others_cpu })
        }
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<Vec<RouteFigures>> {
    let setup = Setup {
        components: &["auth", "probe"],
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let result = load_routes(settings, &core).await;
    // Stopped (and so waited for) before the caller's second CPU snapshot.
    core.stop().await;
    result
}

async fn load_routes(settings: &Settings, core: &Core) -> anyhow::Result<Vec<RouteFigures>> {
    let token = core.register().await?;
    let plan = Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections: settings.connections,
    };
    let mut figures = Vec::new();
    for (path, authenticated, what) in ROUTES {
        let bearer = authenticated.then_some(token.as_str());
        let outcome = load::run(&core.target(path, bearer), &plan).await?;
        eprintln!(
            "   GET {path:<11} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  errors {}",
            outcome.per_sec,
            crate::stats::format_us(outcome.latency.p50_us),
            crate::stats::format_us(outcome.latency.p99_us),
            outcome.errors,
        );
        if let Some(e) = &outcome.first_error {
            eprintln!("     first error: {e}");
        }
        figures.push(RouteFigures {
            path,
            what,
            outcome,
        });
    }
    Ok(figures)
}
