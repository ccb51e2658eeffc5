//! The Core's resident memory from `/proc/PID/status`: now (`VmRSS`) and the most it ever held
//! (`VmHWM`, the high-water mark since the process started), read after a load part so a report
//! shows what that load cost in memory and the peak it reached. The resident set is split into
//! anonymous memory (heap, instance memories, stacks) and file-backed pages (the binary's and the
//! compiled components' code, which the kernel can drop and read again).

use crate::child::Core;

/// Resident set sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rss {
    pub now: u64,
    pub peak: u64,
    /// Of `now`: anonymous (`RssAnon`) and file-backed (`RssFile`).
    pub anon: u64,
    pub file: u64,
}

impl Rss {
    /// The Core's, while it runs and `/proc` is readable.
    pub fn of(core: &Core) -> Option<Rss> {
        let pid = core.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        Rss::parse(&status)
    }

    fn parse(status: &str) -> Option<Rss> {
        Some(Rss {
            now: kib_field(status, "VmRSS")? * 1024,
            peak: kib_field(status, "VmHWM")? * 1024,
            anon: kib_field(status, "RssAnon")? * 1024,
            file: kib_field(status, "RssFile")? * 1024,
        })
    }

    /// `RSS 182.4 MiB (peak 240.1 MiB)`.
    pub fn describe(&self) -> String {
        format!("RSS {} (peak {})", mib(self.now), mib(self.peak))
    }
}

/// The Markdown line a part's section ends with: the Core's memory once its load was done.
pub fn line(rss: Option<Rss>) -> String {
    match rss {
        Some(r) => format!(
            "The Core's memory after this part's load (`/proc/PID/status`): VmRSS {} ({} \
             anonymous: heap, instance memories, stacks; {} file-backed: the binary's and the \
             compiled components' code), peak (VmHWM, since it started) {}.\n",
            mib(r.now),
            mib(r.anon),
            mib(r.file),
            mib(r.peak)
        ),
        None => "The Core's memory after this part's load: not read (no `/proc`).\n".into(),
    }
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `Name:   1234 kB` of a `/proc/PID/status` text, in KiB.
fn kib_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().trim_end_matches("kB").trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rss_and_its_high_water_mark() {
        let status = "Name:\tnexuma\nVmPeak:\t 9000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n\
                      RssAnon:\t   71680 kB\nRssFile:\t   30720 kB\n";
        assert_eq!(
            Rss::parse(status),
            Some(Rss {
                now: 100 * 1024 * 1024,
                peak: 200 * 1024 * 1024,
                anon: 70 * 1024 * 1024,
                file: 30 * 1024 * 1024,
            })
        );
        assert_eq!(Rss::parse("Name:\tnexuma\nVmRSS:\t 1 kB\n"), None);
        assert_eq!(
            Rss::parse(status).map(|r| r.describe()),
            Some("RSS 100.0 MiB (peak 200.0 MiB)".into())
        );
    }
}
