//! What each core runs: the one table the agent reports to the Core (docs/node-protocol.md,
//! `capabilities`) and checks configs against before the core sees them. A core does not refuse
//! everything it lacks — v2ray 4 takes `security: reality`, the vision flow, even a made-up
//! security name, and serves the inbound without them — so a config asking for what the core
//! lacks is refused here, with the inbound and the feature named.
//!
//! Sources: ../shared/reference/v2ray-test-core.md (Debian's v2ray 4.34: rejects grpc,
//! httpupgrade and the 2022 methods; accepts reality and xtls-rprx-vision without supporting
//! them; no Shadowsocks users over the API), formats.md §1.4 and §1.6 (cipher enums of both
//! cores; vision and SS2022 are Xray-only) and §2.2 (Xray's transports: raw/tcp, xhttp, ws,
//! grpc, httpupgrade, kcp; h2 and quic removed). v2ray 4.34's transports beyond tcp and ws were
//! checked with its own `v2ray -test`.

use serde::Serialize;
use serde_json::Value;

use super::{Flavor, Inbound};

/// Names as the Core's inbound model uses them (transports as clients name them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Protocols the agent puts clients into on this core.
    pub protocols: &'static [&'static str],
    pub transports: &'static [&'static str],
    pub security: &'static [&'static str],
    pub flows: &'static [&'static str],
    pub shadowsocks_methods: &'static [&'static str],
}

const V2RAY_4: Capabilities = Capabilities {
    // Shadowsocks inbounds of v2ray 4 hold one user and take none over the API.
    protocols: &["vless", "vmess", "trojan"],
    transports: &["tcp", "ws", "kcp", "http", "quic", "domainsocket"],
    security: &["none", "tls"],
    flows: &[],
    shadowsocks_methods: &[
        "aes-128-gcm",
        "aes-256-gcm",
        "chacha20-ietf-poly1305",
        "none",
    ],
};

const XRAY: Capabilities = Capabilities {
    protocols: &["vless", "vmess", "trojan", "shadowsocks"],
    transports: &["tcp", "ws", "grpc", "httpupgrade", "xhttp", "kcp"],
    security: &["none", "tls", "reality"],
    flows: &["xtls-rprx-vision"],
    shadowsocks_methods: &[
        "aes-128-gcm",
        "aes-256-gcm",
        "chacha20-ietf-poly1305",
        "xchacha20-ietf-poly1305",
        "2022-blake3-aes-128-gcm",
        "2022-blake3-aes-256-gcm",
        "2022-blake3-chacha20-poly1305",
    ],
};

/// A feature an inbound asks for that the core lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "inbound `{tag}`: {field} `{feature}` is not supported by {core}, which would refuse it or \
     silently run the inbound without it"
)]
pub struct Unsupported {
    pub tag: String,
    pub field: &'static str,
    pub feature: String,
    pub core: &'static str,
}

impl Capabilities {
    /// The table's row for `flavor`.
    pub fn of(flavor: Flavor) -> Capabilities {
        match flavor {
            Flavor::Xray => XRAY,
            Flavor::V2ray => V2RAY_4,
        }
    }
}

/// Refuses the first inbound that asks for a feature this core lacks. Security layers and flows
/// must be the core's own (cores ignore unknown ones); a transport or cipher is refused when the
/// other core has it and this one does not (anything else is left to the core's test mode).
pub fn check(inbounds: &[Inbound], flavor: Flavor) -> Result<(), Unsupported> {
    let caps = Capabilities::of(flavor);
    let other = Capabilities::of(match flavor {
        Flavor::Xray => Flavor::V2ray,
        Flavor::V2ray => Flavor::Xray,
    });
    for inbound in inbounds {
        let fail = |field: &'static str, feature: &str| Unsupported {
            tag: inbound.tag.clone(),
            field,
            feature: feature.to_owned(),
            core: core_name(flavor),
        };
        let stream = &inbound.raw["streamSettings"];
        let network = canonical_network(text(stream, "network").unwrap_or("tcp"));
        if !caps.transports.contains(&network) && other.transports.contains(&network) {
            return Err(fail("network", network));
        }
        let security = text(stream, "security").unwrap_or("none");
        if !caps.security.contains(&security) {
            return Err(fail("security", security));
        }
        for flow in settings_texts(&inbound.raw, "flow") {
            if !caps.flows.contains(&flow) {
                return Err(fail("flow", flow));
            }
        }
        if inbound.protocol == super::Protocol::Shadowsocks {
            for method in settings_texts(&inbound.raw, "method") {
                let method = canonical_method(method);
                if !caps.shadowsocks_methods.contains(&method)
                    && other.shadowsocks_methods.contains(&method)
                {
                    return Err(fail("method", method));
                }
            }
        }
    }
    Ok(())
}

fn core_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Xray => "Xray",
        Flavor::V2ray => "v2ray 4",
    }
}

/// A non-empty string field of `v`.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `settings.<key>` and every `settings.clients[].<key>` that is set.
fn settings_texts<'a>(raw: &'a Value, key: &'a str) -> impl Iterator<Item = &'a str> {
    let settings = &raw["settings"];
    let clients = settings["clients"].as_array().into_iter().flatten();
    text(settings, key)
        .into_iter()
        .chain(clients.filter_map(move |c| text(c, key)))
}

