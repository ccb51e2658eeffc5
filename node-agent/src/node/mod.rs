//! The node: what the Node API drives. It owns the core's lifecycle (start, stop, restart with
//! backoff when it dies, config replacement with rollback), the user set, and traffic polling.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::credential::{account_for, email_for};
use crate::grpc::{ApiError, CoreApi};
use crate::proxy::config::ConfigError;
use crate::proxy::inbound::{self, InboundError};
use crate::proxy::{CoreConfig, CoreProcess, Flavor, Inbound};
use crate::state::DesiredState;
use crate::traffic::{Bytes, Traffic, TrafficError};

mod supervisor;
mod users;

/// Everything the node needs to run a core.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    pub core_bin: PathBuf,
    pub flavor: Flavor,
    /// `xray.` or `v2ray.core.`.
    pub grpc_prefix: String,
    pub inbounds_path: PathBuf,
    pub data_dir: PathBuf,
    /// Loopback port of the core's API (non-zero).
    pub api_port: u16,
    pub poll_interval: Duration,
}

/// The seed's node status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Starting,
    Running,
    Stopping,
    Stopped,
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

enum CoreEvent {
    Exited { generation: u64, status: String },
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
    users: BTreeMap<String, String>,
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
    events: mpsc::UnboundedSender<CoreEvent>,
}

