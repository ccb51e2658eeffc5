//! `GET /sub/:uuid`, the public subscription VPN clients poll, at the size of its issue on the
//! servers backend (PostgreSQL + Redis): [`USERS`] subscribers and [`NODES`] nodes of three
//! protocols, in each format, warm and cold.
//!
//! The `subscriptions` component lets the host keep its answers: the host's in-process response
//! cache keys an answer by route, path and query, and the values of the request headers the
//! format rules read (the User-Agent by default), and answers a repeat itself, without running
//! the component, while the content epoch in Redis still has the value the answer was built
//! under (one Redis GET) and for at most 10 minutes. A miss runs the component: the epoch (a
//! Redis GET), the link's view (one PostgreSQL query), the catalog of nodes, format rules and
//! settings (a Redis GET), the render; the host keeps the answer.
//!
//! - **warm**: [`WARM_LINKS`] links are fetched once with [`WARM_AGENT`], then loaded, rotating
//!   through them with that same User-Agent: every request should be a host cache hit.
//! - **cold**: all [`USERS`] links in rotation, each request with a User-Agent of its own
//!   ([`COLD_AGENT`] and the request's number): every request is a miss.
//!
//! The host's `nexuma_response_cache_total` counters (`/metrics`) are read around each run, so
//! the report shows that a warm run hit and a cold run missed, rather than assuming it.

mod answer;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, ETAG};
use http::{Method, Response};
use serde_json::{json, Value};
use sqlx::Connection;
use tokio::task::JoinSet;

use crate::api::{call, CALL_TIMEOUT};
use crate::child::{Backend, CacheCounts, Core, LoggedErrors, Setup};
use crate::cpu::{self, Snapshot, Split, Usage};
use crate::load::{self, Outcome, Plan, Target, Varied, Vary};
use crate::memory::Rss;
use crate::report::Section;
use crate::seed;
use crate::settings::Settings;

/// Subscribers: each an active user with an active subscription and one enabled link.
pub const USERS: u64 = 10_000;
/// Nodes, each with one inbound of every protocol in [`answer::PROTOCOLS`].
pub const NODES: usize = 10;
/// Entries in every answer: one per inbound of every node.
pub const ENTRIES: usize = NODES * answer::PROTOCOLS.len();
/// Links cached before a warm run and loaded in it.
pub const WARM_LINKS: usize = 1_000;
pub const WARM_AGENT: &str = "nexuma-bench/warm";
/// A cold request's query parameter, valued with the request's number.
pub const COLD_QUERY: &str = "n";
/// The start of a cold request's User-Agent; the request's number follows.
pub const COLD_AGENT: &str = "nexuma-bench/cold-";
/// Matches none of the default format rules, as the two above: `/sub/:uuid` answers v2ray.
const CHECK_AGENT: &str = "nexuma-bench/check";
/// Concurrent fetches while caching the warm links.
const CACHING_CONNECTIONS: usize = 8;
const COMPONENTS: [&str; 4] = ["auth", "billing", "nodes", "subscriptions"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    V2ray,
    Clash,
    Singbox,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::V2ray, Format::Clash, Format::Singbox];

    pub fn name(self) -> &'static str {
        match self {
            Format::V2ray => "v2ray",
            Format::Clash => "Clash (mihomo)",
            Format::Singbox => "sing-box",
        }
    }

    /// The route as the report names it.
    pub fn route(self) -> &'static str {
        match self {
            Format::V2ray => "/sub/:uuid",
            Format::Clash => "/sub/:uuid/clash",
            Format::Singbox => "/sub/:uuid/singbox",
        }
    }

    /// The address that asks for this format: v2ray is what the bare route answers clients no
    /// rule recognises; the others are forced by the path.
    pub fn path(self, uuid: &str) -> String {
        match self {
            Format::V2ray => format!("/sub/{uuid}"),
            Format::Clash => format!("/sub/{uuid}/clash"),
            Format::Singbox => format!("/sub/{uuid}/singbox"),
        }
    }

    /// What the answer's `content-type` starts with.
    fn content_type(self) -> &'static str {
        match self {
            Format::V2ray => "text/plain",
            Format::Clash => "text/yaml",
            Format::Singbox => "application/json",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Warm,
    Cold,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Warm => "warm",
            Mode::Cold => "cold",
        }
    }
}

pub struct SubscriptionsRun {
    pub formats: Vec<FormatRow>,
    /// Average vCPUs used outside `nexuma-bench` and its `nexuma` child over the whole part.
    pub others_cpu: Option<f64>,
    /// The Core's memory once every format was loaded.
    pub rss: Option<Rss>,
}

