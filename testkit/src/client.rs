//! A VPN user's client: the real v2ray core with a SOCKS inbound on loopback and one outbound,
//! and curl fetching through it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::file_server::BLOB;
use crate::port::{free_port, wait_listening};
use crate::process::v2ray;

pub struct V2rayClient {
    child: Child,
    dir: PathBuf,
    pub socks: u16,
}

impl V2rayClient {
    /// Starts v2ray with `outbound` (an outbound object as a subscription or a test builds it);
    /// its config goes in `dir`.
    pub fn start(dir: &Path, outbound: &Value) -> V2rayClient {
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
        V2rayClient {
            child,
            dir: dir.to_owned(),
            socks,
        }
    }

    /// Fetches `path` of the file server on `http_port` through the proxy, uploading `upload`
    /// bytes first when that is not 0; Ok when the whole blob came back.
    pub async fn fetch(&self, http_port: u16, path: &str, upload: usize) -> Result<(), String> {
        let mut curl = tokio::process::Command::new("curl");
        curl.args(["-sS", "--max-time", "10", "-o", "/dev/null"])
            .args(["-w", "%{http_code} %{size_download}"])
            .args(["--socks5-hostname", &format!("127.0.0.1:{}", self.socks)]);
        if upload > 0 {
            let file = self.dir.join(format!("upload-{upload}.bin"));
            if !file.exists() {
                std::fs::write(&file, vec![7u8; upload]).map_err(|e| e.to_string())?;
            }
            curl.arg("--data-binary")
                .arg(format!("@{}", file.display()));
        }
        let out = curl
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

impl Drop for V2rayClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
