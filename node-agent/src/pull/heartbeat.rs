//! The heartbeat loop: status to the Core, and what its answer asks for — a new config
//! revision (fetched with `If-None-Match`, applied, confirmed) and ops (`restart-core`,
//! `resync`), each carried out once by id and reported in `doneOps`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::control::{ControlError, Latest};
use super::protocol::{Applied, ConfigDoc, Heartbeat, HeartbeatReply, Load, PROTOCOL};
use super::state::PullState;
use super::Shared;
use crate::node::NodeError;
use crate::proxy::config::ConfigError;
use crate::proxy::Capabilities;

/// Wait before a revision that failed (other than by rejection) is tried again.
const FAILED_RETRY: Duration = Duration::from_secs(60);

/// The heartbeat loop's own state.
pub(super) struct Progress {
    state: PullState,
    /// The revision the core runs now (`None` before the first config, or when the stored one
    /// could not be applied again).
    applied: Option<u64>,
    /// A revision that failed, and when it may be tried again: never (until a resync or an
    /// agent restart) for a config the core rejected, after [`FAILED_RETRY`] otherwise.
    failed: Option<(u64, Option<Instant>)>,
    /// Done ops no heartbeat the Core answered has carried yet.
    unreported: BTreeSet<String>,
    /// An outcome the Core has not confirmed taking (`POST /node/config/applied`).
    unconfirmed: Option<Outcome>,
    /// Ops of unknown kinds, warned about once.
    unknown: BTreeSet<String>,
}

#[derive(Clone)]
struct Outcome {
    revision: u64,
    error: Option<String>,
}

impl Progress {
    fn holds_off(&self, revision: u64) -> bool {
        match self.failed {
            Some((r, None)) => r == revision,
            Some((r, Some(at))) => r == revision && Instant::now() < at,
            None => false,
        }
    }
}

impl Shared {
    /// Applies the stored config again (an agent restart resumes without the Core).
    pub(super) async fn resume(&self, state: PullState) -> Progress {
        let mut progress = Progress {
            state,
            applied: None,
            failed: None,
            unreported: BTreeSet::new(),
            unconfirmed: None,
            unknown: BTreeSet::new(),
        };
        let Some(doc) = progress.state.config.clone() else {
            tracing::info!("no config yet; waiting for the Core's first revision");
            return progress;
        };
        let result = match doc.desired() {
            Ok(desired) => self.node.apply(desired, false).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(()) => {
                tracing::info!(revision = doc.revision, "stored config applied again");
                progress.applied = Some(doc.revision);
            }
            Err(e) => tracing::error!(
                revision = doc.revision,
                error = %e,
                "the stored config could not be applied again; the Core's is fetched instead"
            ),
        }
        progress
    }

    pub(super) async fn heartbeats(&self, mut progress: Progress) {
        let mut tick = tokio::time::interval(self.settings.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.beat(&mut progress).await;
        }
    }

