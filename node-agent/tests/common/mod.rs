//! Test harness: the real agent binary, the real v2ray core (Debian's 4.34) as server and as
//! client, curl through the client's SOCKS port, a local HTTP server with a known file, and a
//! stand-in Core for pull mode (`core.rs`).
#![allow(dead_code)]

pub mod core;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const KEY: &str = "test-node-access-key-0123456789";
/// Size of the file the HTTP server hands out.
pub const BLOB: usize = 200_000;
/// Size of what each fetch uploads.
pub const UPLOAD: usize = 20_000;

/// Fails (never skips) when the core is missing: the tests are about the real core.
pub fn require_v2ray() -> PathBuf {
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("v2ray"))
                .find(|c| c.is_file())
        })
        .unwrap_or_default();
    match found {
        Some(path) => path,
        None => panic!(
            "v2ray is not installed: these tests run the real core. Install it with \
             `apt-get update && apt-get install -y v2ray` (or `make v2ray`)."
        ),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nexuma-node-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_listening(addr: SocketAddr, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Ports of the three proxy inbounds of a test node.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub vless: u16,
    pub vmess: u16,
    pub trojan: u16,
}

impl Ports {
    pub fn new() -> Ports {
        Ports {
            vless: free_port(),
            vmess: free_port(),
            trojan: free_port(),
        }
    }

    pub fn inbounds(&self) -> Value {
        json!([
            { "tag": "vless-in", "listen": "127.0.0.1", "port": self.vless, "protocol": "vless",
              "settings": { "clients": [], "decryption": "none" } },
            { "tag": "vmess-in", "listen": "127.0.0.1", "port": self.vmess, "protocol": "vmess",
              "settings": { "clients": [] },
              "streamSettings": { "network": "ws", "wsSettings": { "path": "/ws" } } },
            { "tag": "trojan-in", "listen": "127.0.0.1", "port": self.trojan, "protocol": "trojan",
              "settings": { "clients": [] } }
        ])
    }
}

/// A running `nexuma-node serve`.
pub struct Agent {
    pub child: Child,
    pub dir: PathBuf,
    pub port: u16,
    pub inbounds: PathBuf,
}

impl Agent {
    /// Starts the agent on `dir` (data in `dir/data`, inbounds in `dir/inbounds.json`).
    pub fn start(dir: &Path, port: u16) -> Agent {
        let core = require_v2ray();
        let inbounds = dir.join("inbounds.json");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .expect("agent log");
        let child = Command::new(env!("CARGO_BIN_EXE_nexuma-node"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--poll-secs",
                "1",
            ])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--core-bin")
            .arg(core)
            .arg("--inbounds")
            .arg(&inbounds)
            .env("NEXUMA_NODE_KEY", KEY)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn nexuma-node");
        let agent = Agent {
            child,
            dir: dir.to_owned(),
            port,
            inbounds,
        };
        assert!(
            wait_listening(
                SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_secs(15)
            ),
            "agent did not listen; log:\n{}",
            agent.log()
        );
        agent
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The core's pid as the agent records it.
    pub fn core_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/core.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// SIGTERM and wait (bounded).
    pub fn stop(&mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `nexuma-node pull` (data in `dir/data`, log in `dir/agent.log`).
pub struct PullAgent {
    pub child: Child,
    pub dir: PathBuf,
}

impl PullAgent {
    /// Starts the agent against the Core at `core_url`, with `code` in `NEXUMA_NODE_CODE`;
    /// heartbeats, reports and polls every second.
    pub fn start(dir: &Path, core_url: &str, code: Option<&str>) -> PullAgent {
        let mut cmd = PullAgent::command(dir, core_url);
        match code {
            Some(code) => cmd.env("NEXUMA_NODE_CODE", code),
            None => cmd.env_remove("NEXUMA_NODE_CODE"),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .expect("agent log");
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

    /// The command line `start` runs.
    pub fn command(dir: &Path, core_url: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nexuma-node"));
        cmd.args(["pull", "--core-url", core_url])
            .args([
                "--poll-secs",
                "1",
                "--heartbeat-secs",
                "1",
                "--report-secs",
                "1",
            ])
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--core-bin")
            .arg(require_v2ray())
            .env("RUST_LOG", "info,nexuma_node=debug");
        cmd
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    pub fn core_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("data/core.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
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

/// SIGTERM, then SIGKILL if the process has not gone within 10 s.
pub fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Durable traffic totals as the agent's journal files hold them: name → (up, down).
/// `prefix` is `traffic` (clients) or `outbound-traffic`.
pub fn journal_totals(data: &Path, prefix: &str) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut totals = std::collections::BTreeMap::new();
    let mut generation = 0;
    if let Ok(bytes) = std::fs::read(data.join(format!("{prefix}.snapshot.json"))) {
        let snapshot: Value = serde_json::from_slice(&bytes).expect("snapshot json");
        generation = snapshot["generation"].as_u64().expect("generation");
        for (name, b) in snapshot["totals"].as_object().expect("totals") {
            totals.insert(
                name.clone(),
                (
                    b["up"].as_u64().unwrap_or(0),
                    b["down"].as_u64().unwrap_or(0),
                ),
            );
        }
    }
    let journal = std::fs::read_to_string(data.join(format!("{prefix}.{generation}.journal")))
        .unwrap_or_default();
    for line in journal.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let t = totals
            .entry(entry["name"].as_str().unwrap_or_default().to_owned())
            .or_insert((0, 0));
        t.0 += entry["up"].as_u64().unwrap_or(0);
        t.1 += entry["down"].as_u64().unwrap_or(0);
    }
    totals
}

pub fn write_inbounds(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).expect("json")).expect("write inbounds");
}

/// An HTTPS client that trusts the agent's self-signed certificate.
pub fn https() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

pub fn users(list: &[(&str, &str)]) -> Value {
    json!({ "users": list.iter().map(|(n, k)| json!({"name": n, "key": k})).collect::<Vec<_>>() })
}

/// POSTs JSON with the access key; returns status and body text.
pub async fn post(
    client: &reqwest::Client,
    agent: &Agent,
    path: &str,
    body: &Value,
) -> (u16, String) {
    let resp = client
        .post(agent.url(path))
        .header("x-node-auth-key", KEY)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

pub async fn status(client: &reqwest::Client, agent: &Agent) -> Value {
    let resp = client
        .get(agent.url("/node/status"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("status request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("status json")
}

/// `GET /node/inbounds` with the access key.
pub async fn inbounds(client: &reqwest::Client, agent: &Agent) -> Value {
    let resp = client
        .get(agent.url("/node/inbounds"))
        .header("x-node-auth-key", KEY)
        .send()
        .await
        .expect("inbounds request");
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().await.expect("inbounds json")
}

impl Ports {
    /// What `GET /node/inbounds` answers for `Ports::inbounds()` on v2ray.
    pub fn exposed(&self) -> Value {
        json!({ "flavor": "v2ray", "inbounds": [
            { "tag": "vless-in", "protocol": "vless", "port": self.vless,
              "network": "tcp", "security": "none" },
            { "tag": "vmess-in", "protocol": "vmess", "port": self.vmess,
              "network": "ws", "security": "none", "path": "/ws" },
            { "tag": "trojan-in", "protocol": "trojan", "port": self.trojan,
              "network": "tcp", "security": "none" }
        ] })
    }
}

/// (incoming, outcoming) of a user in a status body; absent reads as (0, 0).
pub fn counters(status: &Value, name: &str) -> (u64, u64) {
    status["userstats"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["name"] == name))
        .map(|u| {
            (
                u["incoming"].as_u64().unwrap_or(0),
                u["outcoming"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or((0, 0))
}

/// A local HTTP server that answers any request with `BLOB` known bytes; on `/slow` it
/// trickles them out over about 1.5 s.
pub async fn file_server() -> u16 {
    use http_body_util::{channel::Channel, BodyExt, Either, Full};
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    type Body = Either<Full<bytes::Bytes>, Channel<bytes::Bytes, std::convert::Infallible>>;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let slow = req.uri().path() == "/slow";
                    let _ = req.into_body().collect().await;
                    let blob: Vec<u8> = (0..BLOB).map(|i| (i % 251) as u8).collect();
                    let body: Body = if slow {
                        let (mut tx, body) = Channel::new(1);
                        tokio::spawn(async move {
                            for chunk in blob.chunks(BLOB / 10) {
                                tokio::time::sleep(Duration::from_millis(150)).await;
                                if tx
                                    .send_data(bytes::Bytes::copy_from_slice(chunk))
                                    .await
                                    .is_err()
                                {
                                    return;
                                }
                            }
                        });
                        Either::Right(body)
                    } else {
                        Either::Left(Full::new(bytes::Bytes::from(blob)))
                    };
                    let mut resp = hyper::Response::new(body);
                    if slow {
                        resp.headers_mut()
                            .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(BLOB));
                    }
                    Ok::<_, std::convert::Infallible>(resp)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    port
}

/// Which inbound a client dials.
#[derive(Clone, Copy, Debug)]
pub enum Proto {
    Vless,
    Vmess,
    Trojan,
}

/// The UUID a VLESS/VMess client uses for a key: the key when it is a UUID, else its UUIDv5
/// in the nil namespace (computed here independently of the agent).
pub fn client_uuid(key: &str) -> String {
    match uuid::Uuid::try_parse(key) {
        Ok(u) if key.len() == 36 => u.to_string(),
        _ => uuid::Uuid::new_v5(&uuid::Uuid::nil(), key.as_bytes()).to_string(),
    }
}

/// A v2ray client process: SOCKS inbound on loopback → one outbound with the user's key.
pub struct Client {
    child: Child,
    pub socks: u16,
}

impl Client {
    pub fn start(dir: &Path, proto: Proto, ports: Ports, key: &str) -> Client {
        let socks = free_port();
        let outbound = match proto {
            Proto::Vless => json!({ "protocol": "vless", "settings": { "vnext": [{
                "address": "127.0.0.1", "port": ports.vless,
                "users": [{ "id": client_uuid(key), "encryption": "none" }] }] } }),
            Proto::Vmess => json!({ "protocol": "vmess", "settings": { "vnext": [{
                "address": "127.0.0.1", "port": ports.vmess,
                "users": [{ "id": client_uuid(key), "alterId": 0, "security": "auto" }] }] },
                "streamSettings": { "network": "ws", "wsSettings": { "path": "/ws" } } }),
            Proto::Trojan => json!({ "protocol": "trojan", "settings": { "servers": [{
                "address": "127.0.0.1", "port": ports.trojan, "password": key }] } }),
        };
        let config = json!({
            "log": { "loglevel": "warning" },
            "inbounds": [{ "listen": "127.0.0.1", "port": socks, "protocol": "socks",
                           "settings": { "auth": "noauth", "udp": false } }],
            "outbounds": [outbound]
        });
        let path = dir.join(format!("client-{socks}.json"));
        std::fs::write(&path, config.to_string()).expect("client config");
        let child = Command::new(require_v2ray())
            .arg("-config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn v2ray client");
        assert!(
            wait_listening(
                SocketAddr::from(([127, 0, 0, 1], socks)),
                Duration::from_secs(10)
            ),
            "v2ray client did not listen"
        );
        Client { child, socks }
    }

    /// Uploads `UPLOAD` bytes and downloads the blob through the proxy; Ok when all of it came.
    pub async fn fetch(&self, dir: &Path, http_port: u16) -> Result<(), String> {
        self.fetch_path(dir, http_port, "/blob").await
    }

    /// As `fetch`, for another path of the file server (`/slow`).
    pub async fn fetch_path(&self, dir: &Path, http_port: u16, path: &str) -> Result<(), String> {
        let upload = dir.join("upload.bin");
        if !upload.exists() {
            std::fs::write(&upload, vec![7u8; UPLOAD]).map_err(|e| e.to_string())?;
        }
        let out = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
            ])
            .args(["--socks5-hostname", &format!("127.0.0.1:{}", self.socks)])
            .arg("--data-binary")
            .arg(format!("@{}", upload.display()))
            .arg(format!("http://127.0.0.1:{http_port}{path}"))
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|e| format!("curl: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text == format!("200 {BLOB}") {
            Ok(())
        } else {
            Err(format!(
                "curl exit {:?}, got {text:?}, stderr {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Retries `f` until it succeeds or `within` passes; returns the last error.
pub async fn eventually<F, Fut>(within: Duration, mut f: F) -> Result<(), String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let until = Instant::now() + within;
    loop {
        match f().await {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= until => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .contains("State:\tZ")
}
