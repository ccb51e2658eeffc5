//! A fleet of simulated pull agents against one Core (issue 20): the node-protocol load of
//! many nodes without running a proxy core for each. Each agent is a task that speaks the real
//! agent's protocol through the agent's own client and wire types (`nexuma_node::pull`): it
//! registers with a one-time code, heartbeats at the agent's interval, fetches a moved revision
//! and confirms it, and reports usage (clients and outbounds) with unique report ids, each
//! report kept until the Core takes it. See `agent.rs` for what is simulated.
//!
//! Here rather than in the bench so that a host test and the bench share it: the host's tests
//! already take testkit, and a bench library would make the host's tests depend on a crate that
//! depends on the host. Behind the `fleet` feature, so the agent's own tests (which use
//! testkit too) do not build against a second copy of the agent.

mod agent;
mod tally;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexuma_node::pull::control::ControlError;
use nexuma_node::settings::{DEFAULT_HEARTBEAT_SECS, DEFAULT_REPORT_SECS};
use tokio::sync::watch;

pub use agent::{AgentView, Sent};
pub use tally::{Tally, Totals};

use agent::{Agent, AgentState};

/// How the fleet's agents behave.
#[derive(Clone, Debug)]
pub struct FleetSettings {
    /// The Core's base URL.
    pub core_url: String,
    pub heartbeat: Duration,
    pub report: Duration,
    /// Clients named in one usage report at most (a window that moves each round).
    pub clients_per_report: usize,
}

impl FleetSettings {
    /// The real agent's defaults: a heartbeat and a report every 10 s.
    pub fn agent_defaults(core_url: &str) -> FleetSettings {
        FleetSettings {
            core_url: core_url.to_string(),
            heartbeat: Duration::from_secs(DEFAULT_HEARTBEAT_SECS),
            report: Duration::from_secs(DEFAULT_REPORT_SECS),
            clients_per_report: 100,
        }
    }
}

/// Agents running as tasks of the current tokio runtime.
pub struct Fleet {
    states: Vec<Arc<AgentState>>,
    tally: Arc<Tally>,
    stop: watch::Sender<bool>,
    tasks: tokio::task::JoinSet<()>,
}

impl Fleet {
    /// Starts one agent per registration code. Their first calls are spread evenly over one
    /// heartbeat interval, as agents started at different times would be.
    pub fn start(settings: FleetSettings, codes: Vec<String>) -> Result<Fleet, ControlError> {
        let settings = Arc::new(settings);
        let tally = Arc::new(Tally::default());
        let (stop, stopped) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut states = Vec::with_capacity(codes.len());
        let count = codes.len().max(1) as u32;
        for (index, code) in codes.into_iter().enumerate() {
            let state = Arc::new(AgentState::default());
            let agent = Agent::new(
                index,
                settings.clone(),
                tally.clone(),
                state.clone(),
                stopped.clone(),
            )?;
            let delay = settings.heartbeat * index as u32 / count;
            tasks.spawn(async move {
                tokio::time::sleep(delay).await;
                agent.run(code).await;
            });
            states.push(state);
        }
        Ok(Fleet {
            states,
            tally,
            stop,
            tasks,
        })
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    pub fn agents(&self) -> Vec<AgentView> {
        self.states.iter().map(|s| s.view()).collect()
    }

    /// When the last agent got its node's `latest` revision (node id → revision), or why the
    /// fleet has not converged: how many agents run something else, and one of them.
    pub fn converged(&self, latest: &HashMap<String, u64>) -> Result<Instant, String> {
        let mut last: Option<Instant> = None;
        let mut lagging = 0;
        let mut example = None;
        for (index, agent) in self.agents().into_iter().enumerate() {
            let want = agent.node_id.as_ref().and_then(|n| latest.get(n)).copied();
            match (want, agent.applied) {
                (Some(want), Some((have, at))) if have == want => {
                    last = Some(last.map_or(at, |l| l.max(at)));
                }
                (want, applied) => {
                    lagging += 1;
                    example.get_or_insert_with(|| {
                        format!(
                            "agent {index} (node {:?}) runs {:?}, the latest is {want:?}",
                            agent.node_id,
                            applied.map(|a| a.0)
                        )
                    });
                }
            }
        }
        match (lagging, last) {
            (0, Some(at)) => Ok(at),
            (0, None) => Err("the fleet has no agents".into()),
            _ => Err(format!(
                "{lagging} of {} agents are not on their node's latest revision, e.g. {}",
                self.len(),
                example.unwrap_or_default()
            )),
        }
    }

    /// Acknowledged traffic per node id.
    pub fn sent(&self) -> HashMap<String, Sent> {
        self.agents()
            .into_iter()
            .filter_map(|a| a.node_id.map(|n| (n, a.sent)))
            .collect()
    }

    /// Stops every agent (each gets its last usage report taken first, so the acknowledged
    /// sums are what the Core has) and waits for them; the final counts.
    pub async fn stop(&mut self) -> Totals {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.tally.totals()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.tasks.abort_all();
    }
}
