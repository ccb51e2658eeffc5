//! The node agent as a child process, in either mode: data in `dir/data`, log in
//! `dir/agent.log`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::port::wait_listening;
use crate::process::{terminate, v2ray};

fn open_log(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agent.log"))
        .expect("agent log")
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("agent.log")).unwrap_or_default()
}

/// The core's pid as the agent records it.
fn read_core_pid(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join("data/core.pid"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// `nexuma-node serve`: the Node API over TLS on a loopback port, its inbounds read from
/// `dir/inbounds.json`, polling the core every second. It can be stopped and started again.
pub struct ServeAgent {
    child: Option<Child>,
    bin: PathBuf,
    key: String,
    pub dir: PathBuf,
    pub port: u16,
    pub inbounds: PathBuf,
}

impl ServeAgent {
    /// Starts the agent binary `bin` with the access key `key` and waits until it listens.
    pub fn start(bin: &Path, dir: &Path, port: u16, key: &str) -> ServeAgent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let mut agent = ServeAgent {
            child: None,
            bin: bin.to_owned(),
            key: key.to_owned(),
            dir: dir.to_owned(),
            port,
            inbounds: dir.join("inbounds.json"),
        };
        agent.restart();
        agent
    }

    /// Starts the agent again (after `stop`) on the same data, port and key.
    pub fn restart(&mut self) {
        let log = open_log(&self.dir);
        let child = Command::new(&self.bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--poll-secs", "1"])
            .arg("--data-dir")
            .arg(self.dir.join("data"))
            .arg("--core-bin")
            .arg(v2ray())
            .arg("--inbounds")
            .arg(&self.inbounds)
            .env("NEXUMA_NODE_KEY", &self.key)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn nexuma-node serve");
        self.child = Some(child);
        assert!(
            wait_listening(self.port, Duration::from_secs(15)),
            "agent did not listen; log:\n{}",
            self.log()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    pub fn core_pid(&self) -> Option<u32> {
        read_core_pid(&self.dir)
    }

    /// The certificate fingerprint the agent printed at start.
    pub fn fingerprint(&self) -> String {
        const PREFIX: &str = "TLS certificate SHA-256 fingerprint: ";
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(fp) = self
                .log()
                .lines()
                .find_map(|l| l.split_once(PREFIX).map(|(_, fp)| fp.trim().to_string()))
            {
                return fp;
            }
            assert!(
                Instant::now() < until,
                "no fingerprint line:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM and wait (bounded).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

impl Drop for ServeAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct PullAgent {
    pub child: Child,
    pub dir: PathBuf,
}

impl PullAgent {
    /// The command line `start` runs: the agent binary `bin` against the Core at `core_url`,
    /// heartbeating, reporting and polling every second, with v2ray as its core.
    pub fn command(bin: &Path, dir: &Path, core_url: &str) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(["pull", "--core-url", core_url])
            .args(["--poll-secs", "1", "--heartbeat-secs", "1"])
            .args(["--report-secs", "1"])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--core-bin")
            .arg(v2ray())
            .env("RUST_LOG", "info,nexuma_node=debug");
        cmd
    }

    /// Starts the agent, with `code` in `NEXUMA_NODE_CODE` (none: it must already be registered).
    pub fn start(bin: &Path, dir: &Path, core_url: &str, code: Option<&str>) -> PullAgent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let mut cmd = PullAgent::command(bin, dir, core_url);
        match code {
            Some(code) => cmd.env("NEXUMA_NODE_CODE", code),
            None => cmd.env_remove("NEXUMA_NODE_CODE"),
        };
        let log = open_log(dir);
        let child = cmd
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn nexuma-node pull");
        PullAgent {
            child,
            dir: dir.to_owned(),
        }
    }

    pub fn log(&self) -> String {
        read_log(&self.dir)
    }

    pub fn core_pid(&self) -> Option<u32> {
        read_core_pid(&self.dir)
    }

    /// The agent's usage spool: totals the Core acknowledged per client, and whether a report
    /// is still on its way.
    pub fn usage_spool(&self) -> Value {
        std::fs::read(self.dir.join("data/usage.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }

    /// SIGTERM and wait (bounded).
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for PullAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
