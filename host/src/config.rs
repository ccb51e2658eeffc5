//! Configuration from the environment: the seed's variables with their defaults, plus
//! `DATABASE_URL`, `REDIS_URL` and the host's own limits. Every subcommand reads this.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

const MIN_SECRET_LEN: usize = 32;
/// A component instance's smallest memory cap: the bundled components are linked with 4 MiB of
/// initial memory (handlers/.cargo/config.toml), so less could not even instantiate them.
const MIN_COMPONENT_MEMORY_MB: usize = 8;

/// Why the configuration was refused at start; the binary prints it and exits.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// A variable's value does not parse or is out of range.
    #[error("{name} is invalid: {reason}")]
    Invalid {
        /// The environment variable at fault.
        name: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// Production mode with a missing, short or shared token secret; holds what to fix.
    #[error("refusing to start in production: {0}")]
    Insecure(String),
}

/// The two token secrets. In production both come from the environment; in development a
/// missing one is generated at first start and kept in the database (`app::secrets`).
#[derive(Clone)]
pub struct Secrets {
    /// Signs access tokens (`JWT_SECRET`, or generated in development).
    pub access: String,
    /// Signs refresh tokens (`JWT_REFRESH_SECRET`, or generated in development); differs from
    /// `access`.
    pub refresh: String,
}

/// Where relational data lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// A PostgreSQL connection URL, from `DATABASE_URL` or assembled from `DB_HOST`, `DB_PORT`, ...
    Postgres(String),
    /// An SQLite file: `sqlite://PATH` in `DATABASE_URL`, or `$DATA_DIR/nexuma.db` by default.
    Sqlite(PathBuf),
}

/// Where the shared key-value store lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvTarget {
    /// A Redis URL, from `REDIS_URL` or assembled from `REDIS_HOST`, `REDIS_PORT`, ...
    Redis(String),
    /// In this process only (`REDIS_URL=memory://`, or the default): fine for one replica.
    Memory,
}

/// The key-value capability's part: where the store lives and the prefix of every key.
#[derive(Clone, Debug)]
pub struct KvSettings {
    /// Where the store lives (`REDIS_URL`, `REDIS_HOST`, ...; in-process by default).
    pub target: KvTarget,
    /// Prefix of every key (`KV_PREFIX`), so a shared Redis stays tidy.
    pub prefix: String,
}

/// The tokens capability's part: how long each kind of token lives (the secrets are resolved
/// apart, `crate::secrets`).
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// `JWT_EXPIRES_IN` (`15m`, `12h`, or bare seconds; default 15 minutes).
    pub access_ttl: Duration,
    /// `JWT_REFRESH_EXPIRES_IN` (as above; default 7 days).
    pub refresh_ttl: Duration,
}

/// The Telegram capability's part.
#[derive(Clone, Debug)]
pub struct TelegramSettings {
    /// `TELEGRAM_BOT_TOKEN`; without one, nothing is checked or sent.
    pub bot_token: Option<String>,
    /// The Bot API's base URL (`TELEGRAM_API_URL`); another one only for a local stand-in.
    pub api_url: String,
}

/// `RESPONSE_CACHE_MB` when unset.
pub const DEFAULT_RESPONSE_CACHE_MB: u64 = 64;