pub struct FormatRow {
    pub format: Format,
    /// The figures, or why there are none (e.g. the answer failed its check).
    pub outcome: Result<FormatFigures, String>,
}

pub struct FormatFigures {
    /// The checked answer's body, bytes.
    pub body_bytes: usize,
    pub warm: LoadRun,
    pub cold: LoadRun,
}

impl FormatFigures {
    pub fn run(&self, mode: Mode) -> &LoadRun {
        match mode {
            Mode::Warm => &self.warm,
            Mode::Cold => &self.cold,
        }
    }
}

pub struct LoadRun {
    /// Distinct links requested.
    pub links: usize,
    pub outcome: Outcome,
    /// The host's response-cache counters over the whole run, warm-up included.
    pub cache: Option<CacheCounts>,
    /// Who used the vCPUs over the whole run, warm-up included.
    pub cpu: Option<Usage>,
    /// ERROR lines the Core logged over the whole run, warm-up included.
    pub logged: Option<LoggedErrors>,
}

impl LoadRun {
    /// Host response-cache hits per answer over the run: about 1 when warm, about 0 when cold.
    pub fn hits_per_answer(&self) -> Option<f64> {
        self.per_answer(self.cache?.hits)
    }

    /// Answers the host kept per answer over the run: about 0 when warm, about 1 when cold.
    pub fn kept_per_answer(&self) -> Option<f64> {
        self.per_answer(self.cache?.kept)
    }

