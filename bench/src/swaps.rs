//! Component swaps (issue 17): three Core replicas on one PostgreSQL database and one Redis
//! prefix; an operator activates the other build of the `versioned` test component through the
//! first replica's admin API, and every replica must serve it. Measured: how long until every
//! replica answers the new version (20 swaps), and the route's throughput and p99 under load with
//! a swap every 500 ms against the same load without swaps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use bytes::Bytes;
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{Method, Request, StatusCode};
use http_body_util::Full;

use crate::child::{Backend, Core, Setup};
use crate::load::{self, Plan, Target};
use crate::report::Section;
use crate::settings::Settings;

/// Replicas started, all on one database and key-value prefix.
pub const REPLICAS: usize = 3;
/// Timed swaps, alternating the two builds.
pub const SWAPS: usize = 20;
/// Load connections, spread over the replicas in turn.
pub const CONNECTIONS: usize = 16;
/// How often a swap is made during the loaded run.
pub const SWAP_EVERY: Duration = Duration::from_millis(500);
/// How often each replica is asked which version it serves while a swap is timed.
pub const POLL_EVERY: Duration = Duration::from_millis(5);
/// The route both builds answer, with `{"version": "1"}` or `{"version": "2"}`.
pub const ROUTE: &str = "/test/version";

const COMPONENT: &str = "versioned";
const NEXT: &str = "versioned_next";
/// Longest a timed swap may take before the run fails (the goal is 1 s).
const SWAP_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between timed swaps, so the next one starts from a settled set.
pub const SETTLE: Duration = Duration::from_millis(250);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One timed swap.
#[derive(Clone, Debug)]
pub struct Swap {
    /// The activate call's answer (that replica swaps before answering).
    pub answered: Duration,
    /// Per replica, from sending the activate call to its first answer with the new version.
    pub replicas: Vec<Duration>,
}

impl Swap {
    /// Until every replica served the new version.
    pub fn all(&self) -> Duration {
        self.replicas.iter().copied().max().unwrap_or_default()
    }
}

/// The p50 and max of some durations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spread {
    pub p50: Duration,
    pub max: Duration,
}

/// Nearest-rank p50 (of 20 times, the 10th fastest) and the max; zero for none.
pub fn spread(times: impl IntoIterator<Item = Duration>) -> Spread {
    let mut sorted: Vec<Duration> = times.into_iter().collect();
    if sorted.is_empty() {
        return Spread::default();
    }
    sorted.sort();
    let rank = sorted.len().div_ceil(2);
    Spread {
        p50: sorted[rank - 1],
        max: sorted[sorted.len() - 1],
    }
}

pub struct SwapsRun {
    pub swaps: Vec<Swap>,
    /// The load without swaps, then with a swap every [`SWAP_EVERY`].
    pub quiet: load::Outcome,
    pub swapping: load::Outcome,
    /// Activations made during the loaded run (warm-up included), each answered 200 with the
    /// version active, and how long their answers took.
    pub swaps_under_load: usize,
    pub answered_under_load: Spread,
    /// After the loaded run, until every replica served the last activated version.
    pub settled_after: Duration,
}

impl SwapsRun {
    /// Replica `i`'s times over the timed swaps.
    pub fn replica(&self, i: usize) -> Spread {
        spread(self.swaps.iter().filter_map(|s| s.replicas.get(i).copied()))
    }

    /// Until every replica served, over the timed swaps.
    pub fn all(&self) -> Spread {
        spread(self.swaps.iter().map(Swap::all))
    }