/// Everything the Core reads from its environment, parsed and checked once at start.
#[derive(Clone, Debug)]
pub struct Config {
    /// TCP port to listen on (`PORT`, default 3000).
    pub port: u16,
    /// Address to listen on (`BIND`, default `0.0.0.0`).
    pub bind: String,
    /// Base URL clients reach this Core at (`PUBLIC_URL`), without a trailing slash.
    pub public_url: String,
    /// `NODE_ENV=production`: refuses weak secrets and hides `/metrics` (default development).
    pub production: bool,
    /// Where relational data lives (`DATABASE_URL` or `DB_*`; default SQLite in `DATA_DIR`).
    pub database: DatabaseTarget,
    /// The key-value capability's part.
    pub kv: KvSettings,
    /// `JWT_SECRET`; `None` in development means "generated and kept in the database".
    pub jwt_secret: Option<String>,
    /// `JWT_REFRESH_SECRET`; `None` in development means "generated and kept in the database".
    pub jwt_refresh_secret: Option<String>,
    /// The tokens capability's part (`JWT_EXPIRES_IN`, `JWT_REFRESH_EXPIRES_IN`).
    pub tokens: TokenSettings,
    /// The Telegram capability's part (`TELEGRAM_BOT_TOKEN`, `TELEGRAM_API_URL`).
    pub telegram: TelegramSettings,
    /// Origins allowed by CORS (`CORS_ORIGINS`, comma-separated; default `*`); `None` means any.
    pub cors_origins: Option<Vec<String>>,
    /// Folder of the factory `.wasm` components (`COMPONENTS_DIR`, default `./components`).
    pub components_dir: PathBuf,
    /// Compiled components, keyed by content hash and engine; shared safely between processes
    /// (`COMPONENT_CACHE_DIR`, default `$DATA_DIR/cache`).
    pub cache_dir: PathBuf,
    /// Largest request body in bytes (`BODY_LIMIT_BYTES`, default 1 MiB); larger is answered 413.
    pub body_limit: usize,
    /// The body limit of `POST /admin/components` only (`COMPONENT_UPLOAD_LIMIT_BYTES`): a
    /// component is megabytes where every other route takes kilobytes.
    pub component_upload_limit: usize,
    /// How long a request body may take to arrive (`BODY_READ_TIMEOUT_MS`): a body trickled
    /// byte by byte must not hold a connection forever.
    pub body_read_timeout: Duration,
    /// Connections served at once (`MAX_CONNECTIONS`); more wait in the listen queue.
    pub max_connections: usize,
    /// Reverse proxies whose `X-Forwarded-For` is believed when telling the client's address
    /// (`TRUSTED_PROXIES`, comma-separated IPs; default none).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `TLS_CERT_FILE` and `TLS_KEY_FILE`: serve HTTPS on `PORT` (both or neither).
    pub tls: Option<TlsFiles>,
    /// Per-call bounds on component instances (`COMPONENT_*`).
    pub limits: ComponentLimits,
    /// Memory for answers components let the host keep (`RESPONSE_CACHE_MB`; 0 turns it off).
    pub response_cache_bytes: u64,
    /// Who may read `/metrics` (`METRICS_TOKEN`, `NODE_ENV`).
    pub metrics: MetricsAccess,
}

/// Who may read `/metrics`: it tells traffic, routes and failures, so production hides it
/// unless `METRICS_TOKEN` is set; development keeps it open for local scraping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone may read it (development without `METRICS_TOKEN`).
    Open,
    /// `Authorization: Bearer <token>` required.
    Bearer(String),
    /// Answered 404, as if there were no such route.
    Hidden,
}

fn metrics_access(env: &impl Env, production: bool) -> MetricsAccess {
    match env.var("METRICS_TOKEN") {
        Some(token) => MetricsAccess::Bearer(token),
        None if production => MetricsAccess::Hidden,
        None => MetricsAccess::Open,
    }
}

/// Per-request bounds on a component instance.
#[derive(Clone, Debug)]
pub struct ComponentLimits {
    /// Linear memory cap per instance in bytes (`COMPONENT_MEMORY_MB`, default 64, at least 8).
    pub memory_bytes: usize,
    /// Wall-clock deadline of one call (`COMPONENT_TIMEOUT_MS`, default 10 s).
    pub timeout: Duration,
    /// Instances that may run at once, pooling allocator slots (`COMPONENT_MAX_INSTANCES`,
    /// default 256).
    pub max_instances: u32,
    /// Name components' compiled functions for `perf` in `/tmp/perf-<pid>.map`
    /// (`COMPONENT_PERFMAP=true`; off by default: the file grows with every load).
    pub perfmap: bool,
}

