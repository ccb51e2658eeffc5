//! What the Core's and the agent's tests share: loopback ports that never collide, the real
//! v2ray core as a client (curl through its SOCKS port), a local file server, the node agent
//! (serve or pull mode) as a child process, a fleet of simulated pull agents (feature `fleet`),
//! and waiting for something to become true.

mod agent;
mod client;
mod file_server;
#[cfg(feature = "fleet")]
pub mod fleet;
mod port;
mod process;

pub use agent::{PullAgent, ServeAgent};
pub use client::V2rayClient;
pub use file_server::{file_server, BLOB};
pub use port::{free_port, wait_listening};
pub use process::{find_on_path, pid_alive, terminate, v2ray};

use std::time::{Duration, Instant};

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
