//! `nexuma:core/clock`: wall-clock time for components.

use std::time::{SystemTime, UNIX_EPOCH};

use wasmtime::component::HasData;

use crate::bindings::nexuma::core::clock as wit;

/// Milliseconds since the Unix epoch now (0 if the clock is before it); the host's timestamps
/// too.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `clock` reaches nothing of an instance's store; this is both its view and its link.
pub struct Clock;

impl HasData for Clock {
    type Data<'a> = Clock;
}

impl wit::Host for Clock {
    async fn now_ms(&mut self) -> wasmtime::Result<i64> {
        Ok(now_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::Host as _;

    #[tokio::test]
    async fn components_read_the_wall_clock_in_milliseconds() {
        let before = now_ms();
        let seen = Clock.now_ms().await.expect("call");
        assert!(seen >= before && seen <= now_ms(), "{before} {seen}");
        // 2020-01-01 in ms: a clock in seconds or microseconds would miss by far.
        assert!(
            seen > 1_577_836_800_000 && seen < 4_102_444_800_000,
            "{seen}"
        );
    }
}