/// A source of variables: the process environment in production, a map in tests.
pub trait Env {
    /// The variable's value; `None` when it is unset or empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment, what the binary reads.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.is_empty())
    }
}

impl Config {
    /// Reads and checks every setting; refuses a malformed value or, in production, weak secrets.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let production = production(env)?;
        let jwt_secret = env.var("JWT_SECRET");
        let jwt_refresh_secret = env.var("JWT_REFRESH_SECRET");
        let data_dir = PathBuf::from(env.var("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let port = parse(env, "PORT", 3000)?;
        let config = Config {
            port,
            public_url: public_url(env, port, env.var("TLS_CERT_FILE").is_some())?,
            bind: env.var("BIND").unwrap_or_else(|| "0.0.0.0".into()),
            production,
            database: database_target(env, &data_dir)?,
            kv: KvSettings {
                target: kv_target(env)?,
                prefix: env.var("KV_PREFIX").unwrap_or_else(|| "nexuma:".into()),
            },
            jwt_secret,
            jwt_refresh_secret,
            tokens: TokenSettings {
                access_ttl: duration(env, "JWT_EXPIRES_IN", "15m")?,
                refresh_ttl: duration(env, "JWT_REFRESH_EXPIRES_IN", "7d")?,
            },
            telegram: TelegramSettings {
                bot_token: env.var("TELEGRAM_BOT_TOKEN"),
                api_url: telegram_api_url(env)?,
            },
            cors_origins: cors_origins(env),
            components_dir: PathBuf::from(
                env.var("COMPONENTS_DIR")
                    .unwrap_or_else(|| "./components".into()),
            ),
            cache_dir: env
                .var("COMPONENT_CACHE_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("cache")),
            body_limit: parse(env, "BODY_LIMIT_BYTES", 1024 * 1024)?,
            component_upload_limit: parse(env, "COMPONENT_UPLOAD_LIMIT_BYTES", 32 * 1024 * 1024)?,
            body_read_timeout: Duration::from_millis(parse(env, "BODY_READ_TIMEOUT_MS", 15_000)?),
            max_connections: parse(env, "MAX_CONNECTIONS", 4096)?,
            trusted_proxies: trusted_proxies(env)?,
            tls: tls_files(env)?,
            limits: ComponentLimits {
                memory_bytes: parse::<usize>(env, "COMPONENT_MEMORY_MB", 64)? * 1024 * 1024,
                timeout: Duration::from_millis(parse(env, "COMPONENT_TIMEOUT_MS", 10_000)?),
                max_instances: parse(env, "COMPONENT_MAX_INSTANCES", 256)?,
                perfmap: parse(env, "COMPONENT_PERFMAP", false)?,
            },
            response_cache_bytes: parse::<u64>(
                env,
                "RESPONSE_CACHE_MB",
                DEFAULT_RESPONSE_CACHE_MB,
            )?
            .saturating_mul(1024 * 1024),
            metrics: metrics_access(env, production),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.limits.memory_bytes < MIN_COMPONENT_MEMORY_MB * 1024 * 1024 {
            return Err(ConfigError::Invalid {
                name: "COMPONENT_MEMORY_MB",
                reason: format!(
                    "must be at least {MIN_COMPONENT_MEMORY_MB}: the bundled components start \
                     with 4 MiB of memory and need room to work"
                ),
            });
        }
        for (name, zero) in [
            ("BODY_READ_TIMEOUT_MS", self.body_read_timeout.is_zero()),
            ("MAX_CONNECTIONS", self.max_connections == 0),
        ] {
            if zero {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be greater than zero".into(),
                });
            }
        }
        if self.limits.timeout.is_zero() {
            return Err(ConfigError::Invalid {
                name: "COMPONENT_TIMEOUT_MS",
                reason: "must be greater than zero".into(),
            });
        }
        if !self.production {
            return Ok(());
        }
        for (name, value) in [
            ("JWT_SECRET", &self.jwt_secret),
            ("JWT_REFRESH_SECRET", &self.jwt_refresh_secret),
        ] {
            let Some(value) = value else {
                return Err(ConfigError::Insecure(format!(
                    "{name} is not set; set {name} to a long random value (e.g. `openssl rand -hex 32`)"
                )));
            };
            if value.len() < MIN_SECRET_LEN {
                return Err(ConfigError::Insecure(format!(
                    "{name} is shorter than {MIN_SECRET_LEN} characters; set {name} to a long random value"
                )));
            }
        }
        if self.jwt_secret == self.jwt_refresh_secret {
            return Err(ConfigError::Insecure(
                "JWT_SECRET and JWT_REFRESH_SECRET are the same; set JWT_REFRESH_SECRET to a different value".into(),
            ));
        }
        Ok(())
    }

    /// A one-line summary for the start-up log, without secrets.
    pub fn describe_stores(&self) -> (String, String) {
        let db = match &self.database {
            DatabaseTarget::Postgres(url) => format!("postgres {}", redact_url(url)),
            DatabaseTarget::Sqlite(path) => format!("sqlite {}", path.display()),
        };
        let kv = match &self.kv.target {
            KvTarget::Redis(url) => format!("redis {}", redact_url(url)),
            KvTarget::Memory => "in-process".to_string(),
        };
        (db, kv)
    }
}

/// `NODE_ENV`: `development` (the default) or `production`, exactly. Anything else is refused,
/// so a `Production` or `prod` never quietly runs with development's leniency.
fn production(env: &impl Env) -> Result<bool, ConfigError> {
    match env.var("NODE_ENV").as_deref().map(str::trim) {
        None | Some("development") => Ok(false),
        Some("production") => Ok(true),
        Some(other) => Err(ConfigError::Invalid {
            name: "NODE_ENV",
            reason: format!("{other:?}: must be \"development\" or \"production\""),
        }),
    }
}

fn parse<T: std::str::FromStr>(
    env: &impl Env,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match env.var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: format!("{raw:?}: {e}"),
            }),
    }
}

