//! HTTPS in the Core: `TLS_CERT_FILE`/`TLS_KEY_FILE` with a self-signed certificate, checked
//! with curl (HTTP/1.1 and HTTP/2 by ALPN), a renewal picked up on SIGHUP, the start refused
//! on a bad configuration, and a pull agent registering through HTTPS with `--core-pin`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::proxy::{eventually, node_binary, PullAgent};
use common::{Backend, Core, Options};
use serde_json::json;
use sha2::Digest;

/// A self-signed certificate for 127.0.0.1 and localhost.
struct SelfSigned {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl SelfSigned {
    fn new() -> SelfSigned {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
        ])
        .expect("self-signed certificate");
        SelfSigned {
            cert_pem: made.cert.pem(),
            key_pem: made.key_pair.serialize_pem(),
            der: made.cert.der().to_vec(),
        }
    }

    /// Writes the certificate and key where the Core reads them; returns the certificate path
    /// (curl's `--cacert`: a self-signed certificate is its own authority).
    fn install(&self, dir: &Path) -> PathBuf {
        std::fs::write(dir.join("key.pem"), &self.key_pem).expect("write key");
        std::fs::write(dir.join("cert.pem"), &self.cert_pem).expect("write cert");
        dir.join("cert.pem")
    }

    /// A copy of the certificate alone, to hand to curl after the served files change.
    fn ca_file(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.cert_pem).expect("write ca");
        path
    }
}

fn tls_dir(core: &Core) -> PathBuf {
    let dir = core.dir.path().join("tls");
    std::fs::create_dir_all(&dir).expect("tls dir");
    dir
}

/// Starts a Core serving HTTPS with `cert`, its test client trusting that certificate.
async fn start_https(options: Options, cert: &SelfSigned) -> Core {
    let mut core = Core::prepare(Backend::Embedded, options);
    let dir = tls_dir(&core);
    cert.install(&dir);
    core.set_env("TLS_CERT_FILE", &dir.join("cert.pem").display().to_string());
    core.set_env("TLS_KEY_FILE", &dir.join("key.pem").display().to_string());
    core.base = core.base.replace("http://", "https://");
    core.client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert_pem.as_bytes()).expect("certificate"),
        )
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    core.spawn().await;
    core
}

