//! The content epoch: one counter in the key-value store that moves whenever something users
//! are shown changes (a link, a subscription, a node's address or inbounds, subscription
//! settings). An answer built under an epoch can be kept by the host's response cache until the
//! epoch moves, so a change retires every older answer at once.

use crate::bindings::nexuma::core::response_cache::{self, Policy};
use crate::{kv, log};

const EPOCH_KEY: &str = "cache:content-epoch";

/// The epoch as read before reading what an answer shows.
pub struct Epoch {
    raw: Option<String>,
}

/// The current epoch.
pub fn current() -> Result<Epoch, kv::KvError> {
    Ok(Epoch {
        raw: kv::get(EPOCH_KEY)?,
    })
}

/// The current epoch and the value of `key`, read in one round trip: for a value kept per epoch.
pub fn current_with(key: &str) -> Result<(Epoch, Option<String>), kv::KvError> {
    let mut values = kv::get_many(&[EPOCH_KEY.to_string(), key.to_string()])?.into_iter();
    let raw = values.next().flatten();
    Ok((Epoch { raw }, values.next().flatten()))
}

impl Epoch {
    /// The epoch's number (0 before the first change).
    pub fn number(&self) -> i64 {
        self.raw
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Lets the host give the current request's answer again — to requests for the same route,
    /// path and query with the same values of the `vary` headers — until the epoch moves or
    /// `ttl_ms` passes, without running the component. Read the epoch first, then the data: a
    /// change committed in between moves the epoch past this one, so nothing stale is kept.
    pub fn keep_answer<H: Into<String>>(&self, vary: impl IntoIterator<Item = H>, ttl_ms: u64) {
        response_cache::keep(&Policy {
            vary: vary.into_iter().map(Into::into).collect(),
            depends_on: vec![(EPOCH_KEY.to_string(), self.raw.clone())],
            ttl_ms,
        });
    }
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