fn duration(env: &impl Env, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
    let raw = env.var(name).unwrap_or_else(|| default.into());
    let parsed = match raw.trim().parse::<u64>() {
        // A bare number is seconds, as the `jsonwebtoken`-style `expiresIn` convention has it.
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(raw.trim()).map_err(|e| ConfigError::Invalid {
            name,
            reason: format!("{raw:?}: {e} (use e.g. 15m, 12h, 7d)"),
        })?,
    };
    if parsed.is_zero() {
        return Err(ConfigError::Invalid {
            name,
            reason: "must be greater than zero".into(),
        });
    }
    Ok(parsed)
}

fn database_target(
    env: &impl Env,
    data_dir: &std::path::Path,
) -> Result<DatabaseTarget, ConfigError> {
    if let Some(url) = env.var("DATABASE_URL") {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(url));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(ConfigError::Invalid {
                    name: "DATABASE_URL",
                    reason: "sqlite:// needs a file path, e.g. sqlite://./data/nexuma.db".into(),
                });
            }
            return Ok(DatabaseTarget::Sqlite(PathBuf::from(path)));
        }
        return Err(ConfigError::Invalid {
            name: "DATABASE_URL",
            reason: "must start with postgres:// or sqlite://".into(),
        });
    }
    let names = ["DB_HOST", "DB_PORT", "DB_USER", "DB_PASSWORD", "DB_NAME"];
    if names.iter().any(|n| env.var(n).is_some()) {
        let mut url =
            url::Url::parse("postgres://localhost").map_err(|e| ConfigError::Invalid {
                name: "DB_HOST",
                reason: e.to_string(),
            })?;
        let host = env.var("DB_HOST").unwrap_or_else(|| "localhost".into());
        url.set_host(Some(&host))
            .map_err(|e| ConfigError::Invalid {
                name: "DB_HOST",
                reason: format!("{host:?}: {e}"),
            })?;
        let port: u16 = parse(env, "DB_PORT", 5432)?;
        let _ = url.set_port(Some(port));
        let _ = url.set_username(&env.var("DB_USER").unwrap_or_else(|| "postgres".into()));
        if let Some(password) = env.var("DB_PASSWORD") {
            let _ = url.set_password(Some(&password));
        }
        url.set_path(&env.var("DB_NAME").unwrap_or_else(|| "nexuma".into()));
        return Ok(DatabaseTarget::Postgres(url.into()));
    }
    Ok(DatabaseTarget::Sqlite(data_dir.join("nexuma.db")))
}

