//! The running Core: configuration, capabilities, the component runtime and the loaded set.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;

use crate::cache::ResponseCache;
use crate::components::{self, Components};
use crate::config::Config;
use crate::iface::api::Api;
use crate::iface::db::Database;
use crate::iface::http::Http;
use crate::iface::kv::Store;
use crate::iface::settings::Settings;
use crate::iface::telegram::Telegram;
use crate::iface::tokens::Tokens;
use crate::iface::Capabilities;
use crate::registry::{LoadedSet, Registry};
use crate::runtime::Runtime;

/// One running Core: its configuration, capabilities, loaded components and caches, shared by every
/// connection and job.
pub struct Core {
    /// The configuration read at start; never changes while running.
    pub config: Config,
    /// The host interfaces' backends, shared by every instance and the host's own routes.
    pub caps: Arc<Capabilities>,
    /// The wasmtime engine and instance pool every component runs in.
    pub runtime: Arc<Runtime>,
    /// The served set of components and its route table, swapped whole on a change.
    pub registry: Registry,
    /// Which revision of the database's active components this replica serves.
    pub components: Components,
    /// Answers components let the host keep.
    pub responses: ResponseCache,
    /// HTTPS certificate and key, when `TLS_CERT_FILE`/`TLS_KEY_FILE` are set.
    pub tls: Option<crate::tls::Tls>,
}

/// How long start-up waits for the database (e.g. a compose stack still starting).
const DB_WAIT: Duration = Duration::from_secs(30);

/// Opens the database and applies pending migrations, retrying while it is unreachable.
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let db = Database::open(&config.database).context("cannot open the database")?;
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    loop {
        match db.migrate().await {
            Ok(()) => return Ok(db),
            Err(sqlx::migrate::MigrateError::Execute(e))
                if is_unreachable(&e) && started.elapsed() < DB_WAIT =>
            {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(4));
            }
            Err(e) => {
                return Err(e).context(format!(
                    "database migrations failed ({})",
                    config.describe_stores().0
                ))
            }
        }
    }
}

fn is_unreachable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    )
}

/// Opens the stores and builds everything components reach through the host interfaces, each
/// from its own part of the configuration.
pub async fn capabilities(config: &Config) -> anyhow::Result<Capabilities> {
    let (db_desc, kv_desc) = config.describe_stores();
    let db = open_database(config).await?;
    let kv = Store::connect(&config.kv)
        .await
        .with_context(|| format!("cannot connect to the key-value store ({kv_desc})"))?;
    tracing::info!(database = %db_desc, kv = %kv_desc, "stores ready");
    let http = Http::new().context("cannot build the outbound HTTP client")?;
    let secrets = crate::secrets::resolve(config, &db)
        .await
        .context("cannot read the generated token secrets")?;
    Ok(Capabilities {
        db,
        kv,
        tokens: Tokens::new(&config.tokens, &secrets),
        telegram: Telegram::new(&config.telegram, http.roots_client()),
        http,
        settings: Settings::new(config.public_url.clone()),
        api: Api::default(),
    })
}

impl Core {
    /// Opens the stores, migrates the database, loads the components; any failure stops the
    /// start.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Core>> {
        // First: a bad certificate should stop the start before any store is touched.
        let tls = config.tls.as_ref().map(crate::tls::Tls::load).transpose()?;
        let caps = Arc::new(capabilities(&config).await?);
        let runtime = Runtime::new(config.limits.clone(), config.cache_dir.clone())?;
        let responses = ResponseCache::new(config.response_cache_bytes);
        crate::metrics::announce(&config.metrics);
        let core = Arc::new(Core {
            responses,
            components: Components::new(config.port),
            config,
            caps,
            runtime,
            // Empty until the active set is loaded below, before anything is served.
            registry: Registry::new(LoadedSet::new(Vec::new())?),
            tls,
        });
        // Components' in-process calls (`api`) are served by this Core's pipeline.
        let server: Weak<Core> = Arc::downgrade(&core);
        core.caps.api.serve_with(server);
        // Subscribed before the first load, so a change committed meanwhile is not missed.
        let announcements = components::follow::subscribe(&core);
        components::load(&core).await.with_context(|| {
            format!(
                "cannot load the components (folder {})",
                core.config.components_dir.display()
            )
        })?;
        components::follow::spawn(Arc::clone(&core), announcements);
        components::decide::spawn(Arc::clone(&core));
        Ok(core)
    }

    /// Registers the components folder again and swaps the active set in; the old set keeps
    /// serving when anything fails to load.
    pub async fn reload(&self) -> Result<usize, components::Error> {
        components::load(self).await
    }
}
