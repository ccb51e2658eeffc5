//! The JSON Schema of an inbound as [`InboundSpec::validate`] takes it: the derived schema of
//! [`InboundSpec`] (field types, tag, port, listen address) plus one `oneOf` branch per
//! protocol, transport and security layer that `validate` accepts together, each saying which
//! fields that combination needs, allows and refuses. What a branch says follows `validate`'s
//! rules one by one; `every_combination_is_described_as_validate_takes_it` holds them together.
//!
//! A field a combination does not use must be absent or `null` (`validate` refuses it); `null`
//! is what serde reads as absent.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::capabilities::{network_name, security_name};
use crate::inbound::{FLOW_VISION, NOT_BLANK, XHTTP_MODES};
use crate::{InboundSpec, Network, Protocol, Security, SS_METHODS};

/// `host:port` as `validate` splits it: a non-empty host before the last `:`, and a port `u16`
/// parses (an optional `+`, leading zeros, at most 65535).
const DEST_PATTERN: &str = "^[\\s\\S]+:\\+?0*([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$";
/// 32 bytes in base64url without padding: 43 characters, the last carrying 2 bits.
const X25519_PATTERN: &str = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";
/// Hex of even length up to 16.
const SHORT_ID_PATTERN: &str = "^([0-9A-Fa-f]{2}){0,8}$";
/// Standard base64 of 16 bytes, padded (as the decoder wants it).
const PSK_16_PATTERN: &str = "^[A-Za-z0-9+/]{21}[AQgw]==$";
/// Standard base64 of 32 bytes, padded.
const PSK_32_PATTERN: &str = "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$";
/// The Shadowsocks 2022 methods and the length of their server PSK.
const SS2022: [(&str, &str); 2] = [
    ("2022-blake3-aes-128-gcm", PSK_16_PATTERN),
    ("2022-blake3-aes-256-gcm", PSK_32_PATTERN),
];

/// Marks a field as an inbound list checked by [`InboundSpec::validate`] for its JSON Schema
/// (`#[schemars(with = "Vec<CheckedInbound>")]`); the value itself is an [`InboundSpec`].
pub struct CheckedInbound;

impl JsonSchema for CheckedInbound {
    fn schema_name() -> Cow<'static, str> {
        "CheckedInbound".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = InboundSpec::json_schema(generator);
        let branches: Vec<Value> = combinations().into_iter().flat_map(branches).collect();
        schema.insert("oneOf".into(), Value::Array(branches));
        schema
    }
}

/// Whether `validate` takes this protocol over this transport with this security layer.
pub(crate) fn allowed(protocol: Protocol, network: Network, security: Security) -> bool {
    match (protocol, security) {
        (Protocol::Shadowsocks, _) => network == Network::Tcp && security == Security::None,
        (Protocol::Vless | Protocol::Trojan, Security::Reality) => {
            matches!(network, Network::Tcp | Network::Grpc | Network::Xhttp)
        }
        (_, Security::Reality) => false,
        _ => true,
    }
}

fn combinations() -> Vec<(Protocol, Network, Security)> {
    let mut all = Vec::new();
    for protocol in Protocol::ALL {
        for network in Network::ALL {
            for security in Security::ALL {
                if allowed(protocol, network, security) {
                    all.push((protocol, network, security));
                }
            }
        }
    }
    all
}

/// Absent or `null`: a field this combination does not take.
fn null() -> Value {
    json!({ "type": "null" })
}