    pub fn answered(&self) -> Spread {
        spread(self.swaps.iter().map(|s| s.answered))
    }
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<SwapsRun> {
    match measure(settings, &backend).await {
        Ok(run) => Section::Done(run),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<SwapsRun> {
    let setup = Setup {
        components: &["auth", COMPONENT],
        env: Vec::new(),
    };
    let first = Core::start(settings, backend, &setup).await?;
    let mut replicas = vec![first];
    let mut result = Ok(());
    for _ in 1..REPLICAS {
        match Core::replica_of(settings, &replicas[0]).await {
            Ok(core) => replicas.push(core),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let result = match result {
        Ok(()) => swap_and_load(settings, &replicas).await,
        Err(e) => Err(e),
    };
    // The first owns the shared database and prefix: it goes last.
    while let Some(core) = replicas.pop() {
        core.stop().await;
    }
    result
}

/// The two builds' hashes, as the Core stores them.
struct Hashes {
    one: String,
    two: String,
}

impl Hashes {
    fn of(&self, version: &str) -> &str {
        if version == "1" {
            &self.one
        } else {
            &self.two
        }
    }
}

fn other(version: &'static str) -> &'static str {
    if version == "1" {
        "2"
    } else {
        "1"
    }
}

async fn swap_and_load(settings: &Settings, replicas: &[Core]) -> anyhow::Result<SwapsRun> {
    let admin = replicas[0].admin_token(settings).await?;
    for core in replicas {
        ensure!(
            version(core).await? == "1",
            "replica {} does not serve the factory version \"1\" at start",
            core.addr
        );
    }
    let hashes = upload_next(settings, &replicas[0], &admin).await?;
    eprintln!(
        "   {REPLICAS} replicas; versions: \"1\" {}…, \"2\" {}…",
        &hashes.one[..12],
        &hashes.two[..12]
    );

    let mut swaps = Vec::with_capacity(SWAPS);
    let mut serving = "1";
    for _ in 0..SWAPS {
        let to = other(serving);
        let swap = timed_swap(replicas, &admin, &hashes, to).await?;
        serving = to;
        swaps.push(swap);
        tokio::time::sleep(SETTLE).await;
    }
    let times = spread(swaps.iter().map(Swap::all));
    eprintln!(
        "   {SWAPS} swaps: every replica serving after p50 {:.1} ms, max {:.1} ms",
        ms(times.p50),
        ms(times.max)
    );

    let plan = Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections: CONNECTIONS,
    };
    let target = load_target(replicas);
    eprintln!("   GET {ROUTE}, {CONNECTIONS} connections over {REPLICAS} replicas, no swaps");
    let quiet = load::run(&target, &plan).await?;
    load::print_outcome(&quiet);

    eprintln!(
        "   the same with a swap every {} ms",
        SWAP_EVERY.as_millis()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = tokio::spawn(swap_repeatedly(
        replicas[0].addr,
        admin.clone(),
        [hashes.one.clone(), hashes.two.clone()],
        serving,
        Arc::clone(&stop),
    ));
    let swapping = load::run(&target, &plan).await;
    stop.store(true, Ordering::Relaxed);
    let (under_load, last) = swapper.await.context("the swapping task panicked")??;
    let swaps_under_load = under_load.len();
    let answered_under_load = spread(under_load);
    let swapping = swapping?;
    load::print_outcome(&swapping);
    let settled = Instant::now();
    for core in replicas {
        wait_for(core, last, settled).await?;
    }
    let settled_after = settled.elapsed();
    eprintln!(
        "     {swaps_under_load} swaps made, answered after p50 {:.1} ms, max {:.1} ms; every \
         replica served the last one {:.1} ms after the load ended",
        ms(answered_under_load.p50),
        ms(answered_under_load.max),
        ms(settled_after)
    );
    Ok(SwapsRun {
        swaps,
        quiet,
        swapping,
        swaps_under_load,
        answered_under_load,
        settled_after,
    })
}

/// Uploads `versioned_next.wasm` as a version of `versioned`, not activated, through `core`;
/// both hashes, checked against what the Core lists.
async fn upload_next(settings: &Settings, core: &Core, admin: &str) -> anyhow::Result<Hashes> {
    let path = settings.wasm(NEXT);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let upload_path = format!("/admin/components?name={COMPONENT}");
    let (status, body) = send(
        core.addr,
        Method::POST,
        &upload_path,
        admin,
        "application/wasm",
        Bytes::from(bytes),
    )
    .await?;
    ensure!(
        status == StatusCode::CREATED,
        "POST {upload_path} answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let uploaded: serde_json::Value =
        serde_json::from_slice(&body).context("the upload's answer is not JSON")?;
    let two = uploaded["hash"]
        .as_str()
        .context("the upload's answer has no hash")?
        .to_string();
    ensure!(
        uploaded["active"] == false,
        "the uploaded version is active already: {uploaded}"
    );
    let list = crate::api::call(
        core,
        Method::GET,
        "/admin/components",
        Some(admin),
        None,
        200,
    )
    .await?;
    let entry = list["components"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == COMPONENT))
        .with_context(|| format!("GET /admin/components does not list {COMPONENT}"))?;
    let one = entry["active"]["hash"]
        .as_str()
        .context("no active version of versioned")?
        .to_string();
    ensure!(
        entry["active"]["factory"] == true && one != two,
        "the active version of {COMPONENT} is not the factory one: {entry}"
    );
    Ok(Hashes { one, two })
}

/// Activates `to` through the first replica and times until each replica answers it.
async fn timed_swap(
    replicas: &[Core],
    admin: &str,
    hashes: &Hashes,
    to: &'static str,
) -> anyhow::Result<Swap> {
    let first = replicas[0].addr;
    // Each poller opens its connection before the clock starts.
    let mut pollers = Vec::with_capacity(replicas.len());
    for core in replicas {
        pollers.push(Poller::open(core.addr).await?);
    }
    let hash = hashes.of(to).to_string();
    let start = Instant::now();
    let polls: Vec<_> = pollers
        .into_iter()
        .map(|p| tokio::spawn(p.until(to, start)))
        .collect();
    let answered = match activate(first, admin, &hash).await {
        Ok(answered) => answered,
        Err(e) => {
            polls.iter().for_each(tokio::task::JoinHandle::abort);
            return Err(e);
        }
    };
    let mut times = Vec::with_capacity(polls.len());
    for poll in polls {
        times.push(poll.await.context("a poller panicked")?);
    }
    let replicas = times.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Swap { answered, replicas })
}

/// `POST /admin/components/versioned/activate` of `hash` through `addr`; the answer's time.
/// It must be 200 with that hash active.
async fn activate(addr: std::net::SocketAddr, admin: &str, hash: &str) -> anyhow::Result<Duration> {
    let path = format!("/admin/components/{COMPONENT}/activate");
    let body = serde_json::json!({ "hash": hash }).to_string();
    let sent = Instant::now();
    let (status, answer) = send(
        addr,
        Method::POST,
        &path,
        admin,
        "application/json",
        Bytes::from(body),
    )
    .await?;
    let took = sent.elapsed();
    ensure!(
        status == StatusCode::OK,
        "POST {path} answered {status}: {}",
        String::from_utf8_lossy(&answer)
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&answer).with_context(|| format!("POST {path}: not JSON"))?;
    ensure!(
        answer["active"]["hash"] == hash,
        "POST {path}: {hash} is not the active version after it: {answer}"
    );
    Ok(took)
}

/// One request with a body of `content_type` and the admin's token, on a connection of its own.
async fn send(
    addr: std::net::SocketAddr,
    method: Method,
    path: &str,
    admin: &str,
    content_type: &'static str,
    body: Bytes,
) -> anyhow::Result<(StatusCode, Bytes)> {
    let request = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(HOST, HeaderValue::from_str(&addr.to_string())?)
        .header(AUTHORIZATION, format!("Bearer {admin}"))
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .with_context(|| format!("cannot build {method} {path}"))?;
    let response = tokio::time::timeout(CALL_TIMEOUT, async {
        let mut conn = load::connect(addr).await?;
        load::exchange(&mut conn, request).await
    })
    .await
    .map_err(|_| anyhow::anyhow!("{method} {path}: no answer within {CALL_TIMEOUT:?}"))?
    .with_context(|| format!("{method} {path}"))?;
    Ok((response.status(), response.into_body()))
}

/// Asks one replica which version it serves, on its own keep-alive connection.
struct Poller {
    addr: std::net::SocketAddr,
    target: Target,
    conn: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Poller {
    async fn open(addr: std::net::SocketAddr) -> anyhow::Result<Poller> {
        let target = Target {
            addr,
            path: ROUTE.into(),
            bearer: None,
            node_key: None,
            vary: None,
            spread: Vec::new(),
            check: None,
        };
        let conn = load::connect(addr).await?;
        Ok(Poller { addr, target, conn })
    }

    /// The version served now: "1" or "2", anything else is an error.
    async fn ask(&mut self) -> anyhow::Result<&'static str> {
        if self.conn.is_closed() {
            self.conn = load::connect(self.addr).await?;
        }
        let request = load::build(&self.target, Method::GET, None)?;
        let response = tokio::time::timeout(CALL_TIMEOUT, load::exchange(&mut self.conn, request))
            .await
            .map_err(|_| anyhow::anyhow!("{}: no answer within {CALL_TIMEOUT:?}", self.addr))??;
        parse_version(response.status(), response.body())
            .map_err(|e| anyhow::anyhow!("GET {ROUTE} on {}: {e}", self.addr))
    }

    /// Polls every [`POLL_EVERY`] until the answer is `want`; the time since `start`.
    async fn until(mut self, want: &'static str, start: Instant) -> anyhow::Result<Duration> {
        loop {
            if self.ask().await? == want {
                return Ok(start.elapsed());
            }
            if start.elapsed() > SWAP_DEADLINE {
                bail!(
                    "{} still does not serve version {want} {SWAP_DEADLINE:?} after the activation",
                    self.addr
                );
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// The version a `GET /test/version` answer names: only 200 with `{"version": "1"}` or
/// `{"version": "2"}` is an answer.
fn parse_version(status: StatusCode, body: &[u8]) -> Result<&'static str, String> {
    if status != StatusCode::OK {
        return Err(format!("{status}: {}", String::from_utf8_lossy(body)));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| format!("200 but not JSON: {}", String::from_utf8_lossy(body)))?;
    match value["version"].as_str() {
        Some("1") => Ok("1"),
        Some("2") => Ok("2"),
        _ => Err(format!(
            "200 but not version \"1\" or \"2\": {}",
            String::from_utf8_lossy(body)
        )),
    }
}

async fn version(core: &Core) -> anyhow::Result<&'static str> {
    Poller::open(core.addr).await?.ask().await
}

async fn wait_for(core: &Core, want: &'static str, start: Instant) -> anyhow::Result<()> {
    Poller::open(core.addr)
        .await?
        .until(want, start)
        .await
        .map(|_| ())
}

/// `GET /test/version` spread over the replicas, each answer checked.
fn load_target(replicas: &[Core]) -> Target {
    Target {
        spread: replicas.iter().map(|c| c.addr).collect(),
        check: Some(Arc::new(|status, body| {
            parse_version(status, body).map(|_| ())
        })),
        ..replicas[0].target(ROUTE, None)
    }
}

/// Activates the other version every [`SWAP_EVERY`] through `addr` (or as soon as the previous
/// activation answered, when that took longer) until `stop`; each activation's answer time and
/// the version active after the last.
async fn swap_repeatedly(
    addr: std::net::SocketAddr,
    admin: String,
    hashes: [String; 2],
    mut serving: &'static str,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(Vec<Duration>, &'static str)> {
    let mut tick = tokio::time::interval(SWAP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut answered = Vec::new();
    loop {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            return Ok((answered, serving));
        }
        let to = other(serving);
        let hash = if to == "1" { &hashes[0] } else { &hashes[1] };
        answered.push(activate(addr, &admin, hash).await?);
        serving = to;
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn p50_is_the_nearest_rank_and_max_the_slowest() {
        let times: Vec<Duration> = (1..=20).rev().map(|n| ms(n * 10)).collect();
        assert_eq!(
            spread(times),
            Spread {
                p50: ms(100),
                max: ms(200)
            }
        );
        assert_eq!(
            spread([ms(7), ms(3), ms(5)]),
            Spread {
                p50: ms(5),
                max: ms(7)
            }
        );
        assert_eq!(
            spread([ms(4)]),
            Spread {
                p50: ms(4),
                max: ms(4)
            }
        );
        assert_eq!(spread(Vec::new()), Spread::default());
    }

    #[test]
    fn a_swap_is_done_when_the_slowest_replica_is() {
        let run = |replicas: Vec<Duration>| Swap {
            answered: ms(30),
            replicas,
        };
        let swaps = [
            run(vec![ms(30), ms(410), ms(250)]),
            run(vec![ms(20), ms(90), ms(520)]),
        ];
        assert_eq!(swaps[0].all(), ms(410));
        assert_eq!(
            spread(swaps.iter().map(Swap::all)),
            Spread {
                p50: ms(410),
                max: ms(520)
            }
        );
    }

    #[test]
    fn only_version_one_or_two_with_200_is_an_answer() {
        assert_eq!(
            parse_version(StatusCode::OK, br#"{"version":"1"}"#),
            Ok("1")
        );
        assert_eq!(
            parse_version(StatusCode::OK, br#"{"version":"2"}"#),
            Ok("2")
        );
        assert!(parse_version(StatusCode::OK, br#"{"version":"3"}"#).is_err());
        assert!(parse_version(StatusCode::OK, b"2").is_err());
        assert!(parse_version(StatusCode::NO_CONTENT, br#"{"version":"1"}"#).is_err());
        assert!(parse_version(StatusCode::SERVICE_UNAVAILABLE, b"{}").is_err());
    }
}
