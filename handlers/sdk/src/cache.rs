//! The content epoch: one counter in the key-value store that moves whenever something users
//! are shown changes (a link, a subscription, a node's address or inbounds, subscription
//! settings). An answer built under an epoch can be kept by the host's response cache until the
//! epoch moves, so a change retires every older answer at once.
//!
//! Used traffic changes every second for every active user, far too often to move the epoch:
//! each subscription has a traffic stamp of its own instead, which the usage count renews and an
//! answer that shows the subscription's traffic depends on as well.

use crate::bindings::nexuma::core::response_cache::{self, Policy};
use crate::{kv, log};

const EPOCH_KEY: &str = "cache:content-epoch";
const TRAFFIC_KEY: &str = "cache:traffic:";
/// How long a traffic stamp lives after its last renewal.
const TRAFFIC_TTL_MS: u64 = 30 * 60 * 1000;
/// The longest an answer depending on a traffic stamp is kept: shorter than the stamp lives, so
/// an answer built before its subscription had a stamp is gone before the stamp expires (and
/// reads as absent again).
const SHOWING_TRAFFIC_MAX_TTL_MS: u64 = TRAFFIC_TTL_MS / 2;
/// Entries per `set-many` call (the host's bound).
const SET_MANY_CHUNK: usize = 10_000;

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
        self.keep_answer_showing(vary, ttl_ms, None);
    }

    /// As [`Epoch::keep_answer`], for an answer that also shows a subscription's used traffic:
    /// it goes too when that subscription's traffic is counted again.
    pub fn keep_answer_showing<H: Into<String>>(
        &self,
        vary: impl IntoIterator<Item = H>,
        ttl_ms: u64,
        traffic: Option<&TrafficStamp>,
    ) {
        let mut depends_on = vec![(EPOCH_KEY.to_string(), self.raw.clone())];
        let mut ttl_ms = ttl_ms;
        if let Some(t) = traffic {
            depends_on.push((t.key.clone(), t.raw.clone()));
            ttl_ms = ttl_ms.min(SHOWING_TRAFFIC_MAX_TTL_MS);
        }
        response_cache::keep(&Policy {
            vary: vary.into_iter().map(Into::into).collect(),
            depends_on,
            ttl_ms,
        });
    }
}

/// A subscription's traffic stamp as read right after its row. (Read after, not before: the
/// subscription is known only from the row. A count committed between the two reads keeps an
/// answer that is one count behind until the next count or its TTL — for a traffic figure,
/// harmless.)
pub struct TrafficStamp {
    key: String,
    raw: Option<String>,
}

/// The traffic stamp of `subscription_id`.
pub fn traffic_stamp(subscription_id: &str) -> Result<TrafficStamp, kv::KvError> {
    let key = format!("{TRAFFIC_KEY}{subscription_id}");
    let raw = kv::get(&key)?;
    Ok(TrafficStamp { key, raw })
}

/// Says that the used traffic of `subscription_ids` changed (after the commit): every kept
/// answer showing it goes. A failure only means those answers live until their TTL: it is
/// logged.
pub fn traffic_counted(subscription_ids: &[String]) {
    // One new stamp for the whole count: distinct from every earlier one.
    let stamp = crate::id::new_v4();
    for chunk in subscription_ids.chunks(SET_MANY_CHUNK) {
        let entries: Vec<(String, String)> = chunk
            .iter()
            .map(|id| (format!("{TRAFFIC_KEY}{id}"), stamp.clone()))
            .collect();
        if let Err(e) = kv::set_many(&entries, Some(TRAFFIC_TTL_MS)) {
            log::warn(
                "traffic stamps not renewed; kept answers expire by their TTL",
                &[("error", &e.message)],
            );
            return;
        }
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
