//! Account changes the host must see at once.
//!
//! The host checks the account behind every access token (role, status, block flag, whether it
//! still exists) and keeps a copy of it in the key-value store, tagged with the account's
//! revision `account-rev:<user id>`. A component that changes any of those gives the account a
//! new revision *after* its transaction commits, so the next request re-reads the row: a demoted,
//! blocked or deleted account loses its power with its next request, not when its token expires.
//!
//! A revision is a fresh random value, not a counter, so its key can expire: a counter that
//! expired would start again at 1 and could match a copy kept under an earlier 1. A value never
//! repeats, and the key outlives every copy kept under it (`REVISION_TTL_MS` against the host's
//! ten-minute copies), so no key is kept for ever.

use crate::{id, kv, log};

const REVISION_KEY: &str = "account-rev:";

/// How long a revision is kept: far longer than the host keeps a copy under it (10 minutes).
pub const REVISION_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Says that user `user_id`'s role, status or block flag changed, or that it was deleted. Call it
/// after the commit. Best effort: a failure is logged and the host's copy lives until it expires.
pub fn changed(user_id: &str) {
    if let Err(err) = kv::set(&revision_key(user_id), &id::new_v4(), Some(REVISION_TTL_MS)) {
        log::warn(
            "account revision not moved; the host's copy expires by its TTL",
            &[("userId", user_id), ("error", &err.message)],
        );
    }
}

fn revision_key(user_id: &str) -> String {
    format!("{REVISION_KEY}{user_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_one_the_host_reads() {
        assert_eq!(revision_key("u-1"), "account-rev:u-1");
    }
}