/// The branches of one combination: one, or one per kind of Shadowsocks method.
fn branches((protocol, network, security): (Protocol, Network, Security)) -> Vec<Value> {
    let mut properties = Map::new();
    let mut required = vec!["protocol"];
    properties.insert("protocol".into(), json!({ "const": protocol.name() }));
    // The defaults (tcp, none) may be left out; any other must be given.
    properties.insert("network".into(), json!({ "const": network_name(network) }));
    if network != Network::Tcp {
        required.push("network");
    }
    properties.insert(
        "security".into(),
        json!({ "const": security_name(security) }),
    );
    if security != Security::None {
        required.push("security");
    }

    let takes_path = matches!(network, Network::Ws | Network::Xhttp | Network::Httpupgrade);
    if takes_path {
        properties.insert("path".into(), json!({ "pattern": "^/" }));
    } else {
        properties.insert("path".into(), null());
        properties.insert("host".into(), null());
    }
    if network == Network::Grpc {
        properties.insert(
            "serviceName".into(),
            json!({ "type": "string", "pattern": "^[^/]+$" }),
        );
        required.push("serviceName");
    } else {
        properties.insert("serviceName".into(), null());
    }
    let mode = if network == Network::Xhttp {
        let mut modes: Vec<Value> = XHTTP_MODES.iter().map(|m| json!(m)).collect();
        modes.push(Value::Null);
        json!({ "enum": modes })
    } else {
        null()
    };
    properties.insert("mode".into(), mode);

    let (tls, reality) = match security {
        Security::None => (null(), null()),
        Security::Tls => {
            required.push("tls");
            (tls_certificate(), null())
        }
        Security::Reality => {
            required.push("reality");
            (null(), reality_checked())
        }
    };
    properties.insert("tls".into(), tls);
    properties.insert("reality".into(), reality);

    let vision =
        protocol == Protocol::Vless && network == Network::Tcp && security != Security::None;
    let flow = if vision {
        json!({ "enum": [FLOW_VISION, null] })
    } else {
        null()
    };
    properties.insert("flow".into(), flow);
    // Masking: a TLS or plain vless/trojan inbound over tcp may hand other traffic on.
    let masking = matches!(protocol, Protocol::Vless | Protocol::Trojan)
        && network == Network::Tcp
        && security != Security::Reality;
    if !masking {
        properties.insert("fallbacks".into(), json!({ "maxItems": 0 }));
    }

    let title = format!(
        "{} over {} with security {}",
        protocol.name(),
        network_name(network),
        security_name(security)
    );
    let branch = |properties: Map<String, Value>, required: &[&str], title: String| json!({ "title": title, "properties": properties, "required": required });
    if protocol != Protocol::Shadowsocks {
        properties.insert("method".into(), null());
        properties.insert("serverKey".into(), null());
        return vec![branch(properties, &required, title)];
    }
    // Shadowsocks: a 2022 method needs a server PSK of its length; a classic one takes none.
    required.push("method");
    let mut out = Vec::new();
    for (method, psk) in SS2022 {
        let mut p = properties.clone();
        p.insert("method".into(), json!({ "const": method }));
        p.insert(
            "serverKey".into(),
            json!({ "type": "string", "pattern": psk }),
        );
        let mut r = required.clone();
        r.push("serverKey");
        out.push(branch(p, &r, format!("{title}, {method}")));
    }
    let classic: Vec<&str> = SS_METHODS
        .into_iter()
        .filter(|m| !SS2022.iter().any(|(method, _)| method == m))
        .collect();
    properties.insert("method".into(), json!({ "enum": classic }));
    properties.insert("serverKey".into(), null());
    out.push(branch(
        properties,
        &required,
        format!("{title}, classic method"),
    ));
    out
}

/// `security: tls` needs the certificate and key as files on the node, or as PEM text: one
/// pair, whole.
fn tls_certificate() -> Value {
    let pair = |given: [&str; 2], other: [&str; 2]| {
        json!({
            "required": given,
            "properties": {
                given[0]: { "type": "string" }, given[1]: { "type": "string" },
                other[0]: { "type": "null" }, other[1]: { "type": "null" },
            }
        })
    };
    json!({
        "type": "object",
        "oneOf": [
            pair(["certificateFile", "keyFile"], ["certificate", "key"]),
            pair(["certificate", "key"], ["certificateFile", "keyFile"]),
        ]
    })
}

