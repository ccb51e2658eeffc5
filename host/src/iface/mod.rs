//! Host implementations of the WIT interfaces, one module per interface.
//! Each module owns its backend (pool, client, keys) and the `Host` trait impl on `State`.

pub mod clock;
pub mod db;
pub mod http;
pub mod kv;
pub mod log;
pub mod passwords;
pub mod response_cache;
pub mod settings;
pub mod telegram;
pub mod tokens;
