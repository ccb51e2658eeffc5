//! Pull mode (`nexuma-node pull`): the agent talks to the Core's private `/node/*` API as
//! docs/node-protocol.md says. It registers once with a one-time code (`pull.json`), sends
//! heartbeats, fetches and applies new config revisions and carries out ops (`heartbeat.rs`),
//! reports usage exactly once through an on-disk spool (`reports.rs`, `spool.rs`), and
//! passes on session events and errors, best effort (`outbox.rs`).

pub mod control;
mod heartbeat;
pub mod identity;
mod outbox;
pub mod protocol;
mod reports;
pub mod sessions;
pub mod spool;
pub mod state;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::load::LoadSampler;
use crate::node::Node;
use crate::proxy::Flavor;
use control::{ControlClient, ControlError};
use identity::Identity;
use protocol::{ErrorReport, Register, PROTOCOL};
use spool::{Spool, SpoolError};
use state::PullState;

/// Wait between tries while the Core refuses the key (or speaks another protocol).
const SLOW_RETRY: Duration = Duration::from_secs(60);

/// Everything pull mode needs besides the node.
#[derive(Clone)]
pub struct PullSettings {
    /// The Core's public base URL (`https://…`, or `http://…` in tests).
    pub core_url: String,
    pub data_dir: PathBuf,
    /// One-time registration code, used when the node has no key (or its key was revoked).
    pub code: Option<String>,
    /// SHA-256 of a self-signed Core's certificate.
    pub pin: Option<[u8; 32]>,
    pub heartbeat: Duration,
    pub report: Duration,
    /// The core's version line (`V2Ray 4.34.0 …`).
    pub core_version: String,
    pub flavor: Flavor,
    pub hostname: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(
        "this node is not registered ({path} is missing) and has no registration code: \
         set NEXUMA_NODE_CODE to a code made with POST /admin/nodes/:id/registration-code"
    )]
    NoCode { path: String },
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("cannot keep {path}: {source}")]
    State {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// Registers if need be, applies the stored config again, then heartbeats, reports and
/// forwards events until the future is dropped. Returns only for what no retry can mend (no
/// code and no key, a refused first code, unreadable state files).
pub async fn run(
    node: Arc<Node>,
    settings: PullSettings,
    load: LoadSampler,
) -> Result<(), PullError> {
    let control = ControlClient::new(&settings.core_url, settings.pin)?;
    let dir = &settings.data_dir;
    let mut code = settings.code.clone();
    let id_path = dir.join("pull.json");
    let state_error = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| PullError::State { path, source }
    };
    let identity = match Identity::load(&id_path).map_err(state_error(&id_path))? {
        Some(mut identity) => {
            if identity.core_url != settings.core_url {
                tracing::warn!(
                    stored = %identity.core_url,
                    given = %settings.core_url,
                    "the Core URL changed; keeping the node's key for the new URL"
                );
                identity.core_url = settings.core_url.clone();
                identity.save(&id_path).map_err(state_error(&id_path))?;
            }
            tracing::info!(node_id = %identity.node_id, "registered node");
            identity
        }
        None => {
            let Some(first) = code.take() else {
                return Err(PullError::NoCode {
                    path: id_path.display().to_string(),
                });
            };
            register_until_done(&control, &settings, &first).await?
        }
    };
    // Opened before the node runs anything of pull mode: what the journals hold now (push
    // mode's counters in the same data dir) counts as reported.
    let users = Spool::open(&dir.join("usage.json"), || node.user_totals())?;
    let outbounds = Spool::open(&dir.join("outbound-usage.json"), || node.outbound_totals())?;
    let state_path = dir.join("pull-state.json");
    let state = PullState::load(&state_path).map_err(state_error(&state_path))?;
    let events = node.watch();
    let (notices, notices_rx) = mpsc::unbounded_channel();
    let shared = Shared {
        node,
        control,
        settings,
        load,
        identity: Mutex::new(identity),
        revoked: AtomicBool::new(false),
        code: Mutex::new(code),
        notices,
    };
    let progress = shared.resume(state).await;
    tokio::join!(
        shared.heartbeats(progress),
        shared.reports(users, outbounds),
        shared.forward(events, notices_rx),
    );
    Ok(())
}

