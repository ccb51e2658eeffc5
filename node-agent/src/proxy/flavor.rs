//! Xray or v2ray: told apart by the version output; decides command lines and the gRPC prefix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum FlavorError {
    #[error("no proxy core found: neither `xray` nor `v2ray` is on PATH (set --core-bin)")]
    NotFound,
    #[error("could not run `{bin} -version`: {source}")]
    Run {
        bin: PathBuf,
        source: std::io::Error,
    },
    #[error("`{bin}` is neither Xray nor v2ray (version output: {output:?})")]
    Unknown { bin: PathBuf, output: String },
}

/// The family of the core binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Xray,
    V2ray,
}

impl Flavor {
    /// Reads the flavor from a version banner (`Xray 1.8.4 ...`, `V2Ray 4.34.0 ...`).
    pub fn from_version_output(output: &str) -> Option<Flavor> {
        let first = output.lines().next().unwrap_or("").to_ascii_lowercase();
        if first.starts_with("xray") {
            Some(Flavor::Xray)
        } else if first.starts_with("v2ray") {
            Some(Flavor::V2ray)
        } else {
            None
        }
    }

    /// Runs the binary's version command and reads the flavor from it.
    pub async fn detect(bin: &Path) -> Result<Flavor, FlavorError> {
        Flavor::identify(bin).await.map(|(flavor, _)| flavor)
    }

    /// The flavor and the first line of the version output (`V2Ray 4.34.0 (…) …`).
    pub async fn identify(bin: &Path) -> Result<(Flavor, String), FlavorError> {
        // `-version` works on Xray and v2ray 4; `version` on Xray and v2ray 5.
        let mut last = String::new();
        for arg in ["-version", "version"] {
            let run = Command::new(bin).arg(arg).kill_on_drop(true).output();
            let out = tokio::time::timeout(Duration::from_secs(10), run)
                .await
                .map_err(|_| FlavorError::Run {
                    bin: bin.to_owned(),
                    source: std::io::Error::other("timed out"),
                })?
                .map_err(|source| FlavorError::Run {
                    bin: bin.to_owned(),
                    source,
                })?;
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if let Some(flavor) = Flavor::from_version_output(&last) {
                let version = last.lines().next().unwrap_or("").trim().to_owned();
                return Ok((flavor, version));
            }
        }
        Err(FlavorError::Unknown {
            bin: bin.to_owned(),
            output: last.chars().take(200).collect(),
        })
    }

    /// The protobuf package prefix of the core's gRPC names.
    pub fn grpc_prefix(self) -> &'static str {
        match self {
            Flavor::Xray => "xray.",
            Flavor::V2ray => "v2ray.core.",
        }
    }

    /// Arguments that run the core in the foreground on a config file.
    pub fn run_args(self, config: &Path) -> Vec<std::ffi::OsString> {
        match self {
            Flavor::Xray => vec!["run".into(), "-c".into(), config.into()],
            Flavor::V2ray => vec!["-config".into(), config.into()],
        }
    }

    /// Arguments that only check a config file (exit 0 when the core accepts it).
    pub fn test_args(self, config: &Path) -> Vec<std::ffi::OsString> {
        match self {
            Flavor::Xray => vec!["run".into(), "-test".into(), "-c".into(), config.into()],
            Flavor::V2ray => vec!["-test".into(), "-config".into(), config.into()],
        }
    }

    /// The name the Core knows the flavor by.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Xray => "xray",
            Flavor::V2ray => "v2ray",
        }
    }

    /// Whether a Shadowsocks inbound of this core takes users over the API.
    pub fn shadowsocks_multi_user(self) -> bool {
        matches!(self, Flavor::Xray)
    }
}

/// The core binary to use when none is given: `xray` on PATH, else `v2ray`.
pub fn default_bin() -> Result<PathBuf, FlavorError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["xray", "v2ray"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(FlavorError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_banners() {
        assert_eq!(
            Flavor::from_version_output("V2Ray 4.34.0 (user) 20230518\nA unified platform"),
            Some(Flavor::V2ray)
        );
        assert_eq!(
            Flavor::from_version_output("Xray 1.8.24 (Xray, Penetrates Everything.)"),
            Some(Flavor::Xray)
        );
        assert_eq!(Flavor::from_version_output("sing-box 1.12"), None);
    }
}
