//! The Core under test: `nexuma serve` as a child process on a free loopback port, with its
//! own data directory, components folder and, for the servers backend, its own PostgreSQL
//! database and Redis key prefix, all removed again by [`Core::stop`].

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use http::Method;
use sqlx::{Connection, PgConnection};

use crate::api;
use crate::load::{self, Target};
use crate::settings::{Settings, TempDir, JWT_REFRESH_SECRET, JWT_SECRET};

/// How long the child may take to answer `/health` (a cold component cache compiles).
const START_TIMEOUT: Duration = Duration::from_secs(120);
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many SCAN rounds when removing the run's Redis keys.
const MAX_SCAN_ROUNDS: usize = 10_000;

#[derive(Clone)]
pub enum Backend {
    /// SQLite in the data directory + the in-process key-value store.
    Embedded,
    /// PostgreSQL (admin URL, for CREATE/DROP DATABASE) + Redis.
    Servers {
        pg_admin_url: String,
        redis_url: String,
        /// Leave each Core's database in place when it stops, for a look at what a part built
        /// (`EXPLAIN` at a million rows, say).
        keep_database: bool,
    },
}

impl Backend {
    pub fn label(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Servers { .. } => "servers",
        }
    }
}

/// The servers backend if PostgreSQL and Redis both answer, else why not.
pub async fn servers_reachable(settings: &Settings) -> Result<Backend, String> {
    pg_admin(&settings.pg_admin_url, "SELECT 1")
        .await
        .map_err(|e| {
            format!(
                "PostgreSQL at {} is unreachable: {e:#}",
                redact(&settings.pg_admin_url)
            )
        })?;
    redis_ping(&settings.redis_url).await.map_err(|e| {
        format!(
            "Redis at {} is unreachable: {e:#}",
            redact(&settings.redis_url)
        )
    })?;
    Ok(Backend::Servers {
        pg_admin_url: settings.pg_admin_url.clone(),
        redis_url: settings.redis_url.clone(),
        keep_database: settings.keep_database,
    })
}

pub struct Core {
    pub addr: SocketAddr,
    process: Option<std::process::Child>,
    dir: TempDir,
    /// (admin URL, database name) of a database this run created.
    database: Option<(String, String)>,
    /// Whether the database stays when the Core stops (`NEXUMA_BENCH_KEEP_DATABASE`).
    keep_database: bool,
    /// (Redis URL, key prefix) of this run's keys.
    kv: Option<(String, String)>,
    env: Vec<(String, String)>,
}

/// What one Core under test runs: which components, and environment over the defaults.
pub struct Setup<'a> {
    pub components: &'a [&'a str],
    /// Set after the defaults, so they win (e.g. `COMPONENT_MEMORY_MB`).
    pub env: Vec<(String, String)>,
}

impl Core {
    /// Prepares the stores, starts `nexuma serve` and waits until `/health` answers 200.
    pub async fn start(
        settings: &Settings,
        backend: &Backend,
        setup: &Setup<'_>,
    ) -> anyhow::Result<Core> {
        let dir = TempDir::new(backend.label())?;
        let components = dir.path().join("components");
        std::fs::create_dir_all(&components)
            .with_context(|| format!("cannot create {}", components.display()))?;
        for name in setup.components {
            let src = settings.wasm(name);
            std::fs::copy(&src, components.join(format!("{name}.wasm")))
                .with_context(|| format!("cannot copy {}", src.display()))?;
        }
        let port = free_port()?;
        let data = dir.path().join("data");
        let mut env: Vec<(String, String)> = vec![
            ("PORT".into(), port.to_string()),
            ("BIND".into(), "127.0.0.1".into()),
            ("DATA_DIR".into(), data.display().to_string()),
            ("COMPONENTS_DIR".into(), components.display().to_string()),
            (
                "COMPONENT_CACHE_DIR".into(),
                settings.cache_dir().display().to_string(),
            ),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("JWT_REFRESH_SECRET".into(), JWT_REFRESH_SECRET.into()),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let mut core = Core {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            process: None,
            dir,
            database: None,
            keep_database: false,
            kv: None,
            env: Vec::new(),
        };
        match backend {
            Backend::Embedded => {
                env.push((
                    "DATABASE_URL".into(),
                    format!("sqlite://{}", data.join("nexuma.db").display()),
                ));
                env.push(("REDIS_URL".into(), "memory://".into()));
            }
            Backend::Servers {
                pg_admin_url,
                redis_url,
                keep_database,
            } => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                let name = format!("nexuma_bench_{id}");
                pg_admin(pg_admin_url, &format!("CREATE DATABASE {name}"))
                    .await
                    .with_context(|| format!("cannot create the database {name}"))?;
                core.database = Some((pg_admin_url.clone(), name.clone()));
                core.keep_database = *keep_database;
                let prefix = format!("nexuma-bench:{id}:");
                core.kv = Some((redis_url.clone(), prefix.clone()));
                env.push(("DATABASE_URL".into(), database_url(pg_admin_url, &name)?));
                env.push(("REDIS_URL".into(), redis_url.clone()));
                env.push(("KV_PREFIX".into(), prefix));
            }
        }
        // Profiling a run: the Core names components' functions for `perf` when asked to.
        if let Ok(value) = std::env::var("COMPONENT_PERFMAP") {
            env.push(("COMPONENT_PERFMAP".into(), value));
        }
        for (name, value) in &setup.env {
            env.retain(|(k, _)| k != name);
            env.push((name.clone(), value.clone()));
        }
        core.env = env;
        if let Err(e) = core.launch(settings).await {
            core.stop().await;
            return Err(e);
        }
        Ok(core)
    }