    fn per_answer(&self, count: u64) -> Option<f64> {
        (self.outcome.answered > 0).then(|| count as f64 / self.outcome.answered as f64)
    }
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<SubscriptionsRun> {
    let before = Snapshot::take();
    match measure(settings, &backend).await {
        Ok((formats, rss)) => Section::Done(SubscriptionsRun {
            formats,
            rss,
            others_cpu: before
                .zip(Snapshot::take())
                .and_then(|(before, after)| after.others_since(&before, cpu::cpus())),
        }),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(
    settings: &Settings,
    backend: &Backend,
) -> anyhow::Result<(Vec<FormatRow>, Option<Rss>)> {
    let setup = Setup {
        components: &COMPONENTS,
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let result = measure_formats(settings, &core).await;
    let rss = Rss::of(&core);
    core.stop().await;
    Ok((result?, rss))
}

/// Every format in turn; a format's failure is its own row, only a broken set-up ends the part.
async fn measure_formats(settings: &Settings, core: &Core) -> anyhow::Result<Vec<FormatRow>> {
    let links = prepare(core, settings).await?;
    let mut rows = Vec::new();
    for format in Format::ALL {
        eprintln!("   {} ({})", format.name(), format.route());
        let outcome = measure_format(settings, core, &links, format)
            .await
            .map_err(|e| {
                eprintln!("     failed: {e:#}");
                format!("{e:#}")
            });
        rows.push(FormatRow { format, outcome });
    }
    Ok(rows)
}

/// The nodes over the API and the subscribers in PostgreSQL; the links' UUIDs.
async fn prepare(core: &Core, settings: &Settings) -> anyhow::Result<Arc<Vec<String>>> {
    let mut db = core.connect_database("subscriptions").await?;
    let admin = core.admin_token(settings).await?;
    create_nodes(core, &admin).await?;
    let tariff = seed::tariff(&mut db).await?;
    seed::clients(&mut db, &tariff, 1, USERS).await?;
    let uuids: Vec<String> = sqlx::query_scalar("SELECT uuid FROM subscription_links ORDER BY id")
        .fetch_all(&mut db)
        .await
        .context("cannot read the links' UUIDs")?;
    // Closed before the load: the Core's pool is what the database serves meanwhile.
    let _ = db.close().await;
    ensure!(
        uuids.len() as u64 == USERS && uuids.len() >= WARM_LINKS,
        "{} links seeded, {USERS} expected",
        uuids.len()
    );
    Ok(Arc::new(uuids))
}

/// A node made by [`create_nodes`].
pub struct BenchNode {
    pub id: String,
    /// Its agent's key (`x-node-auth-key`).
    pub key: String,
    /// The REALITY private key its VLESS inbound was created with, to send [`node`] again.
    pub reality_private_key: String,
}

/// [`NODES`] nodes of [`node`]'s three inbounds, created over the API, registered as Xray
/// agents, their (still client-less) configs built and confirmed applied, so every answer lists
/// their 30 entries.
pub async fn create_nodes(core: &Core, admin: &str) -> anyhow::Result<Vec<BenchNode>> {
    let mut nodes = Vec::with_capacity(NODES);
    for i in 1..=NODES {
        let keys = call(
            core,
            Method::POST,
            "/admin/nodes/reality-keys",
            Some(admin),
            Some(&json!({})),
            200,
        )
        .await?;
        let private = keys["privateKey"]
            .as_str()
            .context("POST /admin/nodes/reality-keys: no privateKey")?;
        let created = call(
            core,
            Method::POST,
            "/admin/nodes",
            Some(admin),
            Some(&node(i, private)),
            201,
        )
        .await?;
        let id = created["id"].as_str().context("POST /admin/nodes: no id")?;
        nodes.push(BenchNode {
            id: id.to_string(),
            key: register_as_xray(core, admin, id).await?,
            reality_private_key: private.to_string(),
        });
    }
    // The node-change outbox the creations wrote is processed now, before there are clients,
    // so the `revisions` job has nothing left to build while the load runs.
    call(
        core,
        Method::POST,
        "/admin/nodes/sync",
        Some(admin),
        Some(&json!({})),
        200,
    )
    .await?;
    // Exports list only what agents confirmed running, on nodes heard from lately: each node
    // applies its config as an agent does, and, as these agents fall silent after it, the
    // operator's grace for silent nodes is the longest, so every answer keeps its 30 entries.
    for node in &nodes {
        apply_latest(core, &node.key).await?;
    }
    call(
        core,
        Method::PATCH,
        "/admin/subscription-settings",
        Some(admin),
        Some(&json!({ "silentNodeGraceSeconds": 86_400 })),
        200,
    )
    .await?;
    Ok(nodes)
}

/// A call of the private node API as the agent with `key`, which must answer `expected`; its
/// body.
async fn as_agent(
    core: &Core,
    key: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    expected: u16,
) -> anyhow::Result<Bytes> {
    let mut target = core.target(path, None);
    target.node_key = Some(key.to_string());
    let (status, bytes) = load::once(&target, method.clone(), body, CALL_TIMEOUT)
        .await
        .with_context(|| format!("{method} {path}"))?;
    ensure!(
        status.as_u16() == expected,
        "{method} {path} answered {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    Ok(bytes)
}

/// What an agent does with a built config: says it is alive, fetches the latest revision and
/// confirms running it.
async fn apply_latest(core: &Core, key: &str) -> anyhow::Result<()> {
    let heartbeat = json!({ "protocol": 1, "status": "Running", "agentVersion": "bench" });
    as_agent(
        core,
        key,
        Method::POST,
        "/node/heartbeat",
        Some(&heartbeat),
        200,
    )
    .await?;
    let config = as_agent(core, key, Method::GET, "/node/config/latest", None, 200).await?;
    let config: Value =
        serde_json::from_slice(&config).context("GET /node/config/latest: not JSON")?;
    let revision = config["revision"]
        .as_i64()
        .context("GET /node/config/latest: no revision")?;
    let applied = json!({ "revision": revision, "ok": true });
    as_agent(
        core,
        key,
        Method::POST,
        "/node/config/applied",
        Some(&applied),
        204,
    )
    .await?;
    Ok(())
}

/// Registers node `id` as its agent would on Xray, with the capability report that lets its
/// REALITY and gRPC inbounds out (a node whose core never said what it runs holds them back);
/// the node key.
async fn register_as_xray(core: &Core, admin: &str, id: &str) -> anyhow::Result<String> {
    let code = call(
        core,
        Method::POST,
        &format!("/admin/nodes/{id}/registration-code"),
        Some(admin),
        Some(&json!({})),
        201,
    )
    .await?;
    let code = code["code"]
        .as_str()
        .context("POST /admin/nodes/:id/registration-code: no code")?;
    let report = json!({
        "protocol": 1, "code": code, "hostname": "bench", "agentVersion": "bench",
        "coreVersion": "Xray 25.9.11", "coreFlavor": "xray",
        "capabilities": {
            "protocols": ["vless", "vmess", "trojan", "shadowsocks"],
            "transports": ["tcp", "ws", "grpc", "httpupgrade", "xhttp", "kcp"],
            "security": ["none", "tls", "reality"],
            "flows": ["xtls-rprx-vision"],
            "shadowsocksMethods": ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]
        }
    });
    let registered = call(
        core,
        Method::POST,
        "/node/register",
        None,
        Some(&report),
        201,
    )
    .await?;
    let key = registered["key"]
        .as_str()
        .context("POST /node/register: no key")?;
    Ok(key.to_string())
}

/// Node `i`: VLESS REALITY with vision over TCP, VMess over WebSocket with TLS, Trojan over
/// gRPC with TLS — one of each protocol, each rendered by all three formats.
pub fn node(i: usize, reality_private_key: &str) -> Value {
    json!({
        "name": format!("bench-{i:02}"),
        "address": format!("n{i:02}.bench.example.com"),
        "inbounds": [
            { "tag": "vless-reality", "protocol": "vless", "port": 443,
              "flow": "xtls-rprx-vision", "security": "reality",
              "reality": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
                           "privateKey": reality_private_key, "shortIds": ["abcd"] } },
            { "tag": "vmess-ws", "protocol": "vmess", "port": 8080, "network": "ws",
              "path": "/vm", "host": "cdn.example.com", "security": "tls",
              "tls": { "certificateFile": "/etc/bench/c.pem", "keyFile": "/etc/bench/k.pem" } },
            { "tag": "trojan-grpc", "protocol": "trojan", "port": 8443, "network": "grpc",
              "serviceName": "tg", "security": "tls",
              "tls": { "certificateFile": "/etc/bench/c.pem", "keyFile": "/etc/bench/k.pem",
                       "serverName": "t.example.com" } }
        ]
    })
}

async fn measure_format(
    settings: &Settings,
    core: &Core,
    links: &Arc<Vec<String>>,
    format: Format,
) -> anyhow::Result<FormatFigures> {
    let body_bytes = check(core, format, &links[0]).await?;
    let warm_links = Arc::new(links[..WARM_LINKS].to_vec());
    let started = Instant::now();
    cache(core, format, &warm_links).await?;
    eprintln!(
        "     cached {WARM_LINKS} links in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let warm = load_run(settings, core, format, warm_links, Mode::Warm).await?;
    let cold = load_run(settings, core, format, Arc::clone(links), Mode::Cold).await?;
    Ok(FormatFigures {
        body_bytes,
        warm,
        cold,
    })
}

/// A target that sends `pick`'s path and User-Agent for every request.
fn varying(
    core: &Core,
    route: &str,
    pick: impl Fn(u64) -> Varied + Send + Sync + 'static,
) -> Target {
    Target {
        vary: Some(Vary::new(pick)),
        ..core.target(route, None)
    }
}

/// `path` asked for with `agent` at `base`'s address, on a connection of its own.
async fn get(base: &Target, path: &str, agent: &str) -> anyhow::Result<Response<Bytes>> {
    let (fixed, agent) = (path.to_string(), agent.to_string());
    let target = Target {
        path: path.to_string(),
        vary: Some(Vary::new(move |_| Varied {
            path: fixed.clone(),
            user_agent: Some(agent.clone()),
            bearer: None,
        })),
        ..base.clone()
    };
    load::fetch(&target, Method::GET, None, CALL_TIMEOUT).await
}

/// One answer checked for real (status, content type, every entry), then asked for again: the
/// second answer (a cache hit) must be the same. Its body's size.
pub async fn check(core: &Core, format: Format, uuid: &str) -> anyhow::Result<usize> {
    let (base, path) = (core.target("/", None), format.path(uuid));
    let first = get(&base, &path, CHECK_AGENT).await?;
    let header = |r: &Response<Bytes>, name| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    ensure!(
        first.status().as_u16() == 200,
        "GET {} answered {}: {}",
        format.route(),
        first.status(),
        String::from_utf8_lossy(first.body())
    );
    answer::check(
        format,
        header(&first, CONTENT_TYPE).as_deref(),
        first.body(),
        uuid,
        NODES,
    )
    .with_context(|| format!("GET {}: not the expected answer", format.route()))?;
    let again = get(&base, &path, CHECK_AGENT).await?;
    ensure!(
        again.status().as_u16() == 200
            && again.body() == first.body()
            && header(&again, ETAG).is_some()
            && header(&again, ETAG) == header(&first, ETAG),
        "GET {} answered a repeated request differently ({})",
        format.route(),
        again.status()
    );
    eprintln!(
        "     checked: 200, {}, {ENTRIES} entries, {} bytes",
        header(&first, CONTENT_TYPE).unwrap_or_default(),
        first.body().len()
    );
    Ok(first.body().len())
}

/// Fetches every link once with [`WARM_AGENT`], so a warm run finds them cached.
pub async fn cache(core: &Core, format: Format, links: &Arc<Vec<String>>) -> anyhow::Result<()> {
    let mut workers = JoinSet::new();
    for first in 0..CACHING_CONNECTIONS {
        let links = Arc::clone(links);
        let base = core.target("/", None);
        workers.spawn(async move {
            for uuid in links.iter().skip(first).step_by(CACHING_CONNECTIONS) {
                let path = format.path(uuid);
                let response = get(&base, &path, WARM_AGENT).await?;
                ensure!(
                    response.status().is_success(),
                    "GET {path} answered {} while caching",
                    response.status()
                );
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.context("a caching task panicked")??;
    }
    Ok(())
}

/// One load run of `format` over `links` in rotation.
pub async fn load_run(
    settings: &Settings,
    core: &Core,
    format: Format,
    links: Arc<Vec<String>>,
    mode: Mode,
) -> anyhow::Result<LoadRun> {
    let count = links.len();
    ensure!(count > 0, "no links to load");
    let target = varying(core, format.route(), move |n| {
        // In range: `count` is the list's length and not zero.
        let uuid = &links[(n % count as u64) as usize];
        match mode {
            Mode::Warm => Varied {
                path: format.path(uuid),
                user_agent: Some(WARM_AGENT.to_string()),
                bearer: None,
            },
            // The forced-format routes do not vary on the User-Agent: the query (which the
            // component ignores but the cache key holds) makes each request new there too.
            Mode::Cold => Varied {
                path: format!("{}?{COLD_QUERY}={n}", format.path(uuid)),
                user_agent: Some(format!("{COLD_AGENT}{n}")),
                bearer: None,
            },
        }
    });
    let plan = Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections: settings.connections,
    };
    let cache_before = core.response_cache().await.ok();
    let log_mark = core.log_mark();
    let cpu_before = core.pid().and_then(Split::take);
    let outcome = load::run(&target, &plan).await?;
    let cpu = core
        .pid()
        .and_then(Split::take)
        .zip(cpu_before)
        .and_then(|(after, before)| after.since(&before, cpu::cpus()));
    let cache = core
        .response_cache()
        .await
        .ok()
        .zip(cache_before)
        .map(|(after, before)| after.since(&before));
    let logged = core.errors_since(log_mark).ok();
    let run = LoadRun {
        links: count,
        outcome,
        cache,
        cpu,
        logged,
    };
    let o = &run.outcome;
    eprintln!(
        "     {:<4} {:>8.0} req/s  p50 {:>9}  p99 {:>9}  errors {}  cache hits/answer {} (kept {})  \
         CPU: nexuma {} bench {} others {}",
        mode.name(),
        o.per_sec,
        crate::stats::format_us(o.latency.p50_us),
        crate::stats::format_us(o.latency.p99_us),
        o.errors,
        run.hits_per_answer()
            .map_or_else(|| "?".into(), |h| format!("{h:.2}")),
        run.kept_per_answer()
            .map_or_else(|| "?".into(), |k| format!("{k:.2}")),
        run.cpu
            .map_or_else(|| "?".into(), |u| format!("{:.2}", u.core)),
        run.cpu
            .map_or_else(|| "?".into(), |u| format!("{:.2}", u.bench)),
        run.cpu
            .map_or_else(|| "?".into(), |u| format!("{:.2}", u.others)),
    );
    if let Some(e) = &o.first_error {
        eprintln!("       first error: {e}");
    }
    if let Some(LoggedErrors {
        count,
        first: Some(first),
    }) = &run.logged
    {
        eprintln!("       the Core logged {count} ERROR lines, the first: {first}");
    }
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_ask_for_their_format() {
        let uuid = "0b1f6c6e-3d43-4c36-9b7e-6b0b2c3f1a10";
        assert_eq!(Format::V2ray.path(uuid), format!("/sub/{uuid}"));
        assert_eq!(Format::Clash.path(uuid), format!("/sub/{uuid}/clash"));
        assert_eq!(Format::Singbox.path(uuid), format!("/sub/{uuid}/singbox"));
    }

    #[test]
    fn cache_hits_are_counted_per_answer() {
        let run = |answered, hits, kept| LoadRun {
            links: 1,
            outcome: Outcome {
                per_sec: 0.0,
                latency: Default::default(),
                errors: 0,
                first_error: None,
                connects: 1,
                answered,
            },
            cache: Some(CacheCounts {
                hits,
                kept,
                stale: 0,
            }),
            cpu: None,
            logged: None,
        };
        assert_eq!(run(200, 200, 0).hits_per_answer(), Some(1.0));
        assert_eq!(run(200, 0, 200).hits_per_answer(), Some(0.0));
        assert_eq!(run(200, 0, 200).kept_per_answer(), Some(1.0));
        assert_eq!(run(0, 5, 0).hits_per_answer(), None);
        let unread = LoadRun {
            cache: None,
            ..run(200, 0, 0)
        };
        assert_eq!(unread.hits_per_answer(), None);
    }
}
