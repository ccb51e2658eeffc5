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

pub fn debug(message: &str, fields: &[(&str, &str)]) {
    write(Level::Debug, message, fields);
}

pub fn info(message: &str, fields: &[(&str, &str)]) {
    write(Level::Info, message, fields);
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    write(Level::Warn, message, fields);
}

pub fn error(message: &str, fields: &[(&str, &str)]) {
    write(Level::Error, message, fields);
}