/// What `security: reality` checks of its settings.
fn reality_checked() -> Value {
    json!({
        "type": "object",
        "properties": {
            "dest": { "pattern": DEST_PATTERN },
            "serverNames": { "minItems": 1, "items": { "pattern": NOT_BLANK } },
            "privateKey": { "pattern": X25519_PATTERN },
            "shortIds": { "minItems": 1, "items": { "pattern": SHORT_ID_PATTERN } },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::PRIVATE;

    /// The smallest spec of a combination: what its branch requires, filled in.
    fn minimal(protocol: Protocol, network: Network, security: Security) -> Value {
        let mut spec = json!({ "tag": "t", "protocol": protocol.name(), "port": 443,
                               "network": network_name(network), "security": security_name(security) });
        if network == Network::Grpc {
            spec["serviceName"] = json!("svc");
        }
        match security {
            Security::None => {}
            Security::Tls => spec["tls"] = json!({ "certificateFile": "/c", "keyFile": "/k" }),
            Security::Reality => {
                spec["reality"] = json!({ "dest": "example.com:443", "serverNames": ["example.com"],
                                          "privateKey": PRIVATE, "shortIds": [""] })
            }
        }
        if protocol == Protocol::Shadowsocks {
            spec["method"] = json!("aes-128-gcm");
        }
        spec
    }

    fn checked() -> Value {
        crate::fixtures::schema::<CheckedInbound>()
    }

    #[test]
    fn every_combination_is_described_as_validate_takes_it() {
        let schema = checked();
        let titles: Vec<&str> = schema["oneOf"]
            .as_array()
            .expect("oneOf")
            .iter()
            .filter_map(|b| b["title"].as_str())
            .collect();
        for protocol in Protocol::ALL {
            for network in Network::ALL {
                for security in Security::ALL {
                    let spec: InboundSpec =
                        serde_json::from_value(minimal(protocol, network, security)).expect("spec");
                    let prefix = format!(
                        "{} over {} with security {}",
                        protocol.name(),
                        network_name(network),
                        security_name(security)
                    );
                    let described = titles.iter().any(|t| t.starts_with(&prefix));
                    assert_eq!(
                        spec.validate().is_ok(),
                        described,
                        "{prefix}: {:?}",
                        spec.validate()
                    );
                }
            }
        }
    }

    #[test]
    fn the_patterns_take_what_the_decoders_take() {
        use base64::Engine;
        let re = |pattern: &str| regex_lite::Regex::new(pattern).expect("pattern");
        let standard = base64::engine::general_purpose::STANDARD;
        let ss = |method: &str, key: &str| -> bool {
            serde_json::from_value::<InboundSpec>(json!({ "tag": "s", "protocol": "shadowsocks",
                                                         "port": 1, "method": method, "serverKey": key }))
            .expect("spec")
            .validate()
            .is_ok()
        };
        for (bytes, (method, pattern)) in [16usize, 32].into_iter().zip(SS2022) {
            for fill in [0u8, 7, 0xff] {
                let key = standard.encode(vec![fill; bytes]);
                assert!(
                    re(pattern).is_match(&key) && ss(method, &key),
                    "{method} {key}"
                );
                let unpadded = key.trim_end_matches('=');
                assert!(!re(pattern).is_match(unpadded) && !ss(method, unpadded));
            }
            // Another length, or bits past the end: the decoder refuses, and so does the pattern.
            let other = standard.encode(vec![7u8; bytes - 1]);
            assert!(!re(pattern).is_match(&other) && !ss(method, &other));
            let mut bad = standard.encode(vec![0u8; bytes]).into_bytes();
            let last = bad.iter().rposition(|b| *b != b'=').expect("a character");
            bad[last] = b'B';
            let bad = String::from_utf8(bad).expect("ascii");
            assert!(!re(pattern).is_match(&bad) && !ss(method, &bad), "{bad}");
        }
        let reality = |dest: &str, key: &str| -> bool {
            let mut v = minimal(Protocol::Vless, Network::Tcp, Security::Reality);
            v["reality"]["dest"] = json!(dest);
            v["reality"]["privateKey"] = json!(key);
            serde_json::from_value::<InboundSpec>(v)
                .expect("spec")
                .validate()
                .is_ok()
        };
        for key in [PRIVATE, &crate::key_pair([9; 32]).0] {
            assert!(
                re(X25519_PATTERN).is_match(key) && reality("a:1", key),
                "{key}"
            );
        }
        let short = &PRIVATE[..42];
        assert!(!re(X25519_PATTERN).is_match(short) && !reality("a:1", short));
        for dest in ["a:+0443", "[::1]:65535", "a:b:1", "a:0"] {
            assert!(
                re(DEST_PATTERN).is_match(dest) && reality(dest, PRIVATE),
                "{dest}"
            );
        }
        for dest in ["a:65536", ":443", "a:", "a:-1", "a:1x"] {
            assert!(
                !re(DEST_PATTERN).is_match(dest) && !reality(dest, PRIVATE),
                "{dest}"
            );
        }
        for (id, ok) in [
            ("", true),
            ("ab", true),
            ("0123456789abcdef", true),
            ("abc", false),
            ("0123456789abcdef01", false),
            ("zz", false),
        ] {
            let mut v = minimal(Protocol::Vless, Network::Tcp, Security::Reality);
            v["reality"]["shortIds"] = json!([id]);
            let taken = serde_json::from_value::<InboundSpec>(v)
                .expect("spec")
                .validate()
                .is_ok();
            assert_eq!((re(SHORT_ID_PATTERN).is_match(id), taken), (ok, ok), "{id}");
        }
    }

    #[test]
    fn the_schema_states_the_fixed_rules() {
        let schema = checked();
        assert_eq!(
            schema["properties"]["tag"]["pattern"],
            crate::inbound::TAG_PATTERN
        );
        assert_eq!(
            schema["properties"]["tag"]["not"],
            json!({ "const": "api" })
        );
        assert_eq!(schema["properties"]["port"]["minimum"], 1);
        assert_eq!(schema["properties"]["port"]["maximum"], 65535);
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["required"], json!(["tag", "protocol", "port"]));
        assert_eq!(
            schema["properties"]["protocol"]["enum"],
            json!(["vless", "vmess", "trojan", "shadowsocks"])
        );
        let branches = schema["oneOf"].as_array().expect("oneOf");
        let grpc = branches
            .iter()
            .find(|b| b["title"] == "vless over grpc with security reality")
            .expect("vless grpc reality");
        assert_eq!(
            grpc["required"],
            json!(["protocol", "network", "security", "serviceName", "reality"])
        );
        let ss: Vec<&Value> = branches
            .iter()
            .filter(|b| b["properties"]["protocol"]["const"] == "shadowsocks")
            .collect();
        assert_eq!(ss.len(), 3, "two 2022 methods and the classic ones");
    }
}
