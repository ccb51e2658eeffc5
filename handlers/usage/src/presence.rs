//! Who is connected: `link_presence` rows (from the agents' session events) that say online, on
//! nodes whose agent is live. A silent node's last word is not "online now".

use std::collections::BTreeMap;

use nexuma_sdk::db;
use nexuma_sdk::ApiError;
use xray::HEARTBEAT_STALE_MS;

/// The user's links online now, each with the nodes it is on.
pub fn online_links(user: &str, now: i64) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let rows = db::query(
        "SELECT p.link_id, p.node_id FROM link_presence p \
         JOIN subscription_links l ON l.id = p.link_id \
         JOIN nodes n ON n.id = p.node_id \
         WHERE l.user_id = $1 AND p.online AND n.last_heartbeat_at >= $2 \
         ORDER BY p.link_id, p.node_id",
        &[user.into(), (now - HEARTBEAT_STALE_MS).into()],
    )?;
    let mut links: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows.iter() {
        links
            .entry(row.string("link_id")?)
            .or_default()
            .push(row.string("node_id")?);
    }
    Ok(links)
}

/// When each of the user's links was last heard of: its latest presence change or the start of
/// its latest traffic hour, whichever is later.
pub fn last_seen(user: &str) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    let presence = db::query(
        "SELECT p.link_id AS link_id, MAX(p.changed_at) AS at FROM link_presence p \
         JOIN subscription_links l ON l.id = p.link_id WHERE l.user_id = $1 GROUP BY p.link_id",
        &[user.into()],
    )?;
    let traffic = db::query(
        "SELECT link_id, MAX(hour) AS at FROM traffic_hourly WHERE user_id = $1 GROUP BY link_id",
        &[user.into()],
    )?;
    for row in presence.iter().chain(traffic.iter()) {
        let at = row.i64("at")?;
        let slot = seen.entry(row.string("link_id")?).or_insert(at);
        *slot = (*slot).max(at);
    }
    Ok(seen)
}
