//! A fleet of simulated pull agents against one Core (issue 20; the bench's `fleet` part runs
//! 1,000 of them): every agent converges to its node's latest revision after a change that
//! touches every node, and every usage report is counted exactly once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{query_texts, Backend, Core, Options};
use serde_json::json;
use testkit::fleet::{Fleet, FleetSettings};

/// Enough agents to exercise concurrency, few enough for CI.
const AGENTS: usize = 100;
const SUBSCRIBERS: usize = 5;

async fn start() -> Core {
    Core::start_with(
        Backend::Servers,
        Options::default().components(&["auth", "billing", "nodes"]),
    )
    .await
}

async fn rule_set(core: &Core, admin: &str) -> String {
    let r = core
        .post(
            "/admin/routing-rule-sets",
            Some(admin),
            json!({ "name": "ads", "rules": [
                { "type": "field", "domain": ["domain:ads.example"], "outboundTag": "block" } ] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

/// A node using `set`, and a registration code for it.
async fn node_with_code(core: &Core, admin: &str, i: usize, set: &str) -> String {
    let r = core
        .post(
            "/admin/nodes",
            Some(admin),
            json!({ "name": format!("sim-{i}"), "address": format!("sim-{i}.example.com"),
                    "inbounds": [{ "tag": "vless-in", "protocol": "vless", "port": 20001 }],
                    "ruleSetIds": [set] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    common::agent::registration_code(core, admin, &r.str("id")).await
}

/// Registration codes of `AGENTS` new nodes.
async fn codes(core: &Core, admin: &str, set: &str) -> Vec<String> {
    let mut codes = Vec::with_capacity(AGENTS);
    for i in 0..AGENTS {
        codes.push(node_with_code(core, admin, i, set).await);
    }
    codes
}

/// Every node's latest revision, from the database.
async fn revisions(core: &Core) -> HashMap<String, u64> {
    query_texts(
        core,
        "SELECT id || ' ' || CAST(revision AS TEXT) FROM nodes",
    )
    .await
    .iter()
    .filter_map(|row| {
        let (id, revision) = row.split_once(' ')?;
        Some((id.to_string(), revision.parse().ok()?))
    })
    .collect()
}

/// Waits until every node's revision is past the one in `past` (if given), every agent runs
/// its node's latest revision and the Core has its confirmation; the revisions.
async fn converge(
    core: &Core,
    fleet: &Fleet,
    past: Option<&HashMap<String, u64>>,
    within: Duration,
) -> HashMap<String, u64> {
    let until = std::time::Instant::now() + within;
    loop {
        let latest = revisions(core).await;
        let moved = past.is_none_or(|past| {
            past.iter()
                .all(|(node, before)| latest.get(node).is_some_and(|now| now > before))
        });
        if !moved {
            assert!(
                std::time::Instant::now() < until,
                "not every node has a new revision: {latest:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let unconfirmed = query_texts(
            core,
            "SELECT CAST(COUNT(*) AS TEXT) FROM nodes \
             WHERE applied_revision IS DISTINCT FROM revision",
        )
        .await;
        let outcome =
            fleet
                .converged(&latest)
                .and_then(|_| match unconfirmed.first().map(String::as_str) {
                    Some("0") => Ok(()),
                    other => Err(format!(
                        "{other:?} nodes have not confirmed their latest revision"
                    )),
                });
        match outcome {
            Ok(()) => return latest,
            Err(e) if std::time::Instant::now() >= until => {
                panic!(
                    "the fleet did not converge: {e}; {:?}",
                    fleet.tally().totals()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn sum(core_rows: &[String]) -> u64 {
    core_rows
        .first()
        .and_then(|v| v.parse().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_converges_and_every_report_counts_once() {
    let core = start().await;
    let admin = core.admin_token().await;
    for i in 0..SUBSCRIBERS {
        common::subscribed_user(&core, &admin, &format!("fleet-{i}@example.com")).await;
    }
    let set = rule_set(&core, &admin).await;
    let codes = codes(&core, &admin, &set).await;

    let settings = FleetSettings {
        heartbeat: Duration::from_secs(1),
        report: Duration::from_secs(2),
        clients_per_report: 3,
        ..FleetSettings::agent_defaults(&core.base)
    };
    let mut fleet = Fleet::start(settings, codes).expect("the fleet starts");
    let first = converge(&core, &fleet, None, Duration::from_secs(120)).await;
    assert_eq!(fleet.tally().totals().registered, AGENTS as u64);

    // A change that moves every node's config: the shared rule set gets another rule.
    let r = core
        .patch(
            &format!("/admin/routing-rule-sets/{set}"),
            Some(&admin),
            json!({ "rules": [
                { "type": "field", "domain": ["domain:ads.example"], "outboundTag": "block" },
                { "type": "field", "domain": ["domain:tracker.example"], "outboundTag": "block" } ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let after = converge(&core, &fleet, Some(&first), Duration::from_secs(120)).await;
    for (node, revision) in &first {
        assert!(
            after.get(node).is_some_and(|r| r > revision),
            "node {node} did not move past revision {revision}: {after:?}"
        );
    }

    // Usage keeps flowing for a few rounds, then every agent's last report is taken.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let totals = fleet.stop().await;
    assert_eq!(totals.server_errors, 0, "{totals:?}");
    assert_eq!(totals.other_errors, 0, "{totals:?}");
    assert_eq!(totals.rejected, 0, "{totals:?}");
    assert!(totals.usage_reports >= AGENTS as u64, "{totals:?}");

    let sent = fleet.sent();
    assert_eq!(sent.len(), AGENTS);
    let sent_bytes: u64 = sent.values().map(|s| s.up + s.down).sum();
    let distinct_reports = totals.usage_reports + totals.outbound_reports - totals.duplicates;
    let counted = testkit::eventually(Duration::from_secs(60), || async {
        let used = sum(&query_texts(
            &core,
            "SELECT CAST(COALESCE(SUM(traffic_used_bytes), 0) AS TEXT) FROM subscriptions",
        )
        .await);
        let reports =
            sum(&query_texts(&core, "SELECT CAST(COUNT(*) AS TEXT) FROM node_reports").await);
        if (used, reports) == (sent_bytes, distinct_reports) {
            Ok(())
        } else {
            Err(format!(
                "subscriptions used {used} bytes of {sent_bytes} sent; {reports} reports of \
                 {distinct_reports} taken"
            ))
        }
    })
    .await;
    counted.expect("every acknowledged report is counted exactly once");

    // Per node: the hourly buckets of clients and of outbounds hold what that agent sent.
    let per_node = |sql: &'static str| {
        let core = &core;
        async move {
            query_texts(core, sql)
                .await
                .iter()
                .filter_map(|row| {
                    let mut parts = row.split(' ');
                    let id = parts.next()?.to_string();
                    let up: u64 = parts.next()?.parse().ok()?;
                    let down: u64 = parts.next()?.parse().ok()?;
                    Some((id, (up, down)))
                })
                .collect::<HashMap<String, (u64, u64)>>()
        }
    };
    let clients = per_node(
        "SELECT node_id || ' ' || CAST(SUM(up) AS TEXT) || ' ' || CAST(SUM(down) AS TEXT) \
         FROM traffic_hourly GROUP BY node_id",
    )
    .await;
    let outbounds = per_node(
        "SELECT node_id || ' ' || CAST(SUM(up) AS TEXT) || ' ' || CAST(SUM(down) AS TEXT) \
         FROM outbound_traffic_hourly GROUP BY node_id",
    )
    .await;
    for (node, s) in &sent {
        assert_eq!(
            clients.get(node).copied().unwrap_or_default(),
            (s.up, s.down),
            "client traffic of node {node}"
        );
        assert_eq!(
            outbounds.get(node).copied().unwrap_or_default(),
            (s.outbound_up, s.outbound_down),
            "outbound traffic of node {node}"
        );
    }
}
