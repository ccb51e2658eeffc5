//! `nexuma`: the Nexuma Core. Subcommands share one configuration read from the environment.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};

use nexuma_host::app::{self, Core};
use nexuma_host::config::{Config, ProcessEnv};
use nexuma_host::{admin, cli, server};

// Every request moves a component's answer and its host-call results through many short-lived
// buffers across two tokio workers; mimalloc's per-thread free lists take that churn at a
// fraction of glibc malloc's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`, its place in `mimalloc.h`'s option enum (the -sys crate
/// names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Gives memory a request freed back to the system at once, not after mimalloc's default second:
/// under sustained cold `/sub` load that second's churn (answers the cache evicted, instance
/// buffers) stayed resident, 87 of the 245 MiB measured; requests per second did not change.
fn purge_freed_memory_at_once() {
    // SAFETY: sets one of mimalloc's options to a value its documentation allows (0: purge at
    // once); mimalloc reads options atomically.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
}

#[derive(Parser)]
#[command(
    name = "nexuma",
    version,
    about = "Nexuma Core: the control plane for xray-based VPN nodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Write a consistent snapshot of the database to FILE (JSON lines; safe while serving).
    Backup { file: std::path::PathBuf },
    /// Restore FILE into an empty database (migrations are applied first).
    Restore { file: std::path::PathBuf },
    /// Manage administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// List, upload, activate (all at once or as a canary), promote and roll back components of a
    /// running Core (its admin API).
    Components(nexuma_host::cli::components::Args),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account, or make an existing account an active admin with this password.
    Create {
        #[arg(long)]
        email: String,
        /// The password; prefer NEXUMA_ADMIN_PASSWORD so it stays out of the process list.
        #[arg(long, env = "NEXUMA_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long)]
        name: Option<String>,
    },
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,wasmtime=warn,cranelift=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    purge_freed_memory_at_once();
    init_logging();
    let cli = Cli::parse();
    // Read per command: `components` talks to a Core over HTTP and needs none of its settings
    // (a production Core's secrets are not in the operator's shell).
    let config = || Config::from_env(&ProcessEnv);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config()?).await,
        Command::Backup { file } => run_backup(&config()?, &file).await,
        Command::Restore { file } => run_restore(&config()?, &file).await,
        Command::Components(args) => {
            std::process::exit(cli::finish(cli::components::run(args).await))
        }
        Command::Migrate => {
            let config = config()?;
            app::open_database(&config).await?;
            tracing::info!(database = %config.describe_stores().0, "migrations applied");
            Ok(())
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    email,
                    password,
                    name,
                },
        } => {
            let config = config()?;
            let db = app::open_database(&config).await?;
            let kv = nexuma_host::iface::kv::Store::connect(&config.kv).await?;
            let accounts = nexuma_host::account::Accounts { db: &db, kv: &kv };
            let outcome = admin::create(&accounts, &email, &password, name.as_deref()).await?;
            println!("{outcome}");
            Ok(())
        }
    }
}

/// Opens the database without migrating it: the Core serving it may be older than this binary.
async fn run_backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let db = nexuma_host::iface::db::Database::open(&config.database)
        .context("cannot open the database")?;
    let summary = nexuma_host::backup::backup(&db, file)
        .await
        .with_context(|| format!("backup to {} failed", file.display()))?;
    tracing::info!(file = %file.display(), tables = summary.tables, rows = summary.rows,
        migration = summary.migration, "backup written");
    Ok(())
}

async fn run_restore(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let db = app::open_database(config).await?;
    let summary = nexuma_host::backup::restore(&db, file)
        .await
        .with_context(|| format!("restore from {} failed", file.display()))?;
    tracing::info!(file = %file.display(), tables = summary.tables, rows = summary.rows,
        migration = summary.migration, "backup restored");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let addr: SocketAddr = format!("{}:{}", config.bind, config.port)
        .parse()
        .with_context(|| {
            format!(
                "BIND/PORT do not form an address: {}:{}",
                config.bind, config.port
            )
        })?;
    let core = Core::start(config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let routes: usize = core
        .registry
        .current()
        .components
        .iter()
        .map(|c| c.routes.len())
        .sum();
    tracing::info!(%addr, routes, production = core.config.production, "nexuma listening");
    spawn_reload_on_sighup(Arc::clone(&core))?;
    nexuma_host::jobs::spawn(Arc::clone(&core));
    let mut term = signal(SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    };
    server::serve(core, listener, shutdown).await;
    Ok(())
}

/// SIGHUP loads the components folder again and swaps the new set in atomically, and re-reads
/// the TLS certificate and key (a renewal).
fn spawn_reload_on_sighup(core: Arc<Core>) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match core.reload().await {
                Ok(count) => tracing::info!(components = count, "components reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "reload failed; the previous components keep serving")
                }
            }
            if let Some(tls) = &core.tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("TLS certificate reloaded"),
                    Err(e) => tracing::error!(
                        error = %e,
                        "TLS reload failed; the previous certificate keeps serving"
                    ),
                }
            }
        }
    });
    Ok(())
}
