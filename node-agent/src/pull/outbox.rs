//! Best-effort messages to the Core: session events derived from the node's traffic polls,
//! and errors (`core-exited`, `config-rejected`, `apply-failed`, `usage-failed`). Each batch
//! is tried a few times and then dropped; the queues are bounded, so an outage costs memory
//! for a while, never without limit.

use std::collections::VecDeque;

use tokio::sync::mpsc;

use super::protocol::{ErrorReport, SessionEvent};
use super::sessions::Sessions;
use super::{unix_ms, Shared};
use crate::node::NodeEvent;

/// Tries before a message is dropped.
const TRIES: u32 = 3;
/// Events per request (the protocol's limit), and the most kept waiting.
const MAX_EVENTS: usize = 10_000;
const MAX_ERRORS: usize = 100;

#[derive(Default)]
struct Outbox {
    events: VecDeque<SessionEvent>,
    /// Failed tries of the first batch of events.
    event_tries: u32,
    errors: VecDeque<(ErrorReport, u32)>,
}

impl Outbox {
    fn add_events(&mut self, events: Vec<SessionEvent>) {
        self.events.extend(events);
        while self.events.len() > MAX_EVENTS {
            self.events.pop_front();
        }
    }

    fn add_error(&mut self, error: ErrorReport) {
        self.errors.push_back((error, 0));
        while self.errors.len() > MAX_ERRORS {
            self.errors.pop_front();
        }
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.errors.is_empty()
    }
}

impl Shared {
    /// Turns node events and notices into messages and sends them after each.
    pub(super) async fn forward(
        &self,
        mut events: mpsc::UnboundedReceiver<NodeEvent>,
        mut notices: mpsc::UnboundedReceiver<ErrorReport>,
    ) {
        let mut sessions = Sessions::default();
        let mut outbox = Outbox::default();
        loop {
            tokio::select! {
                Some(event) = events.recv() => match event {
                    NodeEvent::Polled { at, moved } => {
                        outbox.add_events(sessions.observe(&moved, unix_ms(at)));
                    }
                    NodeEvent::CoreExited { status, at } => outbox.add_error(ErrorReport {
                        kind: "core-exited",
                        message: status,
                        at: unix_ms(at),
                    }),
                },
                Some(notice) = notices.recv() => outbox.add_error(notice),
                else => return,
            }
            if !outbox.is_empty() && !self.is_revoked() {
                self.flush(&mut outbox).await;
            }
        }
    }

    async fn flush(&self, outbox: &mut Outbox) {
        let key = self.key();
        while let Some((error, tries)) = outbox.errors.front_mut() {
            match self.control.error(&key, error).await {
                Ok(()) => {
                    outbox.errors.pop_front();
                }
                Err(e) => {
                    *tries += 1;
                    tracing::warn!(error = %e, kind = error.kind, tries = *tries, "error report not delivered");
                    if *tries >= TRIES {
                        outbox.errors.pop_front();
                    }
                    // The Core is likely away: the rest waits for the next round.
                    return;
                }
            }
        }
        if outbox.events.is_empty() {
            return;
        }
        let batch: Vec<SessionEvent> = outbox.events.iter().take(MAX_EVENTS).cloned().collect();
        match self.control.session_events(&key, &batch).await {
            Ok(()) => {
                outbox.events.drain(..batch.len());
                outbox.event_tries = 0;
            }
            Err(e) => {
                outbox.event_tries += 1;
                tracing::warn!(error = %e, events = batch.len(), tries = outbox.event_tries, "session events not delivered");
                if outbox.event_tries >= TRIES {
                    outbox.events.drain(..batch.len());
                    outbox.event_tries = 0;
                }
            }
        }
    }
}
