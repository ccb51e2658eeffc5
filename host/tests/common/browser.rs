//! Headless Chromium for page tests: Debian's `chromium` (`make chromium` installs it), started
//! with the flags this machine needs (no sandbox as root, no background networking: the closed
//! network refuses it), a fresh profile each time, and a 60 s bound.

use std::path::Path;
use std::time::Duration;

/// The flags Chromium runs with here, for a screenshot or under WebDriver (`webdriver.rs`).
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// Runs Chromium on `url` with `args` (e.g. `--dump-dom`, `--screenshot=...`) and a profile
/// under `dir`; its output.
pub async fn chromium(dir: &Path, args: &[String], url: &str) -> std::process::Output {
    let chromium = testkit::find_on_path("chromium")
        .expect("chromium is not installed: `make chromium` (apt-get install -y chromium)");
    let profile = dir.join(format!("chromium-{}", uuid::Uuid::new_v4()));
    let out = tokio::process::Command::new(&chromium)
        .args(CHROMIUM_ARGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("chromium within 60 s")
        .expect("run chromium")
}
