//! The node: what the modes drive. It owns the core's lifecycle (start, stop, restart with
//! backoff when it dies, config replacement with rollback), the clients in the core, and
//! traffic polling. Push mode (`push.rs`, the Node API) and pull mode (`crate::pull`, the
//! Core's `/node/*` API) both hand it a [`Desired`] state: a layout and an [`Assignment`].

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::credential::{account_for, email_for};
use crate::grpc::{ApiError, CoreApi};
use crate::proxy::config::ConfigError;
use crate::proxy::inbound::{self, InboundError};
use crate::proxy::{capabilities, CoreConfig, CoreProcess, Flavor, Inbound, Layout};
use crate::traffic::{Bytes, Counters, Traffic, TrafficError};

mod clients;
pub mod desired;
mod push;
mod supervisor;

pub use desired::{Assignment, ClientDiff, ClientList, Clients, Desired};

/// Everything the node needs to run a core.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub core_bin: PathBuf,
    pub flavor: Flavor,
    /// `xray.` or `v2ray.core.`.
    pub grpc_prefix: String,
    /// Push mode's inbounds file; `None` in pull mode, where the Core sends the inbounds.
    pub inbounds_path: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Loopback port of the core's API (non-zero).
    pub api_port: u16,
    pub poll_interval: Duration,
    /// Also poll and journal the outbounds' counters (pull mode reports them).
    pub count_outbounds: bool,
}

/// The seed's node status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Starting,
    Running,
    Stopping,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Starting => "Starting",
            Status::Running => "Running",
            Status::Stopping => "Stopping",
            Status::Stopped => "Stopped",
        }
    }
}

