//! Who is on which agent: everyone who may connect (one agent user each), and the `node_users`
//! rows that record whether a user is on a node. Nodes, users and the watchdog all keep agents
//! and users in step through it.

use std::collections::HashMap;

use nexuma_sdk::db::Executor;
use nexuma_sdk::ApiError;

use crate::agent::AgentUser;

/// SQL condition on a `subscription_links l` row: the link grants access — a manager user's own
/// link, or a link of an active billing subscription (expired and cancelled ones never reach a
/// node).
pub const LIVE_LINK: &str = "(l.subscription_id IS NULL OR EXISTS (SELECT 1 FROM subscriptions s \
     WHERE s.id = l.subscription_id AND s.status = 'active'))";

/// Everyone who may connect (active, not blocked, with an enabled live link), one agent user
/// each.
pub fn agent_users(ex: &impl Executor) -> Result<Vec<AgentUser>, ApiError> {
    let rows = ex.query(
        &format!(
            "SELECT l.user_id, l.uuid FROM subscription_links l JOIN users u ON u.id = l.user_id \
             WHERE l.enabled = $1 AND u.status = $2 AND u.blocked = $3 AND {LIVE_LINK} \
             ORDER BY l.user_id, l.created_at, l.id"
        ),
        &[true.into(), "active".into(), false.into()],
    )?;
    let mut users: Vec<AgentUser> = Vec::new();
    for row in rows.iter() {
        let name = row.string("user_id")?;
        if users.last().map(|u| u.name == name).unwrap_or(false) {
            continue;
        }
        users.push(AgentUser {
            name,
            key: row.string("uuid")?,
        });
    }
    Ok(users)
}

/// Records whether `user_id` is on `node_id` (creating the row with zero traffic).
pub fn set_connected(
    ex: &impl Executor,
    node_id: &str,
    user_id: &str,
    connected: bool,
) -> Result<(), ApiError> {
    ex.execute(
        "INSERT INTO node_users (node_id, user_id, connected) VALUES ($1, $2, $3) \
         ON CONFLICT (node_id, user_id) DO UPDATE SET connected = excluded.connected",
        &[node_id.into(), user_id.into(), connected.into()],
    )?;
    Ok(())
}

/// Connected users per node id.
pub fn count_per_node(ex: &impl Executor) -> Result<HashMap<String, i64>, ApiError> {
    let rows = ex.query(
        "SELECT node_id, CAST(COUNT(*) AS BIGINT) AS n FROM node_users WHERE connected = $1 \
         GROUP BY node_id",
        &[true.into()],
    )?;
    rows.iter()
        .map(|r| Ok((r.string("node_id")?, r.i64("n")?)))
        .collect()
}
