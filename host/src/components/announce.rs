//! Announcements: once a change to the active set is committed (an activation, a rollback, a
//! factory version activated at start or SIGHUP), the replica that made it publishes the new
//! revision on the key-value store's channel `<KV_PREFIX>components`, and every replica that
//! hears a revision newer than its own swaps at once (`follow.rs`). Best effort: a lost
//! announcement is caught up by the follower's look at the database.

use std::time::Duration;

use crate::app::Core;
use crate::iface::kv::{Store, StoreError};

/// The wait before the one retry of a failed publish: after a Redis restart the first command
/// on the old connection fails and sets the connection manager reconnecting, so a moment later
/// the second usually goes through.
const RETRY_AFTER: Duration = Duration::from_millis(250);

/// The channel's name, under the replicas' shared prefix so Cores on other prefixes of one
/// Redis never hear each other.
pub fn channel(core: &Core) -> String {
    format!("{}components", core.caps.kv.prefix())
}

/// Publishes `revision` in the background: the caller (an admin's answer, a start) never waits
/// on a slow store nor fails with it.
pub fn publish(core: &Core, revision: i64) {
    let kv = core.caps.kv.clone();
    let channel = channel(core);
    tokio::spawn(async move {
        match send(&kv, &channel, revision).await {
            Ok(()) => {
                tracing::info!(revision, channel = %channel, "active components' revision announced")
            }
            Err(e) => tracing::warn!(revision, channel = %channel, error = %e,
                "cannot announce the active components' revision; other replicas find it at their next look at the database"),
        }
    });
}

async fn send(kv: &Store, channel: &str, revision: i64) -> Result<(), StoreError> {
    let message = revision.to_string();
    if kv.publish(channel, &message).await.is_ok() {
        return Ok(());
    }
    tokio::time::sleep(RETRY_AFTER).await;
    kv.publish(channel, &message).await
}

/// The revision an announcement names.
pub fn revision(message: &str) -> Option<i64> {
    message.trim().parse().ok()
}
