//! Real proxy parts for end-to-end tests (from `testkit`): Debian's v2ray as server (run by the
//! node agent) and as client, the agent binary, a local file server.

use std::path::PathBuf;
use std::time::Duration;

#[allow(unused_imports)] // each test file uses its part
pub use testkit::{
    file_server, find_on_path, free_port, v2ray, wait_listening, PullAgent, ServeAgent,
    V2rayClient as Client, BLOB,
};

pub fn node_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/nexuma-node");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p nexuma-node` (cargo test --workspace does)",
        path.display()
    );
    path
}

/// `nexuma-node pull` registering with `code` at the Core on `core_url`.
pub fn pull_agent(dir: &std::path::Path, core_url: &str, code: &str) -> PullAgent {
    PullAgent::start(&node_binary(), dir, core_url, Some(code))
}

/// Retries `f` until it succeeds or `within` passes; panics with what failed and the last error.
pub async fn eventually<F, Fut>(what: &str, within: Duration, f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    if let Err(e) = testkit::eventually(within, f).await {
        panic!("{what}: {e}");
    }
}