/// A transport by the name clients use (the cores' aliases folded).
fn canonical_network(name: &str) -> &str {
    match name {
        "raw" => "tcp",
        "splithttp" => "xhttp",
        "mkcp" => "kcp",
        "h2" => "http",
        "gun" => "grpc",
        other => other,
    }
}

/// A Shadowsocks cipher by its canonical name (the cores' aliases folded).
fn canonical_method(name: &str) -> &str {
    match name {
        "chacha20-poly1305" => "chacha20-ietf-poly1305",
        "xchacha20-poly1305" => "xchacha20-ietf-poly1305",
        "plain" => "none",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::inbound::parse;
    use serde_json::json;

    fn one(inbound: Value, flavor: Flavor) -> Result<(), Unsupported> {
        check(&parse(&json!([inbound]).to_string()).unwrap(), flavor)
    }

    fn refused(inbound: Value, flavor: Flavor) -> (&'static str, String) {
        let err = one(inbound, flavor).expect_err("refused");
        (err.field, err.feature)
    }

    #[test]
    fn v2ray_4_refuses_what_it_would_weaken_or_reject() {
        let reality = json!({ "tag": "r", "port": 443, "protocol": "vless",
            "settings": { "clients": [], "decryption": "none" },
            "streamSettings": { "network": "tcp", "security": "reality",
                "realitySettings": { "privateKey": "k" } } });
        assert_eq!(
            refused(reality.clone(), Flavor::V2ray),
            ("security", "reality".into())
        );
        assert_eq!(one(reality, Flavor::Xray), Ok(()));

        let vision = json!({ "tag": "v", "port": 1, "protocol": "vless",
            "settings": { "clients": [], "decryption": "none", "flow": "xtls-rprx-vision" } });
        assert_eq!(
            refused(vision.clone(), Flavor::V2ray),
            ("flow", "xtls-rprx-vision".into())
        );
        assert_eq!(one(vision, Flavor::Xray), Ok(()));

        let grpc = json!({ "tag": "g", "port": 1, "protocol": "trojan",
            "streamSettings": { "network": "gun" } });
        assert_eq!(refused(grpc, Flavor::V2ray), ("network", "grpc".into()));

        let ss2022 = json!({ "tag": "s", "port": 1, "protocol": "shadowsocks",
            "settings": { "method": "2022-blake3-aes-128-gcm", "password": "AAAAAAAAAAAAAAAAAAAAAA==" } });
        assert_eq!(
            refused(ss2022.clone(), Flavor::V2ray),
            ("method", "2022-blake3-aes-128-gcm".into())
        );
        assert_eq!(one(ss2022, Flavor::Xray), Ok(()));
    }

    #[test]
    fn unknown_security_is_refused_everywhere() {
        // v2ray 4.34's test mode passes `security: bogus` and serves the inbound in the clear.
        let bogus = json!({ "tag": "b", "port": 1, "protocol": "vmess",
            "streamSettings": { "security": "bogus" } });
        assert_eq!(
            refused(bogus.clone(), Flavor::V2ray),
            ("security", "bogus".into())
        );
        assert_eq!(refused(bogus, Flavor::Xray), ("security", "bogus".into()));
    }

    #[test]
    fn what_each_core_has_passes() {
        for (inbound, flavor) in [
            (
                json!({ "tag": "a", "port": 1, "protocol": "vmess",
                        "streamSettings": { "network": "ws", "security": "tls" } }),
                Flavor::V2ray,
            ),
            (
                json!({ "tag": "q", "port": 1, "protocol": "vmess",
                        "streamSettings": { "network": "quic" } }),
                Flavor::V2ray,
            ),
            (
                json!({ "tag": "s", "port": 1, "protocol": "shadowsocks",
                        "settings": { "method": "chacha20-poly1305", "password": "p" } }),
                Flavor::V2ray,
            ),
            (
                json!({ "tag": "x", "port": 1, "protocol": "vless",
                        "streamSettings": { "network": "splithttp", "security": "reality" } }),
                Flavor::Xray,
            ),
            (
                json!({ "tag": "o", "port": 1, "protocol": "socks" }),
                Flavor::V2ray,
            ),
        ] {
            assert_eq!(one(inbound.clone(), flavor), Ok(()), "{inbound}");
        }
    }

    #[test]
    fn the_report_has_the_protocol_shape() {
        let v2ray = serde_json::to_value(Capabilities::of(Flavor::V2ray)).unwrap();
        assert_eq!(v2ray["security"], json!(["none", "tls"]));
        assert_eq!(v2ray["flows"], json!([]));
        assert!(!v2ray["protocols"]
            .as_array()
            .unwrap()
            .contains(&json!("shadowsocks")));
        assert!(!v2ray["transports"]
            .as_array()
            .unwrap()
            .contains(&json!("grpc")));
        let xray = serde_json::to_value(Capabilities::of(Flavor::Xray)).unwrap();
        assert!(xray["shadowsocksMethods"]
            .as_array()
            .unwrap()
            .contains(&json!("2022-blake3-aes-256-gcm")));
        assert_eq!(xray["flows"], json!(["xtls-rprx-vision"]));
    }
}
