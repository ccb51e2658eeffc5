//! The HTTP half for one backend: start the Core, register a user, load three routes in turn.

use anyhow::Context;

use crate::child::{Backend, Core, Setup};
use crate::cpu::{self, Snapshot};
use crate::load::{self, Outcome, Plan};
use crate::memory::Rss;
use crate::report::Section;
use crate::settings::Settings;

/// What a route's requests carry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    None,
    /// The registered user's access token.
    Token,
    /// That token with its payload altered: the host computes the signature and finds it
    /// wrong, so the request pays the JWT check but never reaches the account check.
    ForgedToken,
}

/// The routes measured, in order: (path, credential, what it exercises).
pub const ROUTES: [(&str, Credential, &str); 5] = [
    (
        "/health",
        Credential::None,
        "host only: no component (pings the database and key-value store)",
    ),
    (
        "/test/echo",
        Credential::None,
        "fresh probe component instance, no I/O",
    ),
    (
        FORGED_PATH,
        Credential::ForgedToken,
        "public route with a token whose signature fails: the JWT check without the account \
         check, then a fresh probe instance, no I/O",
    ),
    (
        WHOAMI_PATH,
        Credential::Token,
        "user route: the JWT check and the account's standing now (its copy in the key-value \
         store), then a fresh probe instance, no I/O",
    ),
    (
        "/me",
        Credential::Token,
        "host checks the JWT and the account, then a fresh auth component instance reads the \
         user (one SELECT)",
    ),
];

pub const FORGED_PATH: &str = "/test/maybe-whoami";
pub const WHOAMI_PATH: &str = "/test/whoami";
/// The two routes whose difference is the account check are loaded this many times each,
/// alternately, and the median kept.
const ACCOUNT_CHECK_ROUNDS: usize = 3;

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
    /// The Core's memory once every route was loaded.
    pub rss: Option<Rss>,
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<HttpRun> {
    let before = Snapshot::take();
    match measure(settings, &backend).await {
        Ok((routes, rss)) => {
            let others_cpu = before
                .zip(Snapshot::take())
                .and_then(|(before, after)| after.others_since(&before, cpu::cpus()));
            Section::Done(HttpRun {
                routes,
                others_cpu,
                rss,
            })
        }
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(
    settings: &Settings,
    backend: &Backend,
) -> anyhow::Result<(Vec<RouteFigures>, Option<Rss>)> {
    let setup = Setup {
        components: &["auth", "probe"],
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let result = load_routes(settings, &core).await;
    let rss = Rss::of(&core);
    // Stopped (and so waited for) before the caller's second CPU snapshot.
    core.stop().await;
    Ok((result?, rss))
}

async fn load_routes(settings: &Settings, core: &Core) -> anyhow::Result<Vec<RouteFigures>> {
    let token = core.register().await?;
    let forged = forge(&token);
    let plan = Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections: settings.connections,
    };
    let mut figures = Vec::new();
    let mut whoami = None;
    for (path, credential, what) in ROUTES {
        let bearer = match credential {
            Credential::None => None,
            Credential::Token => Some(token.as_str()),
            Credential::ForgedToken => Some(forged.as_str()),
        };
        let target = core.target(path, bearer);
        let outcome = match path {
            FORGED_PATH => {
                let checked = core.target(WHOAMI_PATH, Some(&token));
                let (forged, checked) = alternate(&target, &checked, &plan).await?;
                whoami = Some(checked);
                forged
            }
            WHOAMI_PATH => whoami
                .take()
                .context("the pair is measured at its first route")?,
            _ => load::run(&target, &plan).await?,
        };
        eprintln!(
            "   GET {path:<19} {:>9.0} req/s  p50 {:>9}  p99 {:>9}  errors {}",
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

/// Loads `a` and `b` alternately, [`ACCOUNT_CHECK_ROUNDS`] times each, and keeps each one's
/// run of median throughput: a drift of the machine over the rounds hits both alike.
async fn alternate(
    a: &load::Target,
    b: &load::Target,
    plan: &Plan,
) -> anyhow::Result<(Outcome, Outcome)> {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for _ in 0..ACCOUNT_CHECK_ROUNDS {
        ra.push(load::run(a, plan).await?);
        rb.push(load::run(b, plan).await?);
    }
    Ok((median(ra), median(rb)))
}

fn median(mut rounds: Vec<Outcome>) -> Outcome {
    rounds.sort_by(|x, y| x.per_sec.total_cmp(&y.per_sec));
    let middle = rounds.len() / 2;
    rounds.swap_remove(middle)
}

/// The token with one character of its payload changed (still valid base64url), so its
/// signature no longer matches.
fn forge(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if let Some(payload) = parts.get_mut(1) {
        let first = payload.remove(0);
        payload.insert(0, if first == 'e' { 'f' } else { 'e' });
    }
    parts.join(".")
}
