//! One running core process: spawned in the foreground, its output forwarded to the log,
//! ended with SIGTERM (then SIGKILL) and never outliving the agent.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::Flavor;

/// A spawned core.
pub struct CoreProcess {
    child: Child,
    pid: u32,
}

impl CoreProcess {
    pub fn spawn(bin: &Path, flavor: Flavor, config: &Path) -> std::io::Result<CoreProcess> {
        let mut cmd = Command::new(bin);
        cmd.args(flavor.run_args(config))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the core when the
        // agent dies, so a crashed agent never leaves a core holding the ports.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id().unwrap_or(0);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(out, pid));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(err, pid));
        }
        tracing::info!(core_pid = pid, bin = %bin.display(), "core started");
        Ok(CoreProcess { child, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the core exits on its own.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Ends the core: SIGTERM, and SIGKILL if it has not gone within 3 s.
    pub async fn stop(mut self) {
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: plain kill(2) on our own child's pid, which is not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        match tokio::time::timeout(Duration::from_secs(3), self.child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(core_pid = self.pid, "core ignored SIGTERM; killing it");
                let _ = self.child.kill().await;
            }
        }
        tracing::info!(core_pid = self.pid, "core stopped");
    }
}

async fn forward(stream: impl AsyncRead + Unpin, pid: u32) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(target: "core", core_pid = pid, "{line}");
    }
}
