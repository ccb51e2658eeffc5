//! The `watchdog` job: polls every active node's `GET /node/status`, marks it online or not,
//! starts it again with all users when it is Stopped or back from being unreachable, adds users
//! it is missing, and turns the agents' cumulative traffic counters into stored totals.

use std::collections::HashMap;

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{clock, log, ApiError};

use crate::agent::{Agent, AgentUser, Status};
use crate::nodes::{self, Node};
use crate::roster;

pub const INTERVAL_MS: u64 = 2_000;
const HOUR_MS: i64 = 3_600_000;

pub fn run() -> Result<(), ApiError> {
    let everyone = roster::agent_users(&Pool)?;
    let mut failures = 0;
    // Least recently checked first: a tick cut short by its deadline (many unreachable nodes,
    // each waiting out its timeout) resumes where it stopped on the next tick.
    let mut active = nodes::active(&Pool)?;
    active.sort_by_key(|n| n.updated_at);
    for node in active {
        if let Err(e) = check(&node, &everyone) {
            failures += 1;
            log::warn(
                "watchdog: node check failed",
                &[("nodeId", &node.id), ("error", &e.to_string())],
            );
        }
    }
    if failures > 0 {
        return Err(ApiError::internal(format!(
            "{failures} node check(s) failed"
        )));
    }
    Ok(())
}

/// One node: its status read, its traffic counted, its users put back where they are missing.
fn check(node: &Node, everyone: &[AgentUser]) -> Result<(), ApiError> {
    let now = clock::now_ms();
    let agent = node.agent();
    let status = match agent.status() {
        Ok(status) => status,
        Err(e) => return mark_offline(node, &e, now),
    };
    // Counters first: they belong to the users the agent had before any start.
    record_traffic(node, &status, now)?;
    let connected = connected_users(&node.id)?;
    if status.status == "Stopped" || !node.online {
        start(node, &agent, &status, everyone)?;
    } else if status.status == "Running" {
        add_missing(node, &agent, everyone, &connected)?;
    }
    if !node.online {
        log::info(
            "watchdog: node is back online",
            &[("nodeId", &node.id), ("url", &node.api_url)],
        );
    }
    mark_online(node, &status, now)
}

/// A node whose agent did not answer: offline, and nobody connected on it.
fn mark_offline(node: &Node, error: &str, now: i64) -> Result<(), ApiError> {
    if node.online {
        log::warn(
            "watchdog: node went offline",
            &[
                ("nodeId", &node.id),
                ("url", &node.api_url),
                ("error", error),
            ],
        );
    }
    Pool.execute(
        "UPDATE manager_nodes SET online = $1, updated_at = $2 WHERE id = $3",
        &[false.into(), now.into(), node.id.as_str().into()],
    )?;
    Pool.execute(
        "UPDATE node_users SET connected = $1 WHERE node_id = $2",
        &[false.into(), node.id.as_str().into()],
    )?;
    Ok(())
}

/// Starts a stopped node, or one back from being unreachable, with everyone who may connect.
fn start(
    node: &Node,
    agent: &Agent<'_>,
    status: &Status,
    everyone: &[AgentUser],
) -> Result<(), ApiError> {
    let outcome = agent.start(everyone);
    log::info(
        "watchdog: node started with all users",
        &[
            ("nodeId", &node.id),
            ("agentStatus", &status.status),
            ("wasOnline", &node.online.to_string()),
            ("users", &everyone.len().to_string()),
            ("ok", &outcome.is_ok().to_string()),
        ],
    );
    let ok = outcome.is_ok();
    for user in everyone {
        roster::set_connected(&Pool, &node.id, &user.name, ok)?;
    }
    Ok(())
}

/// Adds to a running node the users it has no row for.
fn add_missing(
    node: &Node,
    agent: &Agent<'_>,
    everyone: &[AgentUser],
    connected: &HashMap<String, bool>,
) -> Result<(), ApiError> {
    let missing: Vec<AgentUser> = everyone
        .iter()
        .filter(|u| !connected.contains_key(&u.name))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let ok = agent.add_users(&missing).is_ok();
    log::info(
        "watchdog: users added to node",
        &[
            ("nodeId", &node.id),
            ("users", &missing.len().to_string()),
            ("ok", &ok.to_string()),
        ],
    );
    if ok {
        for user in &missing {
            roster::set_connected(&Pool, &node.id, &user.name, true)?;
        }
    }
    Ok(())
}

/// A node whose agent answered: online, with what it said of itself.
fn mark_online(node: &Node, status: &Status, now: i64) -> Result<(), ApiError> {
    Pool.execute(
        "UPDATE manager_nodes SET online = $1, agent_status = $2, cpu_load = $3, memory_load = $4, \
         last_seen_at = $5, updated_at = $5 WHERE id = $6",
        &[
            true.into(),
            status.status.as_str().into(),
            status.cpuload.into(),
            status.memoryload.into(),
            now.into(),
            node.id.as_str().into(),
        ],
    )?;
    Ok(())
}

/// user id → connected, for the node's rows.
fn connected_users(node_id: &str) -> Result<HashMap<String, bool>, ApiError> {
    let rows = Pool.query(
        "SELECT user_id, connected FROM node_users WHERE node_id = $1 AND connected = $2",
        &[node_id.into(), true.into()],
    )?;
    rows.iter()
        .map(|r| Ok((r.string("user_id")?, r.bool("connected")?)))
        .collect()
}

/// The part of a cumulative counter that is new since the last check; a counter below its last
/// check was reset (agent restart, node stop), so all of it is new.
pub fn delta(current: i64, last: i64) -> i64 {
    if current >= last {
        current - last
    } else {
        current.max(0)
    }
}

fn record_traffic(node: &Node, status: &Status, now: i64) -> Result<(), ApiError> {
    let hour = now - now.rem_euclid(HOUR_MS);
    for stat in &status.userstats {
        let rows = Pool.query(
            "SELECT last_check_incoming, last_check_outcoming FROM node_users \
             WHERE node_id = $1 AND user_id = $2",
            &[node.id.as_str().into(), stat.name.as_str().into()],
        )?;
        let Some(row) = rows.first() else {
            continue; // a user the manager does not know (deleted meanwhile)
        };
        let d_in = delta(stat.incoming, row.i64("last_check_incoming")?);
        let d_out = delta(stat.outcoming, row.i64("last_check_outcoming")?);
        let tx = nexuma_sdk::db::begin()?;
        tx.execute(
            "UPDATE node_users SET total_incoming = total_incoming + $1, \
             total_outcoming = total_outcoming + $2, last_check_incoming = $3, \
             last_check_outcoming = $4 WHERE node_id = $5 AND user_id = $6",
            &[
                d_in.into(),
                d_out.into(),
                stat.incoming.into(),
                stat.outcoming.into(),
                node.id.as_str().into(),
                stat.name.as_str().into(),
            ],
        )?;
        if d_in > 0 || d_out > 0 {
            tx.execute(
                "INSERT INTO usage_hourly (user_id, node_id, hour, incoming, outcoming) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, node_id, hour) DO UPDATE \
                 SET incoming = usage_hourly.incoming + excluded.incoming, \
                 outcoming = usage_hourly.outcoming + excluded.outcoming",
                &[
                    stat.name.as_str().into(),
                    node.id.as_str().into(),
                    hour.into(),
                    d_in.into(),
                    d_out.into(),
                ],
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}
