//! The command line: every setting, documented in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The environment variable that holds the access key (push mode).
pub const KEY_ENV: &str = "NEXUMA_NODE_KEY";
/// The environment variable that holds the one-time registration code (pull mode).
pub const CODE_ENV: &str = "NEXUMA_NODE_CODE";
/// Seconds between heartbeats in pull mode unless told otherwise (the node simulator,
/// testkit's `fleet`, uses the same).
pub const DEFAULT_HEARTBEAT_SECS: u64 = 10;
/// Seconds between usage reports in pull mode unless told otherwise.
pub const DEFAULT_REPORT_SECS: u64 = 10;

#[derive(Parser, Debug)]
#[command(
    name = "nexuma-node",
    version,
    about = "Nexuma node agent: supervises the xray/v2ray core, changes its users live over gRPC, \
             counts traffic without loss; serves the Node API over TLS (serve) or follows the \
             Core's node protocol (pull)",
    after_help = "Environment:\n  NEXUMA_NODE_KEY  serve: the access key every Node API request must carry in \
                  `x-node-auth-key` (required; kept out of the command line on purpose)\n  \
                  NEXUMA_NODE_CODE pull: the one-time registration code\n  \
                  RUST_LOG         log filter (default `info`); LOG_FORMAT=json for JSON lines"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Push mode: serve the Node API and run the core as a Node Manager drives it.
    Serve(ServeArgs),
    /// Pull mode: register with the Core, then follow its config and report usage to it.
    Pull(PullArgs),
}

/// Settings of the core, the same in both modes.
#[derive(Args, Debug, Clone)]
pub struct CoreArgs {
    /// Folder for the agent's files: core config, traffic journals, state (and the TLS
    /// certificate in push mode, the registration and usage spool in pull mode).
    #[arg(long, env = "NEXUMA_NODE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The proxy core binary (Xray-core or v2ray 4). Default: `xray` on PATH, else `v2ray`.
    #[arg(long, env = "NEXUMA_NODE_CORE_BIN")]
    pub core_bin: Option<PathBuf>,

    /// gRPC package prefix of the core (`xray.` or `v2ray.core.`). Default: from the core's
    /// version output.
    #[arg(long, env = "NEXUMA_NODE_GRPC_PREFIX")]
    pub grpc_prefix: Option<String>,

    /// Loopback port of the core's gRPC API; 0 picks a free one at start, below the kernel's
    /// ephemeral range (where the node's outgoing connections never take it).
    #[arg(long, env = "NEXUMA_NODE_API_PORT", default_value_t = 0)]
    pub api_port: u16,

    /// Seconds between traffic polls (at most this much traffic is lost if the core dies).
    #[arg(long, env = "NEXUMA_NODE_POLL_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_secs: u64,
}

#[derive(Args, Debug, Clone)]
#[command(after_help = "Environment:\n  NEXUMA_NODE_KEY  the access key (required)")]
pub struct ServeArgs {
    /// Address and port of the Node API (HTTPS only).
    #[arg(long, env = "NEXUMA_NODE_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub core: CoreArgs,

    /// JSON array of inbound objects in the core's own config shape, client lists empty; every
    /// user is added to every inbound. Re-read on `POST /node/start` and on SIGHUP.
    #[arg(long, env = "NEXUMA_NODE_INBOUNDS")]
    pub inbounds: PathBuf,

    /// PEM certificate chain for the Node API, instead of the self-signed one.
    #[arg(long, env = "NEXUMA_NODE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "NEXUMA_NODE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Extra DNS names or IPs for the self-signed certificate (repeatable); used only when the
    /// certificate is first made.
    #[arg(
        long = "tls-name",
        env = "NEXUMA_NODE_TLS_NAMES",
        value_delimiter = ','
    )]
    pub tls_names: Vec<String>,
}

#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Environment:\n  NEXUMA_NODE_CODE  the one-time registration code (needed until the node has \
                  registered, and again after its key is revoked)"
)]
pub struct PullArgs {
    /// The Core's public base URL (`https://…`; `http://` only on a trusted network).
    #[arg(long, env = "NEXUMA_NODE_CORE_URL")]
    pub core_url: String,

    #[command(flatten)]
    pub core: CoreArgs,

    /// Seconds between heartbeats (the Core counts a node silent for 60 s as down).
    #[arg(long, env = "NEXUMA_NODE_HEARTBEAT_SECS", default_value_t = DEFAULT_HEARTBEAT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_secs: u64,

    /// Seconds between usage reports.
    #[arg(long, env = "NEXUMA_NODE_REPORT_SECS", default_value_t = DEFAULT_REPORT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub report_secs: u64,

    /// SHA-256 of the Core's certificate (64 hex digits, `:` allowed), for a self-signed Core:
    /// that certificate is then trusted whatever its issuer or names.
    #[arg(long, env = "NEXUMA_NODE_CORE_PIN")]
    pub core_pin: Option<String>,

    /// The one-time registration code. Less safe than NEXUMA_NODE_CODE: a command line is
    /// visible to every user of the machine.
    #[arg(long, env = CODE_ENV, hide_env_values = true)]
    pub code: Option<String>,
}
