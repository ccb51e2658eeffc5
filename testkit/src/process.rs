//! Child processes: finding binaries, stopping them, telling whether a pid lives.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

/// The real proxy core. Fails (never skips) when it is missing: the tests are about it.
pub fn v2ray() -> PathBuf {
    find_on_path("v2ray").unwrap_or_else(|| {
        panic!(
            "v2ray is not installed: these tests run the real core. Install it with \
             `apt-get update && apt-get install -y v2ray` (or `make v2ray`)."
        )
    })
}

/// SIGTERM, then SIGKILL if the process has not gone within 10 s.
pub fn terminate(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory is involved.
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

/// Whether `pid` runs (a zombie does not count).
pub fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .contains("State:\tZ")
}