    /// Another replica of `first`: `nexuma serve` on a port, data directory and components
    /// folder of its own (the same components), sharing `first`'s database and key-value
    /// prefix and the rest of its environment. `first` owns the shared stores: stopping a
    /// replica only stops its process, so stop the replicas before `first`.
    pub async fn replica_of(settings: &Settings, first: &Core) -> anyhow::Result<Core> {
        let dir = TempDir::new("replica")?;
        let components = dir.path().join("components");
        std::fs::create_dir_all(&components)
            .with_context(|| format!("cannot create {}", components.display()))?;
        let source = first.dir.path().join("components");
        let entries = std::fs::read_dir(&source)
            .with_context(|| format!("cannot read {}", source.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("cannot read {}", source.display()))?;
            std::fs::copy(entry.path(), components.join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
        let port = free_port()?;
        let data = dir.path().join("data");
        let mut env = first.env.clone();
        for (name, value) in [
            ("PORT", port.to_string()),
            ("DATA_DIR", data.display().to_string()),
            ("COMPONENTS_DIR", components.display().to_string()),
        ] {
            env.retain(|(k, _)| k != name);
            env.push((name.into(), value));
        }
        let mut core = Core {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            process: None,
            dir,
            database: None,
            keep_database: false,
            kv: None,
            env,
        };
        if let Err(e) = core.launch(settings).await {
            core.stop().await;
            return Err(e);
        }
        Ok(core)
    }

    async fn launch(&mut self, settings: &Settings) -> anyhow::Result<()> {
        let log_path = self.log_path();
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let child = Command::new(&settings.nexuma)
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", settings.nexuma.display()))?;
        self.process = Some(child);
        let health = self.target("/health", None);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(process) = self.process.as_mut() {
                if let Some(status) = process.try_wait().context("cannot poll nexuma")? {
                    bail!(
                        "nexuma exited early ({status}); its log:\n{}",
                        self.log_tail()
                    );
                }
            }
            if let Ok((status, _)) =
                load::once(&health, Method::GET, None, Duration::from_secs(2)).await
            {
                if status.is_success() {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "nexuma did not answer /health with 200 within {START_TIMEOUT:?}; its log:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn target(&self, path: &str, bearer: Option<&str>) -> Target {
        Target {
            addr: self.addr,
            path: path.into(),
            bearer: bearer.map(str::to_string),
            node_key: None,
            vary: None,
            spread: Vec::new(),
            check: None,
        }
    }

    /// The `nexuma` child's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(std::process::Child::id)
    }

    /// Registers a fresh account and returns its access token.
    pub async fn register(&self) -> anyhow::Result<String> {
        let body = serde_json::json!({
            "email": format!("bench-{}@example.com", uuid::Uuid::new_v4().simple()),
            "password": "bench-password-1",
        });
        let reply = api::call(self, Method::POST, "/auth/register", None, Some(&body), 201).await?;
        access_token(&reply, "/auth/register")
    }

    /// Creates an administrator with the CLI (`nexuma admin create`, this Core's environment),
    /// logs in and returns its access token.
    pub async fn admin_token(&self, settings: &Settings) -> anyhow::Result<String> {
        let email = format!("bench-admin-{}@example.com", uuid::Uuid::new_v4().simple());
        let password = "bench-admin-password-1";
        let out = Command::new(&settings.nexuma)
            .args(["admin", "create", "--email", &email, "--password", password])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {} admin create", settings.nexuma.display()))?;
        if !out.status.success() {
            bail!(
                "nexuma admin create failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let body = serde_json::json!({ "email": email, "password": password });
        let reply = api::call(self, Method::POST, "/auth/login", None, Some(&body), 200).await?;
        access_token(&reply, "/auth/login")
    }

    /// A connection to this run's own PostgreSQL database (servers backend only); `part` names
    /// the benchmark that needs it, for the message when there is none.
    pub async fn connect_database(&self, part: &str) -> anyhow::Result<PgConnection> {
        let (admin, name) = self
            .database
            .as_ref()
            .with_context(|| format!("the {part} benchmark needs the servers backend"))?;
        PgConnection::connect(&database_url(admin, name)?)
            .await
            .context("cannot connect to the run's database")
    }

    /// Holds the key-value lock of a component's job for `ttl`, as another replica running it
    /// would, so this Core skips that job's ticks meanwhile (servers backend only).
    pub async fn hold_job_lock(
        &self,
        component: &str,
        job: &str,
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let (url, prefix) = self
            .kv
            .as_ref()
            .context("only a Core on Redis has a job lock to hold")?;
        let key = nexuma_host::jobs::lock_key(prefix, component, job);
        let mut conn = redis_connection(url).await?;
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let _: () = tokio::time::timeout(
            ADMIN_TIMEOUT,
            redis::cmd("SET")
                .arg(&key)
                .arg("nexuma-bench")
                .arg("PX")
                .arg(millis)
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| anyhow::anyhow!("SET {key}: no answer within {ADMIN_TIMEOUT:?}"))??;
        Ok(())
    }

    /// The host's response-cache counters so far (`nexuma_response_cache_total` on
    /// `/metrics`).
    pub async fn response_cache(&self) -> anyhow::Result<CacheCounts> {
        let text = crate::api::raw(self, "/metrics", None).await?;
        Ok(CacheCounts::parse(&String::from_utf8_lossy(&text)))
    }

    /// Where the Core's log ends now, for [`Core::errors_since`].
    pub fn log_mark(&self) -> u64 {
        std::fs::metadata(self.log_path()).map_or(0, |m| m.len())
    }

    /// The ERROR lines the Core logged after `mark`: a request can answer 200 and still log
    /// one, which no status shows.
    pub fn errors_since(&self, mark: u64) -> anyhow::Result<LoggedErrors> {
        use std::io::{Read, Seek, SeekFrom};
        let path = self.log_path();
        let mut file = std::fs::File::open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        file.seek(SeekFrom::Start(mark))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(LoggedErrors::scan(&String::from_utf8_lossy(&bytes)))
    }

    /// Stops the child and removes what this run created. Clean-up failures are only printed:
    /// they must not hide the figures.
    pub async fn stop(mut self) {
        self.kill();
        if let Some((url, prefix)) = self.kv.take() {
            if let Err(e) = redis_delete_prefix(&url, &prefix).await {
                eprintln!("   warning: cannot remove the Redis keys {prefix}*: {e:#}");
            }
        }
        if let Some((url, name)) = self.database.take() {
            if self.keep_database {
                println!("   database {name} is kept (NEXUMA_BENCH_KEEP_DATABASE)");
                return;
            }
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = pg_admin(&url, &sql).await {
                eprintln!("   warning: cannot drop the database {name}: {e:#}");
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("nexuma.log")
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        log[start..].to_string()
    }
}

/// ERROR lines of the Core's log (`tracing`'s format: time, level, target, message, fields).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoggedErrors {
    pub count: u64,
    /// The first one, without its time stamp.
    pub first: Option<String>,
}

impl LoggedErrors {
    fn scan(log: &str) -> LoggedErrors {
        let mut found = LoggedErrors::default();
        for line in log.lines() {
            if let Some((_, rest)) = line.split_once(" ERROR ") {
                found.count += 1;
                if found.first.is_none() {
                    found.first = Some(rest.trim().to_string());
                }
            }
        }
        found
    }
}

/// The host's response cache, counted by outcome: `hit` (answered from the cache, no component
/// ran), `kept` (an answer stored), `stale` (a kept answer retired).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    pub hits: u64,
    pub kept: u64,
    pub stale: u64,
}

impl CacheCounts {
    const METRIC: &'static str = "nexuma_response_cache_total";

    /// The counters in a Prometheus text exposition; an outcome without a series has not
    /// happened yet, so it is 0.
    fn parse(text: &str) -> CacheCounts {
        let mut counts = CacheCounts::default();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix(Self::METRIC) else {
                continue;
            };
            let Some((labels, value)) = rest.strip_prefix('{').and_then(|r| r.split_once('}'))
            else {
                continue;
            };
            let Some(value) = value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
            else {
                continue;
            };
            let outcome = labels
                .split(',')
                .find_map(|l| l.trim().strip_prefix("outcome=\""))
                .and_then(|v| v.strip_suffix('"'));
            let slot = match outcome {
                Some("hit") => &mut counts.hits,
                Some("kept") => &mut counts.kept,
                Some("stale") => &mut counts.stale,
                _ => continue,
            };
            *slot = value as u64;
        }
        counts
    }

    /// The counts between `earlier` and this one.
    pub fn since(&self, earlier: &CacheCounts) -> CacheCounts {
        CacheCounts {
            hits: self.hits.saturating_sub(earlier.hits),
            kept: self.kept.saturating_sub(earlier.kept),
            stale: self.stale.saturating_sub(earlier.stale),
        }
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        // Normally `stop` has run; this only makes sure no server outlives the bench.
        self.kill();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The admin URL with its database replaced by `name`.
/// The access token of a register or login answer.
fn access_token(reply: &serde_json::Value, path: &str) -> anyhow::Result<String> {
    reply["accessToken"]
        .as_str()
        .map(str::to_string)
        .with_context(|| format!("POST {path}: no accessToken in the body"))
}

fn database_url(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let (base, _) = admin_url
        .rsplit_once('/')
        .filter(|(base, _)| base.contains("://") && !base.ends_with('/'))
        .with_context(|| format!("{} has no database path", redact(admin_url)))?;
    Ok(format!("{base}/{name}"))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

async fn pg_admin(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    tokio::time::timeout(ADMIN_TIMEOUT, async {
        let mut conn = sqlx::PgConnection::connect(admin_url).await?;
        sqlx::raw_sql(sql).execute(&mut conn).await?;
        conn.close().await?;
        anyhow::Ok(())
    })
    .await
    .map_err(|_| anyhow::anyhow!("no answer within {ADMIN_TIMEOUT:?}"))?
}

async fn redis_connection(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    tokio::time::timeout(ADMIN_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {ADMIN_TIMEOUT:?}"))?
        .map_err(Into::into)
}

async fn redis_ping(url: &str) -> anyhow::Result<()> {
    let mut conn = redis_connection(url).await?;
    let _: String = tokio::time::timeout(ADMIN_TIMEOUT, redis::cmd("PING").query_async(&mut conn))
        .await
        .map_err(|_| anyhow::anyhow!("PING: no answer within {ADMIN_TIMEOUT:?}"))??;
    Ok(())
}

async fn redis_delete_prefix(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis_connection(url).await?;
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    for _ in 0..MAX_SCAN_ROUNDS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let _: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
    bail!("gave up after {MAX_SCAN_ROUNDS} SCAN rounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_swaps_the_path() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert!(database_url("postgres://127.0.0.1:5432", "x").is_err());
    }

    #[test]
    fn cache_counts_come_from_metrics() {
        let text = "# HELP nexuma_response_cache_total Response cache lookups and stores\n\
                    # TYPE nexuma_response_cache_total counter\n\
                    nexuma_response_cache_total{outcome=\"hit\"} 1234\n\
                    nexuma_response_cache_total{outcome=\"kept\"} 1017\n\
                    nexuma_component_instantiations_total{component=\"subscriptions\"} 1017\n\
                    nexuma_response_cache_totally{outcome=\"hit\"} 5\n";
        let now = CacheCounts::parse(text);
        assert_eq!(
            now,
            CacheCounts {
                hits: 1234,
                kept: 1017,
                stale: 0
            }
        );
        let before = CacheCounts {
            hits: 1000,
            kept: 17,
            stale: 0,
        };
        assert_eq!(
            now.since(&before),
            CacheCounts {
                hits: 234,
                kept: 1000,
                stale: 0
            }
        );
        assert_eq!(
            CacheCounts::parse("nexuma_response_cache_total{outcome=\"stale\"} 3\n"),
            CacheCounts {
                stale: 3,
                ..CacheCounts::default()
            }
        );
        assert_eq!(CacheCounts::parse(""), CacheCounts::default());
    }

    #[test]
    fn error_lines_are_counted() {
        let log = "2026-11-30T04:18:15.9Z  WARN nexuma_host::jobs: slow tick\n\
                   2026-11-30T04:18:15.9Z ERROR nexuma_host::iface::log: internal error a=1\n\
                   2026-11-30T04:18:16.0Z ERROR nexuma_host::iface::log: internal error a=2\n";
        let found = LoggedErrors::scan(log);
        assert_eq!(found.count, 2);
        assert_eq!(
            found.first.as_deref(),
            Some("nexuma_host::iface::log: internal error a=1")
        );
        assert_eq!(LoggedErrors::scan(""), LoggedErrors::default());
    }

    #[test]
    fn redact_hides_the_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(
            redact("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
