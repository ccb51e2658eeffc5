//! What one run measures and where its inputs are, from the environment with defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

/// Secrets of the benchmarked host; long enough for any check, never used outside loopback.
pub const JWT_SECRET: &str = "bench-access-secret-0123456789abcdef0123456789";
pub const JWT_REFRESH_SECRET: &str = "bench-refresh-secret-0123456789abcdef01234567";

pub struct Settings {
    pub warmup: Duration,
    pub measure: Duration,
    pub connections: usize,
    /// Timed in-process calls, after `calls_warmup` untimed ones.
    pub calls: u32,
    pub calls_warmup: u32,
    pub pg_admin_url: String,
    pub redis_url: String,
    pub root: PathBuf,
    /// The checkout whose Core and components are measured (`NEXUMA_BENCH_CORE`): this one by
    /// default; another one's build to compare two versions with the same measuring code.
    pub core: PathBuf,
    /// The `nexuma` binary measured: the one built with this bench, or the other checkout's.
    pub nexuma: PathBuf,
    pub out: PathBuf,
    /// The parts to run (`NEXUMA_BENCH_ONLY`, comma-separated); empty: all of them.
    pub only: Vec<String>,
    /// Leave the servers backend's databases in place (`NEXUMA_BENCH_KEEP_DATABASE` set).
    pub keep_database: bool,
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let root = root
            .canonicalize()
            .with_context(|| format!("cannot resolve the repository root {}", root.display()))?;
        let exe = std::env::current_exe().context("cannot locate the nexuma-bench binary")?;
        let core = match var("NEXUMA_BENCH_CORE") {
            None => root.clone(),
            Some(dir) => PathBuf::from(&dir)
                .canonicalize()
                .with_context(|| format!("NEXUMA_BENCH_CORE={dir} is not a directory"))?,
        };
        let nexuma = if core == root {
            exe.with_file_name("nexuma")
        } else {
            core.join("target/release/nexuma")
        };
        let out = var("NEXUMA_BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("BENCHMARKS.md"));
        Ok(Settings {
            warmup: Duration::from_secs_f64(number("NEXUMA_BENCH_WARMUP_SECS", 2.0)?),
            measure: Duration::from_secs_f64(number("NEXUMA_BENCH_SECS", 8.0)?),
            connections: number("NEXUMA_BENCH_CONNECTIONS", 32)?,
            calls: number("NEXUMA_BENCH_CALLS", 20_000)?,
            calls_warmup: 500,
            pg_admin_url: var("NEXUMA_BENCH_PG")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into()),
            redis_url: var("NEXUMA_BENCH_REDIS")
                .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into()),
            nexuma,
            out,
            root,
            core,
            only: var("NEXUMA_BENCH_ONLY")
                .map(|v| {
                    v.split(',')
                        .map(|p| p.trim().to_string())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            keep_database: var("NEXUMA_BENCH_KEEP_DATABASE").is_some(),
        })
    }

    /// Whether the part named `part` (`http`, `inprocess`, `nodes`, `subscriptions`, `traffic`,
    /// `swaps`) runs.
    pub fn runs(&self, part: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|p| p == part)
    }

    /// Fails early, with the command that fixes it, when a build product is missing.
    pub fn check_inputs(&self) -> anyhow::Result<()> {
        if self.measure.is_zero() || self.connections == 0 || self.calls == 0 {
            bail!("NEXUMA_BENCH_SECS, NEXUMA_BENCH_CONNECTIONS and NEXUMA_BENCH_CALLS must be > 0");
        }
        if !self.nexuma.is_file() {
            bail!(
                "{} is missing: build it with `cargo build --release -p nexuma-host` (or run `make bench`)",
                self.nexuma.display()
            );
        }
        for name in [
            "auth",
            "probe",
            "billing",
            "nodes",
            "subscriptions",
            "usage",
            "versioned",
            "versioned_next",
        ] {
            let path = self.wasm(name);
            if !path.is_file() {
                bail!(
                    "{} is missing: build the components with `make handlers`",
                    path.display()
                );
            }
        }
        Ok(())
    }

    pub fn wasm(&self, name: &str) -> PathBuf {
        self.core
            .join("handlers/target/wasm32-wasip2/release")
            .join(format!("{name}.wasm"))
    }

    /// Compiled components, shared by every run so only the first one compiles.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("target/nexuma-bench-cache")
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number<T>(name: &str, default: T) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={raw:?} is not a valid number: {e}")),
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!(
            "nexuma-bench-{label}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
