//! The content epoch: one counter in the key-value store that moves whenever something users
//! are shown changes (a link, a subscription, a node's address or inbounds, subscription
//! settings). Caches of rendered content put the epoch in their keys, so a change makes every
//! older entry unreachable at once; their TTL clears them away.

use crate::{kv, log};

const EPOCH_KEY: &str = "cache:content-epoch";

/// The current epoch (0 before the first change).
pub fn epoch() -> Result<i64, kv::KvError> {
    Ok(kv::get(EPOCH_KEY)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Moves the epoch on. A failure only means caches live until their TTL: it is logged.
pub fn invalidate() {
    if let Err(e) = kv::incr(EPOCH_KEY, 1, None) {
        log::warn(
            "content epoch not moved; caches expire by their TTL",
            &[("error", &e.message)],
        );
    }
}
