//! `nexuma-node`: the binary edge — CLI, logging, signals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use nexuma_node::api::{self, ApiState};
use nexuma_node::load::LoadSampler;
use nexuma_node::node::{Node, NodeSettings};
use nexuma_node::proxy::{flavor, Flavor};
use nexuma_node::pull::{self, PullSettings};
use nexuma_node::settings::{Cli, Command, CoreArgs, PullArgs, ServeArgs, KEY_ENV};

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
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
    init_logging();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Pull(args) => pull_mode(args).await,
    }
}

/// The core as the settings name it.
struct Core {
    bin: PathBuf,
    flavor: Flavor,
    version: String,
    grpc_prefix: String,
    api_port: u16,
}

async fn core(args: &CoreArgs) -> anyhow::Result<Core> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let bin = match args.core_bin.clone() {
        Some(bin) => bin,
        None => flavor::default_bin()?,
    };
    let (flavor, version) = Flavor::identify(&bin).await?;
    let grpc_prefix = args
        .grpc_prefix
        .clone()
        .unwrap_or_else(|| flavor.grpc_prefix().to_owned());
    let api_port = match args.api_port {
        0 => nexuma_node::proxy::api_port::pick(std::process::id())?,
        port => port,
    };
    tracing::info!(core = %bin.display(), ?flavor, version, grpc_prefix, api_port, "proxy core");
    Ok(Core {
        bin,
        flavor,
        version,
        grpc_prefix,
        api_port,
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let key = std::env::var(KEY_ENV).unwrap_or_default();
    if key.trim().is_empty() {
        bail!("{KEY_ENV} is not set: the Node API refuses to run without an access key");
    }
    if key.len() < 16 {
        tracing::warn!("{KEY_ENV} is shorter than 16 characters; use a long random key");
    }
    let core = core(&args.core).await?;

    let tls_given = args.tls_cert.as_deref().zip(args.tls_key.as_deref());
    let tls = api::tls::identity(&args.core.data_dir, tls_given, &args.tls_names)?;
    if tls.created {
        tracing::info!(path = %tls.cert_path.display(), "self-signed certificate made");
    }
    // Printed on stdout as well, for the operator to pin in the Node Manager.
    println!(
        "nexuma-node TLS certificate SHA-256 fingerprint: {}",
        tls.fingerprint
    );
    tracing::info!(fingerprint = %tls.fingerprint, "TLS certificate");

    let node = Node::open(NodeSettings {
        core_bin: core.bin,
        flavor: core.flavor,
        grpc_prefix: core.grpc_prefix,
        inbounds_path: Some(args.inbounds.clone()),
        data_dir: args.core.data_dir.clone(),
        api_port: core.api_port,
        poll_interval: Duration::from_secs(args.core.poll_secs),
        count_outbounds: false,
    })?;
    let resuming = node.clone();
    tokio::spawn(async move {
        if let Err(e) = resuming.resume().await {
            tracing::error!(error = %e, "could not resume the node");
        }
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "Node API listening (HTTPS)");
    let state = Arc::new(ApiState::new(
        node.clone(),
        key.into_bytes(),
        LoadSampler::start(Duration::from_secs(1)),
    ));

    let mut hup = signal(SignalKind::hangup())?;
    let reloading = node.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: re-reading the inbounds file");
            if let Err(e) = reloading.reload().await {
                tracing::error!(error = %e, "reload failed; the core keeps its config");
            }
        }
    });
    let mut term = signal(SignalKind::terminate())?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    api::serve(listener, tls.config, state, shutdown).await;
    tracing::info!("shutting down: last stats poll, then the core stops");
    node.shutdown().await;
    Ok(())
}

async fn pull_mode(args: PullArgs) -> anyhow::Result<()> {
    let pin = args
        .core_pin
        .as_deref()
        .map(|p| cert_pin::parse(p).context("--core-pin"))
        .transpose()?;
    let code = args.code.clone().filter(|c| !c.trim().is_empty());
    let core = core(&args.core).await?;
    let node = Node::open(NodeSettings {
        core_bin: core.bin,
        flavor: core.flavor,
        grpc_prefix: core.grpc_prefix,
        inbounds_path: None,
        data_dir: args.core.data_dir.clone(),
        api_port: core.api_port,
        poll_interval: Duration::from_secs(args.core.poll_secs),
        count_outbounds: true,
    })?;
    let settings = PullSettings {
        core_url: args.core_url.clone(),
        data_dir: args.core.data_dir.clone(),
        code,
        pin,
        heartbeat: Duration::from_secs(args.heartbeat_secs),
        report: Duration::from_secs(args.report_secs),
        core_version: core.version,
        flavor: core.flavor,
        hostname: sysinfo::System::host_name().unwrap_or_default(),
    };
    tracing::info!(core_url = %args.core_url, pinned = pin.is_some(), "pull mode");
    let mut term = signal(SignalKind::terminate())?;
    let outcome = tokio::select! {
        result = pull::run(node.clone(), settings, LoadSampler::start(Duration::from_secs(1))) => result,
        _ = term.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    tracing::info!("shutting down: last stats poll, then the core stops");
    node.shutdown().await;
    Ok(outcome?)
}
