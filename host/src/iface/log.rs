//! `nexuma:core/log`: a component's log lines, tagged with its name and the request id.

use crate::bindings::nexuma::core::log::{self as wit, Level};
use crate::runtime::State;

/// Longest message or field text written, so a component cannot flood the log.
const MAX_TEXT: usize = 2048;

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

impl wit::Host for State {
    async fn write(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let fields = fields
            .iter()
            .map(|(k, v)| format!("{}={:?}", clip(k), clip(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let (component, request_id, message) =
            (&*self.component, &*self.request_id, clip(&message));
        match level {
            Level::Debug => tracing::debug!(component, request_id, fields, "{message}"),
            Level::Info => tracing::info!(component, request_id, fields, "{message}"),
            Level::Warn => tracing::warn!(component, request_id, fields, "{message}"),
            Level::Error => tracing::error!(component, request_id, fields, "{message}"),
        }
        Ok(())
    }
}
