//! `nexuma:core/clock`: wall-clock time for components.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::bindings::nexuma::core::clock as wit;
use crate::runtime::State;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl wit::Host for State {
    async fn now_ms(&mut self) -> wasmtime::Result<i64> {
        Ok(now_ms())
    }
}