/// A user as the Node API sends it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: String,
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("Node not running")]
    NotRunning,
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Inbounds(#[from] InboundError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("core: {0}")]
    Core(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Traffic(#[from] TrafficError),
    #[error("cannot save node state: {0}")]
    State(std::io::Error),
}

/// What the node tells whoever watches it (pull mode reports these to the Core).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// A periodic traffic poll: the user names whose counters moved since the previous one.
    Polled {
        at: SystemTime,
        moved: BTreeSet<String>,
    },
    /// The core exited without being asked to; the supervisor restarts it.
    CoreExited { status: String, at: SystemTime },
}

enum CoreEvent {
    Exited { generation: u64, status: String },
}

/// How [`Node::converge`] treats the clients.
#[derive(Clone, Copy)]
struct Converge {
    /// Add every client again, not only the changed ones.
    readd: bool,
    /// Apply the new assignment even when the layout failed.
    clients_despite_failure: bool,
}

/// A running core and the task that watches it.
struct CoreHandle {
    generation: u64,
    started: Instant,
    stop: oneshot::Sender<()>,
    done: JoinHandle<()>,
}

/// State changed only under the operation lock.
struct Ops {
    /// Whether a start is in force (the seed's "running" as opposed to stopped).
    active: bool,
    /// Who goes into which inbound, as the mode last asked.
    assignment: Assignment,
    /// The clients the running core holds (each one confirmed by AlterInbound); empty while
    /// no core runs, since a fresh core starts with none.
    clients: Clients,
    /// The config in `core.json`: the last one the core accepted and ran.
    config: Option<CoreConfig>,
    inbounds: Vec<Inbound>,
    core: Option<CoreHandle>,
    generation: u64,
    /// Consecutive failed restarts, for the backoff.
    failures: u32,
}

pub struct Node {
    settings: NodeSettings,
    status: Mutex<Status>,
    ops: tokio::sync::Mutex<Ops>,
    api: Mutex<Option<CoreApi>>,
    core_pid: AtomicU32,
    traffic: Traffic,
    outbound_traffic: Option<Traffic>,
    events: mpsc::UnboundedSender<CoreEvent>,
    watcher: Mutex<Option<mpsc::UnboundedSender<NodeEvent>>>,
}

impl Node {
    /// Opens the node over its data dir and starts its background tasks: the supervisor that
    /// restarts a dead core and the traffic poller.
    pub fn open(settings: NodeSettings) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(NodeError::State)?;
        let traffic = Traffic::open(&settings.data_dir).map_err(TrafficError::from)?;
        let outbound_traffic = match settings.count_outbounds {
            true => Some(
                Traffic::open_counting(&settings.data_dir, Counters::Outbounds)
                    .map_err(TrafficError::from)?,
            ),
            false => None,
        };
        let config = std::fs::read(settings.data_dir.join("core.json"))
            .ok()
            .map(CoreConfig);
        let inbounds = config.as_ref().map(inbounds_of).unwrap_or_default();
        let (events, rx) = mpsc::unbounded_channel();
        let node = Arc::new(Node {
            settings,
            status: Mutex::new(Status::Stopped),
            ops: tokio::sync::Mutex::new(Ops {
                active: false,
                assignment: Assignment::default(),
                clients: Clients::default(),
                config,
                inbounds,
                core: None,
                generation: 0,
                failures: 0,
            }),
            api: Mutex::new(None),
            core_pid: AtomicU32::new(0),
            traffic,
            outbound_traffic,
            events,
            watcher: Mutex::new(None),
        });
        tokio::spawn(node.clone().supervise(rx));
        tokio::spawn(node.clone().poll_forever());
        Ok(node)
    }

    /// Events from now on (one watcher; a new call replaces the previous one).
    pub fn watch(&self) -> mpsc::UnboundedReceiver<NodeEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        rx
    }

    pub fn status(&self) -> Status {
        *self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The core's pid while it runs.
    pub fn core_pid(&self) -> Option<u32> {
        match self.core_pid.load(Ordering::SeqCst) {
            0 => None,
            pid => Some(pid),
        }
    }

    pub fn flavor(&self) -> Flavor {
        self.settings.flavor
    }

    /// Durable per-user totals.
    pub fn user_totals(&self) -> crate::traffic::Totals {
        self.traffic.totals()
    }

    /// Durable per-outbound totals (empty unless the node counts outbounds).
    pub fn outbound_totals(&self) -> crate::traffic::Totals {
        self.outbound_traffic
            .as_ref()
            .map(Traffic::totals)
            .unwrap_or_default()
    }

    /// Distinct client names the running core holds.
    pub async fn client_count(&self) -> usize {
        self.ops.lock().await.clients.names().len()
    }

    /// Makes the core run `desired` (pull mode): the layout is checked with the core's test
    /// mode and swapped in (a core restart) only when the config it makes differs from the
    /// running one; clients change live, per inbound. With `readd`, every client is added again
    /// (a resync). A layout the core rejects changes nothing — the last good config keeps
    /// running with its clients — and the error is returned.
    pub async fn apply(&self, desired: Desired, readd: bool) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        self.converge(
            &mut ops,
            Ok(desired.layout),
            desired.assignment,
            Converge {
                readd,
                clients_despite_failure: false,
            },
        )
        .await
    }

    /// Stops and starts the core process; every client is put back. A core that does not come
    /// up again is retried with the supervisor's backoff.
    pub async fn restart_core(&self) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        if !ops.active {
            return Err(NodeError::NotRunning);
        }
        self.set_status(Status::Starting);
        self.shutdown_core(&mut ops).await;
        let result = match self.launch(&mut ops).await {
            Ok(()) => self.sync_clients(&mut ops, false).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.set_status(Status::Running);
                tracing::info!(pid = self.core_pid(), "core restarted on request");
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "core restart failed");
                if ops.core.is_some() {
                    self.set_status(Status::Running);
                } else {
                    ops.failures = ops.failures.saturating_add(1);
                    self.revive(ops).await;
                }
                Err(e)
            }
        }
    }

    /// Reads and resets the core's counters into the journals (no-op without a core).
    pub async fn poll(&self) -> Result<usize, NodeError> {
        let api = self.api.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(api) = api else {
            return Ok(0);
        };
        let moved = self.traffic.poll(&api).await?;
        if let Some(outbounds) = &self.outbound_traffic {
            outbounds.poll(&api).await?;
        }
        Ok(moved)
    }

    /// Stops the core for good (agent shutdown): the start stays in force for the next run.
    pub async fn shutdown(&self) {
        let mut ops = self.ops.lock().await;
        self.shutdown_core(&mut ops).await;
    }

    fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    fn emit(&self, event: NodeEvent) {
        if let Some(tx) = self
            .watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = tx.send(event);
        }
    }

    /// Applies a layout (or, if it cannot be had, keeps or starts the last good config), then
    /// makes the clients those `assignment` gives the inbounds that run. When the layout
    /// failed, `how.clients_despite_failure` decides whether the new assignment still applies
    /// (push mode: its users are the API's, whatever the file holds) or the old one stays
    /// (pull mode: a revision applies whole or not at all).
    async fn converge(
        &self,
        ops: &mut Ops,
        layout: Result<Layout, NodeError>,
        assignment: Assignment,
        how: Converge,
    ) -> Result<(), NodeError> {
        if ops.core.is_none() {
            self.set_status(Status::Starting);
        }
        let layout_result = self.apply_layout(ops, layout).await;
        if ops.core.is_none() {
            self.set_status(if ops.active {
                Status::Starting
            } else {
                Status::Stopped
            });
            return Err(layout_result
                .err()
                .unwrap_or(NodeError::Core("core not running".into())));
        }
        ops.active = true;
        if layout_result.is_ok() || how.clients_despite_failure {
            ops.assignment = assignment;
        }
        self.set_status(Status::Running);
        // With the old assignment this only refills a core started on the last good config.
        let clients_result = self.sync_clients(ops, how.readd).await;
        layout_result.and(clients_result)
    }

    /// Makes the core run `layout`. A layout the core rejects (or that does not come up) is
    /// not applied: a running core keeps its config, a stopped one starts on the last good
    /// config — and the error is still returned.
    async fn apply_layout(
        &self,
        ops: &mut Ops,
        layout: Result<Layout, NodeError>,
    ) -> Result<(), NodeError> {
        let s = &self.settings;
        let failure = match layout {
            // Before the core's test mode, which passes what the core would silently weaken.
            Ok(layout) => match capabilities::check(&layout.inbounds, s.flavor) {
                Err(e) => NodeError::from(ConfigError::from(e)),
                Ok(()) => {
                    let config = CoreConfig::build(&layout, s.api_port);
                    if ops.core.is_some() && ops.config.as_ref() == Some(&config) {
                        return Ok(());
                    }
                    let check = s.data_dir.join("core.candidate.json");
                    match config.validate(&s.core_bin, s.flavor, &check).await {
                        Ok(()) => {
                            let _ = std::fs::remove_file(&check);
                            return self.replace_config(ops, config, layout.inbounds).await;
                        }
                        Err(e) => NodeError::from(e),
                    }
                }
            },
            Err(e) => e,
        };
        tracing::error!(error = %failure, "new core config not applied");
        if ops.core.is_none() && ops.config.is_some() {
            tracing::warn!("starting the core on the last good config");
            self.launch(ops).await?;
        }
        Err(failure)
    }

    /// Swaps in a validated config; rolls back to the previous one if the core fails on it.
    async fn replace_config(
        &self,
        ops: &mut Ops,
        config: CoreConfig,
        inbounds: Vec<Inbound>,
    ) -> Result<(), NodeError> {
        let path = self.settings.data_dir.join("core.json");
        self.shutdown_core(ops).await;
        let previous = ops.config.replace(config.clone());
        let previous_inbounds = std::mem::replace(&mut ops.inbounds, inbounds);
        config.write(&path)?;
        let err = match self.launch(ops).await {
            Ok(()) => {
                tracing::info!(inbounds = ops.inbounds.len(), "core config applied");
                return Ok(());
            }
            Err(e) => e,
        };
        tracing::error!(error = %err, "core failed on the new config; rolling back");
        if let Some(previous) = previous {
            previous.write(&path)?;
            ops.config = Some(previous);
            ops.inbounds = previous_inbounds;
            self.launch(ops).await?;
        }
        Err(err)
    }

    async fn poll_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.settings.poll_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.poll().await {
                Ok(0) => {}
                Ok(moved) => tracing::debug!(users = moved, "traffic polled"),
                Err(e) => tracing::warn!(error = %e, "traffic poll failed"),
            }
            // Taken on every tick (watched or not), so it never grows.
            let moved = self.traffic.take_moved();
            self.emit(NodeEvent::Polled {
                at: SystemTime::now(),
                moved,
            });
        }
    }
}

/// The inbounds a stored config carries (all but the agent's own `api`).
fn inbounds_of(config: &CoreConfig) -> Vec<Inbound> {
    let parsed: Option<Vec<serde_json::Value>> =
        serde_json::from_slice::<serde_json::Value>(&config.0)
            .ok()
            .and_then(|v| v.get("inbounds").cloned())
            .and_then(|v| serde_json::from_value(v).ok());
    let rest: Vec<serde_json::Value> = parsed
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.get("tag").and_then(|t| t.as_str()) != Some("api"))
        .collect();
    inbound::parse(&serde_json::Value::Array(rest).to_string()).unwrap_or_default()
}
