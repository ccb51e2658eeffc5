//! One simulated pull agent: the real agent's protocol (its `ControlClient` and wire types, so
//! the same routes, headers, key and bodies) and its rhythm (a heartbeat every interval, a new
//! revision fetched with `If-None-Match` and confirmed, usage reports kept until the Core takes
//! them), without a proxy core: a config is "applied" once it passes the agent's own check
//! (`ConfigDoc::desired`), and the traffic it reports is made up, deterministically.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nexuma_node::proxy::flavor::Flavor;
use nexuma_node::proxy::Capabilities;
use nexuma_node::pull::control::{ControlClient, ControlError, Latest};
use nexuma_node::pull::protocol::{
    Applied, ConfigDoc, Heartbeat, HeartbeatReply, Load, OutboundItem, OutboundUsageReport,
    Register, UsageItem, UsageReport, PROTOCOL,
};
use nexuma_node::pull::unix_ms;
use tokio::sync::watch;

use super::tally::{lock, Tally};
use super::FleetSettings;

const AGENT_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "-sim");
const CORE_VERSION: &str = "Xray 25.9.11 (simulated)";
/// Longest wait between registration tries, as the agent's.
const SLOW_RETRY: Duration = Duration::from_secs(60);
/// How long a stopping agent keeps offering a report the Core has not answered yet.
const FLUSH_FOR: Duration = Duration::from_secs(30);

/// What one agent shows of itself while it runs.
#[derive(Default)]
pub struct AgentState {
    node_id: Mutex<Option<String>>,
    /// The revision it runs and when it got it.
    applied: Mutex<Option<(u64, Instant)>>,
    sent: Mutex<Sent>,
}

/// Traffic of the reports the Core acknowledged (each report once), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sent {
    pub up: u64,
    pub down: u64,
    pub outbound_up: u64,
    pub outbound_down: u64,
}

/// One agent at one moment.
#[derive(Clone, Debug)]
pub struct AgentView {
    /// Its node, once registered.
    pub node_id: Option<String>,
    /// The revision it runs, and when it fetched and applied it.
    pub applied: Option<(u64, Instant)>,
    pub sent: Sent,
}

impl AgentState {
    pub fn view(&self) -> AgentView {
        AgentView {
            node_id: lock(&self.node_id).clone(),
            applied: *lock(&self.applied),
            sent: *lock(&self.sent),
        }
    }
}

/// The agent's heartbeat side, as the real agent keeps it.
#[derive(Default)]
struct Beat {
    applied: Option<u64>,
    clients: usize,
    /// A revision its own check refused: not fetched again (until a resync).
    refused: Option<u64>,
    /// Ops carried out (answered again until a heartbeat carries them in `doneOps`).
    done: BTreeSet<String>,
    unreported: BTreeSet<String>,
    /// An outcome the Core has not taken yet: (revision, error).
    unconfirmed: Option<(u64, Option<String>)>,
}

/// A round's usage reports, each kept until the Core answers 200 for its id (same id, same
/// contents). Client and outbound reports have ids of their own, as the agent's two spools do.
struct Pending {
    id: String,
    outbound_id: String,
    collected_at: u64,
    clients: Vec<(String, u64, u64)>,
    outbound: Option<(String, u64, u64)>,
}

pub(super) struct Agent {
    pub index: usize,
    pub control: ControlClient,
    pub settings: Arc<FleetSettings>,
    pub tally: Arc<Tally>,
    pub state: Arc<AgentState>,
    pub stop: watch::Receiver<bool>,
    /// Client names and outbound tags of the config it runs (what its traffic is about).
    names: Mutex<(Vec<String>, Vec<String>)>,
}

impl Agent {
    pub fn new(
        index: usize,
        settings: Arc<FleetSettings>,
        tally: Arc<Tally>,
        state: Arc<AgentState>,
        stop: watch::Receiver<bool>,
    ) -> Result<Agent, ControlError> {
        Ok(Agent {
            index,
            control: ControlClient::new(&settings.core_url, None)?,
            settings,
            tally,
            state,
            stop,
            names: Mutex::new((Vec::new(), Vec::new())),
        })
    }