fn kv_target(env: &impl Env) -> Result<KvTarget, ConfigError> {
    if let Some(url) = env.var("REDIS_URL") {
        if url == "memory://" || url == "memory" {
            return Ok(KvTarget::Memory);
        }
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            return Ok(KvTarget::Redis(url));
        }
        return Err(ConfigError::Invalid {
            name: "REDIS_URL",
            reason: "must start with redis://, rediss:// or be memory://".into(),
        });
    }
    let names = ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"];
    if names.iter().any(|n| env.var(n).is_some()) {
        let host = env.var("REDIS_HOST").unwrap_or_else(|| "localhost".into());
        let port: u16 = parse(env, "REDIS_PORT", 6379)?;
        let db: u32 = parse(env, "REDIS_DB", 0)?;
        let mut url = url::Url::parse("redis://localhost").map_err(|e| ConfigError::Invalid {
            name: "REDIS_HOST",
            reason: e.to_string(),
        })?;
        url.set_host(Some(&host))
            .map_err(|e| ConfigError::Invalid {
                name: "REDIS_HOST",
                reason: format!("{host:?}: {e}"),
            })?;
        let _ = url.set_port(Some(port));
        if let Some(password) = env.var("REDIS_PASSWORD") {
            let _ = url.set_password(Some(&password));
        }
        url.set_path(&format!("/{db}"));
        return Ok(KvTarget::Redis(url.into()));
    }
    Ok(KvTarget::Memory)
}

fn public_url(env: &impl Env, port: u16, https: bool) -> Result<String, ConfigError> {
    let Some(raw) = env.var("PUBLIC_URL") else {
        let scheme = if https { "https" } else { "http" };
        return Ok(format!("{scheme}://localhost:{port}"));
    };
    base_url("PUBLIC_URL", &raw)
}

/// The Bot API's base URL: Telegram's unless a stand-in is named (tests, a local Bot API server).
fn telegram_api_url(env: &impl Env) -> Result<String, ConfigError> {
    match env.var("TELEGRAM_API_URL") {
        Some(raw) => base_url("TELEGRAM_API_URL", &raw),
        None => Ok("https://api.telegram.org".into()),
    }
}

/// An http(s) URL with a host, without the trailing slash.
fn base_url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{raw:?}: {e}"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("{raw:?} must be an http(s) URL with a host"),
        });
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// PEM files of the Core's certificate chain and private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first (`TLS_CERT_FILE`).
    pub cert: PathBuf,
    /// The private key of the leaf (`TLS_KEY_FILE`).
    pub key: PathBuf,
}

/// Both files or neither: one alone is most likely a typo, and serving plain HTTP then would
/// hide it.
fn tls_files(env: &impl Env) -> Result<Option<TlsFiles>, ConfigError> {
    match (env.var("TLS_CERT_FILE"), env.var("TLS_KEY_FILE")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        })),
        (Some(_), None) => Err(ConfigError::Invalid {
            name: "TLS_KEY_FILE",
            reason: "missing while TLS_CERT_FILE is set; HTTPS needs both".into(),
        }),
        (None, Some(_)) => Err(ConfigError::Invalid {
            name: "TLS_CERT_FILE",
            reason: "missing while TLS_KEY_FILE is set; HTTPS needs both".into(),
        }),
    }
}

fn trusted_proxies(env: &impl Env) -> Result<Vec<std::net::IpAddr>, ConfigError> {
    let raw = env.var("TRUSTED_PROXIES").unwrap_or_default();
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|_| ConfigError::Invalid {
                name: "TRUSTED_PROXIES",
                reason: format!("{s:?} is not an IP address"),
            })
        })
        .collect()
}

