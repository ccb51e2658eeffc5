//! `nexuma:core/log`: a component's log lines, tagged with its name and the request id.

use wasmtime::component::HasData;

use super::Call;
use crate::bindings::nexuma::core::log::{self as wit, Level};

/// Longest message or field text written, so a component cannot flood the log.
const MAX_TEXT: usize = 2048;

fn clip(s: &str) -> &str {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// A component's fields as one `key="value"` list, each part clipped.
fn joined(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={:?}", clip(k), clip(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `log` reaches of an instance's store: the call its lines are tagged with.
pub struct LogCtx<'a> {
    /// The call whose component and request id tag each line.
    pub call: &'a Call,
}

/// Links `log` to a [`LogCtx`] view of the store.
pub struct LogView;

impl HasData for LogView {
    type Data<'a> = LogCtx<'a>;
}

impl wit::Host for LogCtx<'_> {
    async fn write(
        &mut self,
        level: Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> wasmtime::Result<()> {
        let fields = joined(&fields);
        let (component, request_id, message) = (
            &*self.call.component,
            &*self.call.request_id,
            clip(&message),
        );
        match level {
            Level::Debug => tracing::debug!(component, request_id, fields, "{message}"),
            Level::Info => tracing::info!(component, request_id, fields, "{message}"),
            Level::Warn => tracing::warn!(component, request_id, fields, "{message}"),
            Level::Error => tracing::error!(component, request_id, fields, "{message}"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_clipped_by_characters_not_bytes() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(MAX_TEXT + 10);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MAX_TEXT);
        assert!(long.starts_with(clipped));
        assert_eq!(
            clip(&"a".repeat(MAX_TEXT)).len(),
            MAX_TEXT,
            "the bound itself is kept"
        );
    }

    #[test]
    fn fields_are_quoted_and_clipped() {
        let fields = vec![
            ("user".to_string(), "ann \"a\"".to_string()),
            ("k".repeat(MAX_TEXT + 1), "v".to_string()),
        ];
        let line = joined(&fields);
        assert!(line.starts_with(r#"user="ann \"a\"" "#), "{line}");
        assert!(
            line.ends_with(&format!("{}=\"v\"", "k".repeat(MAX_TEXT))),
            "{line}"
        );
        assert_eq!(joined(&[]), "");
    }
}