    /// Registers with `code`, then heartbeats and reports until the fleet stops; a stopping
    /// agent first gets its last report taken.
    pub async fn run(self, code: String) {
        let Some(key) = self.register(&code).await else {
            return;
        };
        tokio::join!(self.heartbeats(&key), self.reports(&key));
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits for `period`; false when the fleet stops first.
    async fn pause(&self, period: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(period) => !self.stopped(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    async fn register(&self, code: &str) -> Option<String> {
        let hostname = format!("sim-{}", self.index);
        let mut wait = Duration::from_secs(1);
        loop {
            let body = Register {
                protocol: PROTOCOL,
                code,
                hostname: &hostname,
                agent_version: AGENT_VERSION,
                core_version: CORE_VERSION,
                core_flavor: Flavor::Xray.name(),
                capabilities: Capabilities::of(Flavor::Xray),
            };
            match self.control.register(&body).await {
                Ok(registered) => {
                    *lock(&self.state.node_id) = Some(registered.node_id);
                    self.tally.registered();
                    return Some(registered.key);
                }
                Err(e) => {
                    self.tally.failed("POST /node/register", &e);
                    let fatal = matches!(
                        e,
                        ControlError::InvalidCode | ControlError::UnsupportedProtocol(_)
                    );
                    if fatal || !self.pause(wait).await {
                        return None;
                    }
                    wait = (wait * 2).min(SLOW_RETRY);
                }
            }
        }
    }

    async fn heartbeats(&self, key: &str) {
        let mut tick = tokio::time::interval(self.settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beat = Beat::default();
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.beat(key, &mut beat).await;
        }
    }

    async fn beat(&self, key: &str, b: &mut Beat) {
        if let Some((revision, error)) = b.unconfirmed.take() {
            self.confirm(key, b, revision, error).await;
        }
        let done_ops: Vec<String> = b.unreported.iter().cloned().collect();
        let body = Heartbeat {
            protocol: PROTOCOL,
            status: if b.applied.is_some() {
                "Running"
            } else {
                "Stopped"
            },
            agent_version: AGENT_VERSION,
            core_version: CORE_VERSION,
            core_flavor: Flavor::Xray.name(),
            capabilities: Capabilities::of(Flavor::Xray),
            applied_revision: b.applied,
            load: Load {
                cpu: (self.index % 50) as u32,
                memory: 30 + (self.index % 40) as u32,
            },
            clients: b.clients,
            done_ops: done_ops.clone(),
        };
        let sent = Instant::now();
        match self.control.heartbeat(key, &body).await {
            Ok(reply) => {
                self.tally.heartbeat(sent.elapsed());
                for id in &done_ops {
                    b.unreported.remove(id);
                }
                self.follow(key, b, reply).await;
            }
            Err(e) => self.tally.failed("POST /node/heartbeat", &e),
        }
    }

    /// Does what the answer asks, as the agent does: a resync fetches without a revision and
    /// applies whatever comes; otherwise a revision other than the one running is fetched.
    async fn follow(&self, key: &str, b: &mut Beat, reply: HeartbeatReply) {
        let mut resyncs = Vec::new();
        for op in reply.ops {
            if b.done.contains(&op.id) {
                b.unreported.insert(op.id);
            } else if op.kind == "resync" {
                resyncs.push(op.id);
            } else {
                // `restart-core` (or a kind this agent does not know): nothing to restart.
                b.done.insert(op.id.clone());
                b.unreported.insert(op.id);
            }
        }
        if !resyncs.is_empty() {
            b.refused = None;
            if self.fetch_and_apply(key, b, None).await {
                for id in resyncs {
                    b.done.insert(id.clone());
                    b.unreported.insert(id);
                }
            }
        } else if let Some(revision) = reply.revision {
            let have = b.applied;
            if Some(revision) != have && b.refused != Some(revision) {
                self.fetch_and_apply(key, b, have).await;
            }
        }
    }

    /// Whether the Core answered (200 or 304).
    async fn fetch_and_apply(&self, key: &str, b: &mut Beat, have: Option<u64>) -> bool {
        match self.control.latest_config(key, have).await {
            Ok(Latest::Unchanged) => {
                self.tally.unchanged();
                true
            }
            Ok(Latest::Config(doc)) => {
                self.tally.config();
                self.apply(key, b, *doc).await;
                true
            }
            Err(e) => {
                self.tally.failed("GET /node/config/latest", &e);
                false
            }
        }
    }

    async fn apply(&self, key: &str, b: &mut Beat, doc: ConfigDoc) {
        let revision = doc.revision;
        match doc.desired() {
            Ok(_) => {
                b.applied = Some(revision);
                b.clients = doc.client_entries();
                b.refused = None;
                *lock(&self.names) = (
                    doc.clients.iter().map(|c| c.name.clone()).collect(),
                    doc.outbounds
                        .iter()
                        .filter_map(|o| o["tag"].as_str().map(str::to_string))
                        .collect(),
                );
                *lock(&self.state.applied) = Some((revision, Instant::now()));
                self.confirm(key, b, revision, None).await;
            }
            Err(e) => {
                self.tally.rejected();
                b.refused = Some(revision);
                self.confirm(key, b, revision, Some(e.to_string())).await;
            }
        }
    }

    async fn confirm(&self, key: &str, b: &mut Beat, revision: u64, error: Option<String>) {
        let body = Applied {
            revision,
            ok: error.is_none(),
            error: error.as_deref(),
        };
        match self.control.applied(key, &body).await {
            Ok(()) => self.tally.confirmed(),
            Err(e) => {
                self.tally.failed("POST /node/config/applied", &e);
                b.unconfirmed = Some((revision, error));
            }
        }
    }

    /// One report pair (clients, then outbounds) per interval; a report the Core did not take
    /// is sent again, the same, before a new one is made.
    async fn reports(&self, key: &str) {
        let mut tick = tokio::time::interval(self.settings.report);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending: Option<Pending> = None;
        let mut round = 0u64;
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            if pending.is_none() {
                pending = self.next_report(round);
                round += 1;
            }
            if let Some(report) = pending.take() {
                pending = self.send(key, report).await;
            }
        }
        self.flush(key, pending).await;
    }

    /// Offers the last report until the Core takes it, for a while: the acknowledged sums must
    /// be what the Core has.
    async fn flush(&self, key: &str, mut pending: Option<Pending>) {
        let until = Instant::now() + FLUSH_FOR;
        while let Some(report) = pending.take() {
            pending = self.send(key, report).await;
            if pending.is_some() {
                if Instant::now() >= until {
                    self.tally.failed(
                        "a usage report",
                        &ControlError::Answer("never acknowledged before the fleet stopped".into()),
                    );
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Made-up traffic of round `round` for up to `clients_per_report` clients of the config,
    /// a different window each round; none before the first config.
    fn next_report(&self, round: u64) -> Option<Pending> {
        let (names, tags) = lock(&self.names).clone();
        if names.is_empty() {
            return None;
        }
        let take = self.settings.clients_per_report.min(names.len());
        let start = (round as usize * take) % names.len();
        let clients: Vec<(String, u64, u64)> = (0..take)
            .map(|i| {
                let name = &names[(start + i) % names.len()];
                let up = 1 + (round * 31 + i as u64 * 7 + self.index as u64) % 4096;
                (name.clone(), up, up * 16)
            })
            .collect();
        let outbound = tags.first().map(|tag| {
            let up = clients.iter().map(|c| c.1).sum();
            let down = clients.iter().map(|c| c.2).sum();
            (tag.clone(), up, down)
        });
        Some(Pending {
            id: uuid::Uuid::new_v4().to_string(),
            outbound_id: uuid::Uuid::new_v4().to_string(),
            collected_at: unix_ms(SystemTime::now()),
            clients,
            outbound,
        })
    }

    /// Sends `report`'s parts not taken yet; what is left, if anything.
    async fn send(&self, key: &str, mut report: Pending) -> Option<Pending> {
        if !report.clients.is_empty() {
            let body = UsageReport {
                report_id: &report.id,
                collected_at: report.collected_at,
                clients: report
                    .clients
                    .iter()
                    .map(|(name, up, down)| UsageItem {
                        name,
                        up: *up,
                        down: *down,
                    })
                    .collect(),
            };
            match self.control.usage(key, &body).await {
                Ok(ack) if ack.report_id == report.id => {
                    self.tally.usage_report(ack.duplicate);
                    let mut sent = lock(&self.state.sent);
                    sent.up += report.clients.iter().map(|c| c.1).sum::<u64>();
                    sent.down += report.clients.iter().map(|c| c.2).sum::<u64>();
                    drop(sent);
                    report.clients.clear();
                }
                Ok(ack) => {
                    let e = ControlError::Answer(format!("ack for report {}", ack.report_id));
                    self.tally.failed("POST /node/usage", &e);
                    return Some(report);
                }
                Err(e) => {
                    self.tally.failed("POST /node/usage", &e);
                    return Some(report);
                }
            }
        }
        let (tag, up, down) = report.outbound.clone()?;
        let body = OutboundUsageReport {
            report_id: &report.outbound_id,
            collected_at: report.collected_at,
            outbounds: vec![OutboundItem {
                tag: &tag,
                up,
                down,
            }],
        };
        match self.control.outbound_usage(key, &body).await {
            Ok(ack) if ack.report_id == report.outbound_id => {
                self.tally.outbound_report(ack.duplicate);
                let mut sent = lock(&self.state.sent);
                sent.outbound_up += up;
                sent.outbound_down += down;
                None
            }
            Ok(ack) => {
                let e = ControlError::Answer(format!("ack for report {}", ack.report_id));
                self.tally.failed("POST /node/outbound-usage", &e);
                Some(report)
            }
            Err(e) => {
                self.tally.failed("POST /node/outbound-usage", &e);
                Some(report)
            }
        }
    }
}
