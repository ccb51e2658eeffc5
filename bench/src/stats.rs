//! Latency histograms (nanoseconds) and their summary.

use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

/// Highest latency a histogram holds: one minute. Longer samples are clamped to it.
const MAX_NANOS: u64 = 60_000_000_000;

pub struct Latencies(Histogram<u64>);

impl Latencies {
    pub fn new() -> anyhow::Result<Self> {
        Histogram::new_with_bounds(1, MAX_NANOS, 3)
            .map(Latencies)
            .context("cannot create a latency histogram")
    }

    pub fn record(&mut self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(MAX_NANOS);
        self.0.saturating_record(nanos.clamp(1, MAX_NANOS));
    }

    pub fn merge(&mut self, other: &Latencies) -> anyhow::Result<()> {
        self.0
            .add(&other.0)
            .map_err(|e| anyhow::anyhow!("cannot merge latency histograms: {e:?}"))
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> Summary {
        let us = |nanos: f64| nanos / 1000.0;
        Summary {
            p50_us: us(self.0.value_at_quantile(0.50) as f64),
            p99_us: us(self.0.value_at_quantile(0.99) as f64),
            mean_us: us(self.0.mean()),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
}

/// `812 µs`, `1.27 ms`, `16.2 µs`: three significant figures or so, in the unit that reads best.
pub fn format_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 100.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}