fn cors_origins(env: &impl Env) -> Option<Vec<String>> {
    let raw = env.var("CORS_ORIGINS").unwrap_or_else(|| "*".into());
    let origins: Vec<String> = raw
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_string())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() || origins.iter().any(|o| o == "*") {
        None
    } else {
        Some(origins)
    }
}

/// Hides the password of a connection URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.into()
        }
        Err(_) => "<unparseable url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_set_runs_embedded() {
        let c = Config::from_env(&[("X", "")]).expect("config");
        assert_eq!(c.port, 3000);
        assert_eq!(
            c.database,
            DatabaseTarget::Sqlite(PathBuf::from("./data/nexuma.db"))
        );
        assert_eq!(c.kv.target, KvTarget::Memory);
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(15 * 60));
        assert_eq!(c.tokens.refresh_ttl, Duration::from_secs(7 * 86400));
        assert!(c.cors_origins.is_none());
        assert_eq!(c.public_url, "http://localhost:3000");
    }

    #[test]
    fn component_uploads_have_their_own_body_limit() {
        let c = Config::from_env(&[("BODY_LIMIT_BYTES", "1024")]).expect("config");
        assert_eq!(c.body_limit, 1024);
        assert_eq!(c.component_upload_limit, 32 * 1024 * 1024, "the default");
        let c = Config::from_env(&[("COMPONENT_UPLOAD_LIMIT_BYTES", "5000000")]).expect("config");
        assert_eq!(c.component_upload_limit, 5_000_000);
        assert_eq!(c.body_limit, 1024 * 1024, "other routes keep theirs");
        let err = Config::from_env(&[("COMPONENT_UPLOAD_LIMIT_BYTES", "big")]).expect_err("bad");
        assert!(
            err.to_string().contains("COMPONENT_UPLOAD_LIMIT_BYTES"),
            "{err}"
        );
    }

    #[test]
    fn public_url_is_checked_and_trimmed() {
        let c = Config::from_env(&[("PUBLIC_URL", "https://vpn.example.com/")]).expect("config");
        assert_eq!(c.public_url, "https://vpn.example.com");
        let err = Config::from_env(&[("PUBLIC_URL", "vpn.example.com")]).expect_err("no scheme");
        assert!(err.to_string().contains("PUBLIC_URL"), "{err}");
    }

    #[test]
    fn telegram_api_url_defaults_to_telegram_and_is_checked() {
        let c = Config::from_env(&[]).expect("config");
        assert_eq!(c.telegram.api_url, "https://api.telegram.org");
        let c = Config::from_env(&[("TELEGRAM_API_URL", "http://127.0.0.1:8081/")])
            .expect("a local Bot API server");
        assert_eq!(c.telegram.api_url, "http://127.0.0.1:8081");
        let err = Config::from_env(&[("TELEGRAM_API_URL", "ftp://x")]).expect_err("not http");
        assert!(err.to_string().contains("TELEGRAM_API_URL"), "{err}");
    }

    #[test]
    fn db_and_redis_variables_select_servers() {
        let c = Config::from_env(&[
            ("DB_HOST", "db.internal"),
            ("DB_PASSWORD", "p@ss"),
            ("REDIS_HOST", "redis"),
            ("REDIS_DB", "2"),
        ])
        .expect("config");
        assert_eq!(
            c.database,
            DatabaseTarget::Postgres("postgres://postgres:p%40ss@db.internal:5432/nexuma".into())
        );
        assert_eq!(c.kv.target, KvTarget::Redis("redis://redis:6379/2".into()));
    }

    #[test]
    fn urls_win_over_parts() {
        let c = Config::from_env(&[
            ("DATABASE_URL", "sqlite://./x.db"),
            ("DB_HOST", "db"),
            ("REDIS_URL", "memory://"),
            ("REDIS_HOST", "redis"),
        ])
        .expect("config");
        assert_eq!(c.database, DatabaseTarget::Sqlite(PathBuf::from("./x.db")));
        assert_eq!(c.kv.target, KvTarget::Memory);
    }

    #[test]
    fn node_env_is_development_or_production_exactly() {
        for bad in ["Production", "prod", "staging"] {
            let err = Config::from_env(&[("NODE_ENV", bad)]).expect_err(bad);
            assert!(err.to_string().starts_with("NODE_ENV is invalid"), "{err}");
        }
        let dev = Config::from_env(&[("NODE_ENV", "development")]).expect("development");
        assert!(!dev.production);
        assert!(
            dev.jwt_secret.is_none(),
            "development generates its secrets"
        );
    }

    #[test]
    fn metrics_are_hidden_in_production_unless_a_token_is_set() {
        let long = "x".repeat(40);
        let other = "y".repeat(40);
        let prod = [
            ("NODE_ENV", "production"),
            ("JWT_SECRET", long.as_str()),
            ("JWT_REFRESH_SECRET", other.as_str()),
        ];
        assert_eq!(
            Config::from_env(&prod).expect("valid").metrics,
            MetricsAccess::Hidden
        );
        let with_token = [
            ("NODE_ENV", "production"),
            ("JWT_SECRET", long.as_str()),
            ("JWT_REFRESH_SECRET", other.as_str()),
            ("METRICS_TOKEN", "scrape-me"),
        ];
        assert_eq!(
            Config::from_env(&with_token).expect("valid").metrics,
            MetricsAccess::Bearer("scrape-me".into())
        );
        let dev = Config::from_env(&[("NODE_ENV", "development")]).expect("valid");
        assert_eq!(dev.metrics, MetricsAccess::Open);
    }

    #[test]
    fn production_refuses_missing_secrets_and_names_the_variable() {
        let err = Config::from_env(&[("NODE_ENV", "production")]).expect_err("must refuse");
        assert!(err.to_string().contains("set JWT_SECRET"), "{err}");
        let long = "a".repeat(40);
        let err = Config::from_env(&[("NODE_ENV", "production"), ("JWT_SECRET", &long)])
            .expect_err("must refuse");
        assert!(err.to_string().contains("set JWT_REFRESH_SECRET"), "{err}");
        let other = "b".repeat(40);
        Config::from_env(&[
            ("NODE_ENV", "production"),
            ("JWT_SECRET", &long),
            ("JWT_REFRESH_SECRET", &other),
        ])
        .expect("long distinct secrets are accepted");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Config::from_env(&[("PORT", "eighty")]).expect_err("bad port");
        assert!(err.to_string().starts_with("PORT is invalid"), "{err}");
        let err = Config::from_env(&[("JWT_EXPIRES_IN", "soon")]).expect_err("bad duration");
        assert!(err.to_string().contains("JWT_EXPIRES_IN"), "{err}");
        let err = Config::from_env(&[("DATABASE_URL", "mysql://x")]).expect_err("bad url");
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
        let err = Config::from_env(&[("COMPONENT_MEMORY_MB", "4")]).expect_err("too small");
        assert!(err.to_string().contains("COMPONENT_MEMORY_MB"), "{err}");
        let err = Config::from_env(&[("MAX_CONNECTIONS", "0")]).expect_err("no connections");
        assert!(err.to_string().contains("MAX_CONNECTIONS"), "{err}");
        let err = Config::from_env(&[("COMPONENT_TIMEOUT_MS", "0")]).expect_err("no time");
        assert!(err.to_string().contains("COMPONENT_TIMEOUT_MS"), "{err}");
    }

    #[test]
    fn cors_list_is_trimmed() {
        let c = Config::from_env(&[("CORS_ORIGINS", "https://a.example/, https://b.example")])
            .expect("config");
        assert_eq!(
            c.cors_origins,
            Some(vec![
                "https://a.example".to_string(),
                "https://b.example".to_string()
            ])
        );
    }
}