/// `curl` trusting only `ca`: the HTTP version it spoke, or its error.
fn curl(core: &Core, ca: &Path, version_flag: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
        ])
        .arg(version_flag)
        .arg("--cacert")
        .arg(ca)
        .arg(core.url("/health"))
        .output()
        .expect("run curl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn sighup(core: &Core) {
    let status = Command::new("kill")
        .args(["-HUP", &core.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_speaks_http1_and_http2_to_the_https_core() {
    let cert = SelfSigned::new();
    let core = start_https(Options::default(), &cert).await;
    let ca = tls_dir(&core).join("cert.pem");

    assert_eq!(curl(&core, &ca, "--http1.1"), Ok("1.1".to_string()));
    assert_eq!(curl(&core, &ca, "--http2"), Ok("2".to_string()));
    // Plain HTTP on the same port is not served.
    let plain = core.url("/health").replace("https://", "http://");
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(plain)
        .output()
        .expect("curl");
    assert_ne!(String::from_utf8_lossy(&out.stdout), "200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_after_sighup() {
    let old = SelfSigned::new();
    let core = start_https(Options::default(), &old).await;
    let dir = tls_dir(&core);
    let old_ca = old.ca_file(&dir, "old-ca.pem");
    assert_eq!(curl(&core, &old_ca, "--http1.1"), Ok("1.1".to_string()));

    let renewed = SelfSigned::new();
    let new_ca = renewed.ca_file(&dir, "new-ca.pem");
    renewed.install(&dir);
    // Until SIGHUP the old certificate keeps serving.
    assert!(curl(&core, &new_ca, "--http1.1").is_err());
    sighup(&core);
    eventually(
        "the renewed certificate served",
        Duration::from_secs(10),
        || async { curl(&core, &new_ca, "--http1.1").map(|_| ()) },
    )
    .await;
    assert!(
        curl(&core, &old_ca, "--http1.1").is_err(),
        "the old certificate is no longer served"
    );

    // A broken renewal keeps the working certificate and says why.
    std::fs::write(dir.join("cert.pem"), "not a certificate").expect("write");
    sighup(&core);
    eventually(
        "the failed reload logged",
        Duration::from_secs(10),
        || async {
            let log = core.log();
            if log.contains("TLS reload failed") && log.contains("TLS_CERT_FILE") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
    assert_eq!(curl(&core, &new_ca, "--http2"), Ok("2".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_the_handshake_does_not_hold_the_core() {
    let cert = SelfSigned::new();
    let options = Options::default().env("MAX_CONNECTIONS", "2");
    let core = start_https(options, &cert).await;
    let ca = tls_dir(&core).join("cert.pem");
    let addr = core.base.trim_start_matches("https://").to_string();
    // Two silent connections take both slots; the handshake timeout frees them.
    let _silent: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    eventually(
        "served again after the handshake timeout",
        Duration::from_secs(20),
        || async { curl(&core, &ca, "--http1.1").map(|_| ()) },
    )
    .await;
}

#[tokio::test]
async fn tls_misconfiguration_refuses_to_start() {
    let cert = SelfSigned::new();
    let mut core = Core::prepare(Backend::Embedded, Options::default());
    let dir = tls_dir(&core);
    let cert_path = cert.install(&dir).display().to_string();

    core.set_env("TLS_CERT_FILE", &cert_path);
    let out = core.run_cli(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("TLS_KEY_FILE"), "{err}");

    let missing = dir.join("missing-key.pem").display().to_string();
    core.set_env("TLS_KEY_FILE", &missing);
    let out = core.run_cli(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("missing-key.pem"), "{err}");

    core.set_env("TLS_KEY_FILE", &cert_path);
    let out = core.run_cli(&["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("private key"), "{err}");
}

/// `nexuma-node pull` against `core_url`, pinned to `pin`, registering with `code`.
fn pinned_agent(dir: &Path, core_url: &str, pin: &str, code: &str) -> PullAgent {
    std::fs::create_dir_all(dir).expect("agent dir");
    let log = std::fs::File::create(dir.join("agent.log")).expect("agent log");
    let child = PullAgent::command(&node_binary(), dir, core_url)
        .env("NEXUMA_NODE_CORE_PIN", pin)
        .env("NEXUMA_NODE_CODE", code)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn nexuma-node pull");
    PullAgent {
        child,
        dir: dir.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_agent_reaches_the_https_core_with_a_pin() {
    let cert = SelfSigned::new();
    let options = Options::default().components(&["auth", "billing", "nodes"]);
    let core = start_https(options, &cert).await;
    let admin = core.admin_token().await;
    let node = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "Pinned", "address": "127.0.0.1", "inbounds": [
                { "tag": "vless-in", "protocol": "vless", "port": testkit::free_port(),
                  "listen": "127.0.0.1" }
            ] }),
        )
        .await;
    assert_eq!(node.status, 201, "{}", node.text);
    let node = node.str("id");
    let first = common::agent::registration_code(&core, &admin, &node).await;

    // A wrong pin: the agent refuses the Core, and the code stays unused.
    let wrong = "00".repeat(32);
    let pin = cert_pin::fingerprint(&sha2::Sha256::digest(&cert.der));
    let mut stray = pinned_agent(&core.dir.path().join("stray"), &core.base, &wrong, &first);
    eventually("the wrong pin refused", Duration::from_secs(20), || async {
        let log = stray.log();
        // The agent names the certificate it saw: the one the Core serves.
        if log.contains("PinMismatch") && log.contains(&pin) {
            Ok(())
        } else {
            Err(log)
        }
    })
    .await;
    stray.stop();
    let n = core
        .get(&format!("/admin/nodes/{node}"), Some(&admin))
        .await
        .body;
    assert_ne!(n["effectiveStatus"], "active", "{n}");

    // The same code: the refused agent never got to send it.
    let agent = pinned_agent(&core.dir.path().join("agent"), &core.base, &pin, &first);
    let path = format!("/admin/nodes/{node}");
    eventually(
        &format!("node active through HTTPS; agent log:\n{}", agent.log()),
        Duration::from_secs(60),
        || async {
            core.post("/admin/nodes/sync", Some(&admin), json!({}))
                .await;
            let n = core.get(&path, Some(&admin)).await.body;
            if n["syncState"] == "synced" && n["effectiveStatus"] == "active" {
                Ok(())
            } else {
                Err(format!("{n}\n{}", agent.log()))
            }
        },
    )
    .await;
}
