//! Real proxy parts for end-to-end tests: Debian's v2ray as server (run by the node agent)
//! and as client, the agent binary, a local file server, curl through a client's SOCKS port.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Bytes the file server hands out per request.
pub const BLOB: usize = 100_000;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

pub fn v2ray() -> PathBuf {
    find_on_path("v2ray").expect("v2ray is not installed: `make v2ray` (apt-get install -y v2ray)")
}

pub fn node_binary() -> PathBuf {
    let path = repo_root().join("target/debug/nexuma-node");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p nexuma-node` (cargo test --workspace does)",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn wait_listening(port: u16, within: Duration) -> bool {
    let until = Instant::now() + within;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < until {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// A local HTTP server answering every request with `BLOB` bytes.
pub async fn file_server() -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {BLOB}\r\nconnection: close\r\n\r\n"
                );
                let _ = tcp.write_all(head.as_bytes()).await;
                let _ = tcp.write_all(&vec![42u8; BLOB]).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    port
}

/// A v2ray client: SOCKS on loopback → the subscription entry's outbound object, as given.
pub struct Client {
    child: Child,
    pub socks: u16,
}

impl Client {
    pub fn start(dir: &Path, outbound: &Value) -> Client {
        let socks = free_port();
        let config = json!({
            "log": { "loglevel": "warning" },
            "inbounds": [{ "listen": "127.0.0.1", "port": socks, "protocol": "socks",
                           "settings": { "auth": "noauth", "udp": false } }],
            "outbounds": [outbound]
        });
        let path = dir.join(format!("client-{socks}.json"));
        std::fs::write(&path, config.to_string()).expect("client config");
        let child = Command::new(v2ray())
            .arg("-config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn v2ray client");
        assert!(
            wait_listening(socks, Duration::from_secs(10)),
            "v2ray client did not listen"
        );
        Client { child, socks }
    }

    /// Downloads the blob through the proxy; Ok when all of it came.
    pub async fn fetch(&self, http_port: u16) -> Result<(), String> {
        let out = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "8",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
            ])
            .args(["--socks5-hostname", &format!("127.0.0.1:{}", self.socks)])
            .arg(format!("http://127.0.0.1:{http_port}/blob"))
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

/// Retries `f` until it succeeds or `within` passes; panics with the last error.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let until = Instant::now() + within;
    loop {
        match f().await {
            Ok(()) => return,
            Err(e) if Instant::now() >= until => panic!("{what}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// `nexuma-node pull` against a Core, heartbeating, reporting and polling every second.
pub struct PullAgent {
    child: Child,
    pub dir: PathBuf,
}

impl PullAgent {
    /// Starts the agent with its data in `dir/data`; `code` goes in `NEXUMA_NODE_CODE`.
    pub fn start(dir: &Path, core_url: &str, code: &str) -> PullAgent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("agent.log"))
            .expect("agent log");
        let child = Command::new(node_binary())
            .args(["pull", "--core-url", core_url])
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
            .arg(v2ray())
            .env("NEXUMA_NODE_CODE", code)
            .env("RUST_LOG", "info")
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
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }

    /// The agent's usage spool: totals the Core acknowledged per client, and whether a report
    /// is still on its way.
    pub fn usage_spool(&self) -> Value {
        std::fs::read(self.dir.join("data/usage.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for PullAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
