//! The usage loop: per-client and per-outbound traffic to the Core through the spools, each
//! report sent until the Core answers 200 for its id, and only then acknowledged.

use std::time::SystemTime;

use super::control::ControlError;
use super::protocol::{OutboundItem, OutboundUsageReport, UsageAck, UsageItem, UsageReport};
use super::spool::{Report, Spool};
use super::{unix_ms, Shared};

/// At most this many names per report (the protocol's limit).
pub const MAX_ITEMS: usize = 10_000;
/// Reports sent back to back in one round at most, so a backlog drains without starving the
/// other loops.
const MAX_REPORTS_PER_ROUND: usize = 20;

/// Which usage a spool holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Usage {
    Clients,
    Outbounds,
}

impl Shared {
    pub(super) async fn reports(&self, mut users: Spool, mut outbounds: Spool) {
        let mut tick = tokio::time::interval(self.settings.report);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The report a usage-failed error was sent for, so one stuck report sends one error.
        let mut noticed: Option<String> = None;
        loop {
            tick.tick().await;
            if self.is_revoked() {
                continue;
            }
            self.report(&mut users, Usage::Clients, &mut noticed).await;
            self.report(&mut outbounds, Usage::Outbounds, &mut noticed)
                .await;
        }
    }

    async fn report(&self, spool: &mut Spool, usage: Usage, noticed: &mut Option<String>) {
        for _ in 0..MAX_REPORTS_PER_ROUND {
            let totals = match usage {
                Usage::Clients => self.node.user_totals(),
                Usage::Outbounds => self.node.outbound_totals(),
            };
            let report = match spool.next(&totals, unix_ms(SystemTime::now()), MAX_ITEMS) {
                Ok(Some(report)) => report,
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, ?usage, "cannot write the usage spool; nothing sent");
                    return;
                }
            };
            let sent = self.send(&report, usage).await;
            match sent {
                Ok(ack) if ack.report_id == report.id => match spool.ack(&report.id) {
                    Ok(_) => tracing::info!(
                        report = %report.id,
                        ?usage,
                        items = report.items.len(),
                        duplicate = ack.duplicate,
                        "usage report taken"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, report = %report.id, "cannot mark the report acknowledged; it is sent again");
                        return;
                    }
                },
                Ok(ack) => {
                    tracing::warn!(
                        sent = %report.id,
                        answered = %ack.report_id,
                        "the Core answered for another report id; sending again later"
                    );
                    return;
                }
                Err(ControlError::InvalidKey) => {
                    self.mark_revoked();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, report = %report.id, ?usage, "usage report not taken; kept on disk and sent again");
                    let refused =
                        matches!(e, ControlError::Refused { .. } | ControlError::Answer(_));
                    if refused && noticed.as_deref() != Some(report.id.as_str()) {
                        *noticed = Some(report.id.clone());
                        self.notice("usage-failed", format!("report {}: {e}", report.id));
                    }
                    return;
                }
            }
        }
    }

    async fn send(&self, report: &Report, usage: Usage) -> Result<UsageAck, ControlError> {
        let key = self.key();
        match usage {
            Usage::Clients => {
                let body = UsageReport {
                    report_id: &report.id,
                    collected_at: report.collected_at,
                    clients: report
                        .items
                        .iter()
                        .map(|(name, b)| UsageItem {
                            name,
                            up: b.up,
                            down: b.down,
                        })
                        .collect(),
                };
                self.control.usage(&key, &body).await
            }
            Usage::Outbounds => {
                let body = OutboundUsageReport {
                    report_id: &report.id,
                    collected_at: report.collected_at,
                    outbounds: report
                        .items
                        .iter()
                        .map(|(tag, b)| OutboundItem {
                            tag,
                            up: b.up,
                            down: b.down,
                        })
                        .collect(),
                };
                self.control.outbound_usage(&key, &body).await
            }
        }
    }
}
