//! `nexuma-node-bench`: the node agent's figures with 10,000 users on the real core — live add
//! and remove times, memory, and one stats poll. Prints a Markdown section for BENCHMARKS.md.
//!
//! Runs the agent's node in process (no HTTP in between) against `--core-bin` (default: xray
//! or v2ray on PATH). Usage: `nexuma-node-bench [USERS]` (default 10000).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use nexuma_node::grpc::messages::Stat;
use nexuma_node::node::{Node, NodeSettings, UserSpec};
use nexuma_node::proxy::{flavor, Flavor};
use nexuma_node::traffic::Traffic;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("USERS must be a number")?,
        None => 10_000,
    };
    let core_bin = flavor::default_bin()?;
    let flavor = Flavor::detect(&core_bin).await?;
    let dir = std::env::temp_dir().join(format!("nexuma-node-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = || -> anyhow::Result<u16> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port())
    };
    let inbounds = json!([
        { "tag": "vless-in", "listen": "127.0.0.1", "port": port()?, "protocol": "vless",
          "settings": { "clients": [], "decryption": "none" } },
        { "tag": "vmess-in", "listen": "127.0.0.1", "port": port()?, "protocol": "vmess",
          "settings": { "clients": [] } },
        { "tag": "trojan-in", "listen": "127.0.0.1", "port": port()?, "protocol": "trojan",
          "settings": { "clients": [] } }
    ]);
    let inbounds_path = dir.join("inbounds.json");
    std::fs::write(&inbounds_path, inbounds.to_string())?;
    let node = Node::open(NodeSettings {
        core_bin: core_bin.clone(),
        flavor,
        grpc_prefix: flavor.grpc_prefix().to_owned(),
        inbounds_path: Some(inbounds_path),
        data_dir: dir.join("data"),
        api_port: port()?,
        poll_interval: Duration::from_secs(3600),
        count_outbounds: false,
    })?;
    node.start(Vec::new()).await?;
    let rss_idle = rss_kib("self");

    let users: Vec<UserSpec> = (0..count)
        .map(|i| UserSpec {
            name: format!("user-{i:05}"),
            key: format!("key-{i:05}-bench"),
        })
        .collect();
    let t = Instant::now();
    node.add_users(users.clone()).await?;
    let add = t.elapsed();
    let rss_agent = rss_kib("self");
    let rss_core = node
        .core_pid()
        .map(|p| rss_kib(&p.to_string()))
        .unwrap_or(0);

    // A real poll (QueryStats with reset over the API, journal write with fsync)…
    let t = Instant::now();
    node.poll().await?;
    let poll_real = t.elapsed();
    // …and the journal side with every user's counters moved, which a real poll of a busy node
    // does (counters appear only once a user has connected).
    let traffic = Traffic::open(&dir.join("journal-bench"))?;
    traffic.know(users.iter().map(|u| u.name.as_str()));
    let stats: Vec<Stat> = users
        .iter()
        .flat_map(|u| {
            let email = nexuma_node::credential::email_for(&u.name);
            [
                Stat {
                    name: format!("user>>>{email}>>>traffic>>>uplink"),
                    value: 1234,
                },
                Stat {
                    name: format!("user>>>{email}>>>traffic>>>downlink"),
                    value: 56789,
                },
            ]
        })
        .collect();
    let t = Instant::now();
    traffic.record(stats).await?;
    let poll_journal = t.elapsed();

    let t = Instant::now();
    node.remove_users(users).await?;
    let remove = t.elapsed();
    node.stop().await?;
    let _ = std::fs::remove_dir_all(&dir);

    let calls = count * 3;
    println!("\n## Node agent (`nexuma-node`)\n");
    println!(
        "{count} users live on {} (`{}`), 3 inbounds (VLESS, VMess, Trojan): {calls} `AlterInbound` calls each way.\n",
        match flavor {
            Flavor::Xray => "Xray",
            Flavor::V2ray => "v2ray",
        },
        core_bin.display()
    );
    println!("| measure | value | goal |");
    println!("| --- | --- | --- |");
    println!(
        "| add {count} users live | {:.2} s ({:.0} calls/s) | < 10 s |",
        add.as_secs_f64(),
        calls as f64 / add.as_secs_f64()
    );
    println!(
        "| remove {count} users live | {:.2} s | |",
        remove.as_secs_f64()
    );
    println!(
        "| agent RSS, idle | {:.1} MiB | |",
        rss_idle as f64 / 1024.0
    );
    println!(
        "| agent RSS with {count} users | {:.1} MiB | < 50 MiB |",
        rss_agent as f64 / 1024.0
    );
    println!(
        "| core RSS with {count} users | {:.1} MiB | |",
        rss_core as f64 / 1024.0
    );
    println!(
        "| one stats poll (QueryStats + journal) | {:.1} ms | |",
        poll_real.as_secs_f64() * 1000.0
    );
    println!(
        "| journal of one poll, all {count} users moved (fsync) | {:.1} ms | |",
        poll_journal.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// VmRSS of a process in KiB (`self` or a pid).
fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
