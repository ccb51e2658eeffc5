//! The xray protocol model the Core's components share: how an operator describes a node's
//! inbound ([`InboundSpec`]), how it is checked, the server JSON the core runs, and the
//! credential a client of it uses. Pure code (no host calls), so it is unit-tested natively.
//!
//! The Core sends nodes complete inbound objects (docs/node-protocol.md); subscriptions derive
//! client configs from the same spec ([`Connection`], then [`link`], [`clash`], [`singbox`]),
//! so both sides agree by construction.

pub mod capabilities;
mod checked;
pub mod clash;
mod client;
mod inbound;
pub mod link;
pub mod outbound;
mod reality;
pub mod singbox;

pub use capabilities::{hold_back_reason, Capabilities, Missing};

/// A node whose agent has been silent this long counts as down: the nodes component shows it
/// as `error`, and the exports stop listing it once the operator's grace has passed too.
pub const HEARTBEAT_STALE_MS: i64 = 60_000;

/// The setting that holds the subscription settings (JSON), among them the operator's grace
/// for silent nodes, `silentNodeGraceSeconds`.
pub const SUBSCRIPTION_SETTINGS: &str = "subscriptions.settings";
/// The grace for silent nodes when the operator has set none: a node silent for
/// [`HEARTBEAT_STALE_MS`] plus this leaves the exports and is reported to admins.
pub const SILENT_NODE_GRACE_SECONDS: u32 = 300;
pub use checked::CheckedInbound;
pub use client::{unique_names, Connection};
pub use inbound::{
    Fallback, InboundSpec, Invalid, Network, Protocol, RealitySpec, Security, TlsSpec, NOT_BLANK,
    SS_METHODS,
};
pub use reality::{key_pair, public_key, KeyError};

use base64::Engine;
use sha2::{Digest, Sha256};

/// The credential a client with `key` (a link UUID) uses on an inbound: the key itself, except
/// for Shadowsocks 2022 where it is a PSK of the server PSK's length: standard base64 of the
/// first `len` bytes of SHA-256(key). Node agents derive the same (docs/node-protocol.md).
pub fn client_secret(spec: &InboundSpec, key: &str) -> String {
    match spec.ss2022_key_len() {
        Some(len) => ss2022_user_key(key, len),
        None => key.to_string(),
    }
}

/// A client config's two groups: the members of the automatic one — every proxy, or `fallback`
/// when there is none (an empty group fails to load) — and the choices of the one users pick
/// in: `auto` first, then the members.
fn groups<'a>(
    proxies: impl Iterator<Item = &'a str>,
    fallback: &'a str,
    auto: &'a str,
) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut members: Vec<&str> = proxies.collect();
    if members.is_empty() {
        members.push(fallback);
    }
    let mut choices = Vec::with_capacity(members.len() + 1);
    choices.push(auto);
    choices.extend(&members);
    (members, choices)
}

/// Standard base64 of the first `len` (≤ 32) bytes of SHA-256(`key`).
pub fn ss2022_user_key(key: &str, len: usize) -> String {
    let digest = Sha256::digest(key.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(&digest[..len.min(digest.len())])
}

/// What the formats' tests share: one client key, one REALITY private key, inbound specs and
/// connections made from JSON.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::{Connection, InboundSpec};

    pub const UUID: &str = "9e1f4b8a-3c2d-4e5f-8a9b-0c1d2e3f4a5b";
    pub const PRIVATE: &str = "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E";

    pub fn spec(v: serde_json::Value) -> InboundSpec {
        serde_json::from_value(v).expect("spec")
    }

    /// `T`'s JSON Schema as a body the Core parses, every subschema inline (as the SDK makes
    /// it for the OpenAPI document).
    pub fn schema<T: schemars::JsonSchema>() -> serde_json::Value {
        let mut settings = schemars::generate::SchemaSettings::draft2020_12().for_deserialize();
        settings.inline_subschemas = true;
        settings
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value()
    }

    /// The connection of [`UUID`] to an inbound at 203.0.113.7.
    pub fn conn(v: serde_json::Value, name: &str) -> Connection {
        Connection::new(&spec(v), "203.0.113.7", UUID, name).expect("connection")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ss2022_keys_have_the_server_key_length() {
        let k = ss2022_user_key("0b4e9a6c-8f7e-4c1a-9d3b-2a1f0e9d8c7b", 16);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&k)
            .expect("base64");
        assert_eq!(raw.len(), 16);
        assert_eq!(
            k,
            ss2022_user_key("0b4e9a6c-8f7e-4c1a-9d3b-2a1f0e9d8c7b", 16)
        );
        assert_ne!(k, ss2022_user_key("another", 16));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(ss2022_user_key("x", 32))
                .map(|b| b.len()),
            Ok(32)
        );
    }
}