    async fn beat(&self, p: &mut Progress) {
        if let Some(outcome) = p.unconfirmed.clone() {
            self.confirm(p, outcome).await;
        }
        let done_ops: Vec<String> = p.unreported.iter().cloned().collect();
        let load = self.load.latest();
        let status = self.node.status();
        let body = Heartbeat {
            protocol: PROTOCOL,
            status: status.as_str(),
            agent_version: env!("CARGO_PKG_VERSION"),
            core_version: &self.settings.core_version,
            core_flavor: self.settings.flavor.name(),
            capabilities: Capabilities::of(self.settings.flavor),
            applied_revision: p.applied,
            load: Load {
                cpu: load.cpu.round().clamp(0.0, 100.0) as u32,
                memory: load.memory.round().clamp(0.0, 100.0) as u32,
            },
            clients: self.node.client_count().await,
            done_ops: done_ops.clone(),
        };
        match self.control.heartbeat(&self.key(), &body).await {
            Ok(reply) => {
                if self
                    .revoked
                    .swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    tracing::info!("the Core takes the node's key again");
                }
                for id in &done_ops {
                    p.unreported.remove(id);
                }
                self.follow(p, reply).await;
            }
            Err(ControlError::InvalidKey) => {
                let before = self.node_id();
                if self.key_refused().await {
                    if self.node_id() != before {
                        tracing::warn!(
                            old = %before,
                            new = %self.node_id(),
                            "registered as another node; its config is fetched anew"
                        );
                        p.applied = None;
                        p.failed = None;
                    }
                } else {
                    tokio::time::sleep(super::SLOW_RETRY).await;
                }
            }
            Err(e @ ControlError::UnsupportedProtocol(_)) => {
                tracing::error!(error = %e, "the Core cannot talk to this agent; update one of them");
                tokio::time::sleep(super::SLOW_RETRY).await;
            }
            Err(e) => tracing::warn!(error = %e, "heartbeat failed; the core runs on"),
        }
    }

    /// Carries out what a heartbeat answer asks for.
    async fn follow(&self, p: &mut Progress, reply: HeartbeatReply) {
        let mut restarts = Vec::new();
        let mut resyncs = Vec::new();
        for op in reply.ops {
            if p.state.is_done(&op.id) {
                // Done already; its report may have been lost.
                p.unreported.insert(op.id);
                continue;
            }
            match op.kind.as_str() {
                "restart-core" => restarts.push(op.id),
                "resync" => resyncs.push(op.id),
                kind => {
                    if p.unknown.insert(op.id.clone()) {
                        tracing::warn!(op = %op.id, kind, "op of an unknown kind; not carried out");
                    }
                }
            }
        }
        if !resyncs.is_empty() {
            tracing::info!(ops = ?resyncs, "resync asked for");
            p.failed = None;
            if self.fetch_and_apply(p, None, true).await {
                self.mark_done(p, &resyncs);
            }
        } else if let Some(revision) = reply.revision {
            if Some(revision) != p.applied && !p.holds_off(revision) {
                tracing::info!(revision, applied = p.applied, "new config revision");
                let have = p.applied;
                self.fetch_and_apply(p, have, false).await;
            }
        }
        if !restarts.is_empty() {
            tracing::info!(ops = ?restarts, "core restart asked for");
            match self.node.restart_core().await {
                Ok(()) => {}
                Err(NodeError::NotRunning) => {
                    tracing::info!("no core runs yet (no config); nothing to restart")
                }
                Err(e) => self.notice("apply-failed", format!("core restart failed: {e}")),
            }
            self.mark_done(p, &restarts);
        }
    }

    /// Fetches the latest config (`have`: the revision for `If-None-Match`) and applies it.
    /// Returns whether the Core answered (200 or 304).
    async fn fetch_and_apply(&self, p: &mut Progress, have: Option<u64>, readd: bool) -> bool {
        match self.control.latest_config(&self.key(), have).await {
            Ok(Latest::Unchanged) => {
                tracing::debug!(revision = have, "config unchanged (304)");
                true
            }
            Ok(Latest::Config(doc)) => {
                self.apply(p, *doc, readd).await;
                true
            }
            Err(ControlError::InvalidKey) => {
                self.mark_revoked();
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch the config; retrying with the next heartbeat");
                false
            }
        }
    }

    async fn apply(&self, p: &mut Progress, doc: ConfigDoc, readd: bool) {
        let revision = doc.revision;
        let result = match doc.desired() {
            Ok(desired) => self.node.apply(desired, readd).await,
            Err(e) => Err(e.into()),
        };
        match result {
            Ok(()) => {
                tracing::info!(
                    revision,
                    clients = doc.client_entries(),
                    inbounds = doc.inbounds.len(),
                    "config applied"
                );
                p.applied = Some(revision);
                p.failed = None;
                p.state.config = Some(doc);
                self.save(p);
                self.confirm(
                    p,
                    Outcome {
                        revision,
                        error: None,
                    },
                )
                .await;
            }
            Err(e) => {
                let rejected = matches!(
                    e,
                    NodeError::Config(
                        ConfigError::Rejected(_)
                            | ConfigError::Shape(_)
                            | ConfigError::Unsupported(_)
                    ) | NodeError::Inbounds(_)
                );
                let kind = if rejected {
                    "config-rejected"
                } else {
                    "apply-failed"
                };
                let message = e.to_string();
                tracing::error!(revision, kind, error = %message, "config not applied");
                p.failed = Some((revision, (!rejected).then(|| Instant::now() + FAILED_RETRY)));
                self.notice(kind, format!("revision {revision}: {message}"));
                self.confirm(
                    p,
                    Outcome {
                        revision,
                        error: Some(message),
                    },
                )
                .await;
            }
        }
    }

    /// `POST /node/config/applied`; kept and sent again with the next heartbeat until taken.
    async fn confirm(&self, p: &mut Progress, outcome: Outcome) {
        let body = Applied {
            revision: outcome.revision,
            ok: outcome.error.is_none(),
            error: outcome.error.as_deref(),
        };
        match self.control.applied(&self.key(), &body).await {
            Ok(()) => p.unconfirmed = None,
            Err(e) => {
                if matches!(e, ControlError::InvalidKey) {
                    self.mark_revoked();
                }
                tracing::warn!(error = %e, revision = outcome.revision, "config outcome not delivered; sent again later");
                p.unconfirmed = Some(outcome);
            }
        }
    }

    fn mark_done(&self, p: &mut Progress, ops: &[String]) {
        for op in ops {
            p.state.mark_done(op);
            p.unreported.insert(op.clone());
        }
        self.save(p);
    }

    fn save(&self, p: &Progress) {
        let path = self.settings.data_dir.join("pull-state.json");
        if let Err(e) = p.state.save(&path) {
            tracing::error!(error = %e, path = %path.display(), "cannot save the pull state; an agent restart would wait for the Core");
        }
    }
}