/// Registers with `code`, retrying while the Core cannot be reached.
async fn register_until_done(
    control: &ControlClient,
    settings: &PullSettings,
    code: &str,
) -> Result<Identity, PullError> {
    let mut wait = Duration::from_secs(1);
    loop {
        match register(control, settings, code).await {
            Ok(identity) => return Ok(identity),
            Err(e @ (ControlError::InvalidCode | ControlError::UnsupportedProtocol(_))) => {
                return Err(e.into())
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_secs = wait.as_secs(), "registration failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(SLOW_RETRY);
            }
        }
    }
}

/// One registration; the new identity is on disk before it is used.
async fn register(
    control: &ControlClient,
    settings: &PullSettings,
    code: &str,
) -> Result<Identity, ControlError> {
    let registered = control
        .register(&Register {
            protocol: PROTOCOL,
            code,
            hostname: &settings.hostname,
            agent_version: env!("CARGO_PKG_VERSION"),
            core_version: &settings.core_version,
            core_flavor: settings.flavor.name(),
            capabilities: crate::proxy::Capabilities::of(settings.flavor),
        })
        .await?;
    let identity = Identity {
        node_id: registered.node_id,
        key: registered.key,
        core_url: settings.core_url.clone(),
    };
    let path = settings.data_dir.join("pull.json");
    identity
        .save(&path)
        .map_err(|e| ControlError::Setup(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(node_id = %identity.node_id, "registered with the Core");
    Ok(identity)
}

/// What the pull loops share.
struct Shared {
    node: Arc<Node>,
    control: ControlClient,
    settings: PullSettings,
    load: LoadSampler,
    identity: Mutex<Identity>,
    /// Set while the Core refuses the key: reports wait (on disk) until a key works again.
    revoked: AtomicBool,
    /// The registration code, until a registration used or refused it.
    code: Mutex<Option<String>>,
    /// Errors for `POST /node/error`.
    notices: mpsc::UnboundedSender<ErrorReport>,
}

impl Shared {
    fn key(&self) -> String {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .key
            .clone()
    }

    fn node_id(&self) -> String {
        self.identity
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .node_id
            .clone()
    }

    fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::SeqCst)
    }

    /// The Core refused the key: said clearly, once until a key works again.
    fn mark_revoked(&self) {
        if !self.revoked.swap(true, Ordering::SeqCst) {
            tracing::error!(
                node_id = %self.node_id(),
                "the Core refuses this node's key (revoked, or the node was deleted); \
                 usage stays on disk until a key works again"
            );
        }
    }

    /// The key was refused: register again if a code is at hand (the heartbeat loop alone
    /// does this). Returns whether a new key is in place.
    async fn key_refused(&self) -> bool {
        self.mark_revoked();
        let code = self.code.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(code) = code else {
            tracing::error!(
                retry_secs = SLOW_RETRY.as_secs(),
                "no registration code left: restart the agent with a new NEXUMA_NODE_CODE; \
                 trying the key again slowly meanwhile"
            );
            return false;
        };
        match register(&self.control, &self.settings, &code).await {
            Ok(identity) => {
                *self.identity.lock().unwrap_or_else(|p| p.into_inner()) = identity;
                self.revoked.store(false, Ordering::SeqCst);
                true
            }
            Err(e) => {
                tracing::error!(
                    error = %e,
                    retry_secs = SLOW_RETRY.as_secs(),
                    "registering again failed: restart the agent with a new NEXUMA_NODE_CODE; \
                     trying the key again slowly meanwhile"
                );
                if matches!(e, ControlError::Transport(_)) {
                    // Not spent: the Core never saw it.
                    *self.code.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
                }
                false
            }
        }
    }

    fn notice(&self, kind: &'static str, message: String) {
        let _ = self.notices.send(ErrorReport {
            kind,
            message,
            at: unix_ms(SystemTime::now()),
        });
    }
}

/// Unix milliseconds.
pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