impl Node {
    /// Opens the node over its data dir and starts its background tasks: the supervisor that
    /// restarts a dead core, the traffic poller, and the resumption of a start in force.
    pub fn open(settings: NodeSettings) -> Result<Arc<Node>, NodeError> {
        std::fs::create_dir_all(&settings.data_dir).map_err(NodeError::State)?;
        let traffic = Traffic::open(&settings.data_dir).map_err(TrafficError::from)?;
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
                users: BTreeMap::new(),
                config,
                inbounds,
                core: None,
                generation: 0,
                failures: 0,
            }),
            api: Mutex::new(None),
            core_pid: AtomicU32::new(0),
            traffic,
            events,
        });
        tokio::spawn(node.clone().supervise(rx));
        tokio::spawn(node.clone().poll_forever());
        Ok(node)
    }

    /// Starts again what was running when the agent last stopped.
    pub async fn resume(&self) -> Result<(), NodeError> {
        let state = DesiredState::load(&self.state_path()).map_err(NodeError::State)?;
        if !state.running {
            return Ok(());
        }
        tracing::info!(users = state.users.len(), "resuming the node as it was");
        let users = state
            .users
            .into_iter()
            .map(|(name, key)| UserSpec { name, key })
            .collect();
        self.start(users).await
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

    /// The inbounds users are served on: those of the config the core runs, or — while no
    /// core runs — those of the inbounds file, which the next start will run.
    pub async fn inbounds(&self) -> Result<Vec<Inbound>, NodeError> {
        let ops = self.ops.lock().await;
        if ops.core.is_some() {
            return Ok(ops.inbounds.clone());
        }
        drop(ops);
        Ok(inbound::load(&self.settings.inbounds_path)?)
    }

    /// `POST /node/start`: run the core with the inbounds file's config (validated first;
    /// replaced only when it changed) and make the user set exactly `users`.
    pub async fn start(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let desired = check_users(users)?;
        let mut ops = self.ops.lock().await;
        if ops.core.is_none() {
            self.set_status(Status::Starting);
        }
        let config_result = self.apply_config(&mut ops).await;
        if ops.core.is_none() {
            self.set_status(if ops.active {
                Status::Starting
            } else {
                Status::Stopped
            });
            return Err(config_result
                .err()
                .unwrap_or(NodeError::Core("core not running".into())));
        }
        ops.active = true;
        let mut gone = Vec::new();
        let mut new = Vec::new();
        for (name, key) in &ops.users {
            if desired.get(name) != Some(key) {
                gone.push(name.clone());
            }
        }
        for (name, key) in &desired {
            if ops.users.get(name) != Some(key) {
                new.push((name.clone(), key.clone()));
            }
        }
        self.traffic.know(desired.keys());
        ops.users = desired;
        let save = self.save_state(&ops);
        self.set_status(Status::Running);
        self.remove_from_core(&ops.inbounds, &gone).await?;
        self.add_to_core(&ops.inbounds, &new).await?;
        tracing::info!(
            users = ops.users.len(),
            added = new.len(),
            removed = gone.len(),
            "node started"
        );
        save?;
        config_result
    }

    /// `POST /node/stop`: read the counters one last time, stop the core, forget the users.
    pub async fn stop(&self) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        self.set_status(Status::Stopping);
        ops.active = false;
        self.shutdown_core(&mut ops).await;
        ops.users.clear();
        let save = self.save_state(&ops);
        self.set_status(Status::Stopped);
        tracing::info!("node stopped");
        save
    }

    /// `POST /users/add`: add users live (idempotent; a changed key replaces the old one).
    pub async fn add_users(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let users = check_users(users)?;
        let mut ops = self.ops.lock().await;
        if !ops.active {
            return Err(NodeError::NotRunning);
        }
        let changed: Vec<String> = users
            .iter()
            .filter(|(n, k)| ops.users.get(*n).is_some_and(|old| old != *k))
            .map(|(n, _)| n.clone())
            .collect();
        let new: Vec<(String, String)> = users
            .iter()
            .filter(|(n, k)| ops.users.get(*n) != Some(*k))
            .map(|(n, k)| (n.clone(), k.clone()))
            .collect();
        self.traffic.know(users.keys());
        ops.users.extend(users);
        let save = self.save_state(&ops);
        self.remove_from_core(&ops.inbounds, &changed).await?;
        self.add_to_core(&ops.inbounds, &new).await?;
        tracing::info!(added = new.len(), users = ops.users.len(), "users added");
        save
    }

    /// `POST /users/del`: remove users live (idempotent).
    pub async fn remove_users(&self, users: Vec<UserSpec>) -> Result<(), NodeError> {
        let users = check_users(users)?;
        let mut ops = self.ops.lock().await;
        if !ops.active {
            return Err(NodeError::NotRunning);
        }
        let names: Vec<String> = users.into_keys().collect();
        for name in &names {
            ops.users.remove(name);
        }
        let save = self.save_state(&ops);
        self.remove_from_core(&ops.inbounds, &names).await?;
        tracing::info!(
            removed = names.len(),
            users = ops.users.len(),
            "users removed"
        );
        save
    }

    /// Re-reads the inbounds file and replaces the config if it changed (SIGHUP).
    pub async fn reload(&self) -> Result<(), NodeError> {
        let mut ops = self.ops.lock().await;
        if !ops.active {
            return Ok(());
        }
        self.apply_config(&mut ops).await
    }

    /// Reads and resets the core's counters into the journal (no-op without a core).
    pub async fn poll(&self) -> Result<usize, NodeError> {
        let api = self.api.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match api {
            Some(api) => Ok(self.traffic.poll(&api).await?),
            None => Ok(0),
        }
    }

    /// Per-user totals after a fresh poll: the node's users and every name with traffic.
    pub async fn user_stats(&self) -> Vec<(String, Bytes)> {
        if let Err(e) = self.poll().await {
            tracing::warn!(error = %e, "stats poll failed; showing the last durable counters");
        }
        let mut totals = self.traffic.totals();
        let ops = self.ops.lock().await;
        for name in ops.users.keys() {
            totals.entry(name.clone()).or_default();
        }
        totals.into_iter().collect()
    }

    /// Stops the core for good (agent shutdown): the start stays in force for the next run.
    pub async fn shutdown(&self) {
        let mut ops = self.ops.lock().await;
        self.shutdown_core(&mut ops).await;
    }

    fn set_status(&self, status: Status) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    fn state_path(&self) -> PathBuf {
        self.settings.data_dir.join("state.json")
    }

    fn save_state(&self, ops: &Ops) -> Result<(), NodeError> {
        let state = DesiredState {
            running: ops.active,
            users: ops.users.clone(),
        };
        state.save(&self.state_path()).map_err(NodeError::State)
    }

    /// Makes the core run the inbounds file's config. A config the core rejects (or that does
    /// not come up) is not applied: a running core keeps its config, a stopped one starts on
    /// the last good config — and the error is still returned.
    async fn apply_config(&self, ops: &mut Ops) -> Result<(), NodeError> {
        let s = &self.settings;
        let candidate = inbound::load(&s.inbounds_path)
            .map(|inb| (CoreConfig::build(&inb, s.api_port), inb))
            .map_err(NodeError::from);
        let failure = match candidate {
            Ok((config, _)) if ops.core.is_some() && ops.config.as_ref() == Some(&config) => {
                return Ok(());
            }
            Ok((config, inbounds)) => {
                let check = s.data_dir.join("core.candidate.json");
                match config.validate(&s.core_bin, s.flavor, &check).await {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&check);
                        return self.replace_config(ops, config, inbounds).await;
                    }
                    Err(e) => NodeError::from(e),
                }
            }
            Err(e) => e,
        };
        tracing::error!(error = %failure, "new core config not applied");
        if ops.core.is_none() && ops.config.is_some() {
            tracing::warn!("starting the core on the last good config");
            self.launch(ops).await?;
            self.add_all(ops).await?;
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
        let had_core = ops.core.is_some();
        self.shutdown_core(ops).await;
        let previous = ops.config.replace(config.clone());
        let previous_inbounds = std::mem::replace(&mut ops.inbounds, inbounds);
        config.write(&path)?;
        let err = match self.launch(ops).await {
            Ok(()) => {
                tracing::info!(inbounds = ops.inbounds.len(), "core config applied");
                return if had_core {
                    self.add_all(ops).await
                } else {
                    Ok(())
                };
            }
            Err(e) => e,
        };
        tracing::error!(error = %err, "core failed on the new config; rolling back");
        if let Some(previous) = previous {
            previous.write(&path)?;
            ops.config = Some(previous);
            ops.inbounds = previous_inbounds;
            self.launch(ops).await?;
            self.add_all(ops).await?;
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

/// Checks a user list from the API: names and keys present, names unique.
fn check_users(users: Vec<UserSpec>) -> Result<BTreeMap<String, String>, NodeError> {
    let mut out = BTreeMap::new();
    for u in users {
        if u.name.is_empty() || u.key.is_empty() {
            return Err(NodeError::BadRequest(
                "every user needs a non-empty `name` and `key`".into(),
            ));
        }
        if out.insert(u.name.clone(), u.key).is_some() {
            return Err(NodeError::BadRequest(format!(
                "user `{}` appears twice",
                u.name
            )));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_checked() {
        let u = |n: &str, k: &str| UserSpec {
            name: n.into(),
            key: k.into(),
        };
        assert!(check_users(vec![u("a", "1"), u("b", "2")]).is_ok());
        assert!(check_users(vec![u("a", "1"), u("a", "2")]).is_err());
        assert!(check_users(vec![u("", "1")]).is_err());
    }
}
