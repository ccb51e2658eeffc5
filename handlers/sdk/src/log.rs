//! Structured logging through the host, which tags each line with the component and request id.
//!
//! `log::info("user registered", &[("userId", &id)])`.

use crate::bindings::nexuma::core::log::write as host_write;
pub use crate::bindings::nexuma::core::log::Level;

/// Writes one line at `level` with `key=value` fields.
pub fn write(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    host_write(level, message, &fields);
}

/// Writes a debug line: detail for chasing a problem.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    write(Level::Debug, message, fields);
}

/// Writes an info line: something that happened as it should.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    write(Level::Info, message, fields);
}

/// Writes a warning: something went wrong and was handled.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    write(Level::Warn, message, fields);
}

/// Writes an error line: something failed and someone should look.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    write(Level::Error, message, fields);
}
