//! Clash.Meta (mihomo) YAML: proxies, a select group and an url-test group, rules.

use yaml_serde::{Mapping, Value};

use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

/// The group users pick in, and the one that picks the fastest.
pub const SELECT_GROUP: &str = "PROXY";
pub const AUTO_GROUP: &str = "AUTO";
const TEST_URL: &str = "https://www.gstatic.com/generate_204";

fn map(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert(Value::String(k.into()), v);
    }
    Value::Mapping(m)
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// A ws path's `?ed=N` is Xray's early data; clients want the number apart.
pub fn split_early_data(path: &str) -> (String, Option<u32>) {
    if let Some((base, query)) = path.split_once('?') {
        for pair in query.split('&') {
            if let Some(n) = pair.strip_prefix("ed=").and_then(|n| n.parse().ok()) {
                return (base.to_string(), Some(n));
            }
        }
    }
    (path.to_string(), None)
}

/// One `proxies` entry, or `None` when mihomo cannot use the connection (xhttp).
pub fn proxy(c: &Connection) -> Option<Value> {
    if c.network == Network::Xhttp {
        return None;
    }
    let kind = match c.protocol {
        Protocol::Vless => "vless",
        Protocol::Vmess => "vmess",
        Protocol::Trojan => "trojan",
        Protocol::Shadowsocks => "ss",
    };
    let mut m = Mapping::new();
    let mut put = |k: &str, v: Value| {
        m.insert(s(k), v);
    };
    put("name", s(&c.name));
    put("type", s(kind));
    put("server", s(&c.address));
    put("port", Value::Number(c.port.into()));
    match c.protocol {
        Protocol::Vless => {
            put("uuid", s(&c.secret));
            if let Some(flow) = c.effective_flow() {
                put("flow", s(flow));
            }
            put("packet-encoding", s("xudp"));
        }
        Protocol::Vmess => {
            put("uuid", s(&c.secret));
            put("alterId", Value::Number(0.into()));
            put("cipher", s("auto"));
        }
        Protocol::Trojan => put("password", s(&c.secret)),
        Protocol::Shadowsocks => {
            put("cipher", s(c.ss_method.as_deref().unwrap_or_default()));
            put("password", s(&c.ss_password()));
        }
    }
    put("udp", Value::Bool(true));
    if c.protocol != Protocol::Shadowsocks {
        if c.security != Security::None {
            if c.protocol != Protocol::Trojan {
                put("tls", Value::Bool(true));
            }
            if let Some(sni) = &c.sni {
                // Trojan names it `sni`, VLESS and VMess `servername`.
                put(
                    if c.protocol == Protocol::Trojan {
                        "sni"
                    } else {
                        "servername"
                    },
                    s(sni),
                );
            }
            if let Some(fp) = &c.fingerprint {
                put("client-fingerprint", s(fp));
            }
            if !c.alpn.is_empty() {
                put(
                    "alpn",
                    Value::Sequence(c.alpn.iter().map(|a| s(a)).collect()),
                );
            }
            if c.allow_insecure {
                put("skip-cert-verify", Value::Bool(true));
            }
        }
        if c.security == Security::Reality {
            put(
                "reality-opts",
                map(vec![
                    (
                        "public-key",
                        s(c.reality_public_key.as_deref().unwrap_or_default()),
                    ),
                    (
                        "short-id",
                        s(c.reality_short_id.as_deref().unwrap_or_default()),
                    ),
                ]),
            );
        }
        match c.network {
            Network::Tcp => put("network", s("tcp")),
            Network::Ws | Network::Httpupgrade => {
                put("network", s("ws"));
                let (path, early) = split_early_data(c.path.as_deref().unwrap_or("/"));
                let mut opts = vec![("path", s(&path))];
                if let Some(host) = &c.host {
                    opts.push(("headers", map(vec![("Host", s(host))])));
                }
                if let Some(n) = early {
                    opts.push(("max-early-data", Value::Number(n.into())));
                    opts.push(("early-data-header-name", s("Sec-WebSocket-Protocol")));
                }
                if c.network == Network::Httpupgrade {
                    opts.push(("v2ray-http-upgrade", Value::Bool(true)));
                }
                put("ws-opts", map(opts));
            }
            Network::Grpc => {
                put("network", s("grpc"));
                put(
                    "grpc-opts",
                    map(vec![(
                        "grpc-service-name",
                        s(c.service_name.as_deref().unwrap_or_default()),
                    )]),
                );
            }
            Network::Xhttp => {}
        }
    }
    Some(Value::Mapping(m))
}

/// A complete mihomo config for these connections (names already unique).
pub fn config(connections: &[Connection]) -> String {
    let proxies: Vec<Value> = connections.iter().filter_map(proxy).collect();
    let names: Vec<Value> = proxies
        .iter()
        .filter_map(|p| p.get("name").cloned())
        .collect();
    // A group with no proxies fails to load: fall back to DIRECT.
    let members = if names.is_empty() {
        vec![s("DIRECT")]
    } else {
        names.clone()
    };
    let mut select = vec![s(AUTO_GROUP)];
    select.extend(members.iter().cloned());
    let doc = map(vec![
        ("mixed-port", Value::Number(7890.into())),
        ("allow-lan", Value::Bool(false)),
        ("mode", s("rule")),
        ("log-level", s("info")),
        ("ipv6", Value::Bool(true)),
        ("proxies", Value::Sequence(proxies)),
        (
            "proxy-groups",
            Value::Sequence(vec![
                map(vec![
                    ("name", s(SELECT_GROUP)),
                    ("type", s("select")),
                    ("proxies", Value::Sequence(select)),
                ]),
                map(vec![
                    ("name", s(AUTO_GROUP)),
                    ("type", s("url-test")),
                    ("url", s(TEST_URL)),
                    ("interval", Value::Number(300.into())),
                    ("tolerance", Value::Number(50.into())),
                    ("proxies", Value::Sequence(members)),
                ]),
            ]),
        ),
        (
            "rules",
            Value::Sequence(vec![
                s("IP-CIDR,127.0.0.0/8,DIRECT,no-resolve"),
                s("IP-CIDR,10.0.0.0/8,DIRECT,no-resolve"),
                s("IP-CIDR,172.16.0.0/12,DIRECT,no-resolve"),
                s("IP-CIDR,192.168.0.0/16,DIRECT,no-resolve"),
                s(&format!("MATCH,{SELECT_GROUP}")),
            ]),
        ),
    ]);
    yaml_serde::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::InboundSpec;
    use serde_json::json;

    const UUID: &str = "9e1f4b8a-3c2d-4e5f-8a9b-0c1d2e3f4a5b";
    const PRIVATE: &str = "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E";

    fn conn(v: serde_json::Value, name: &str) -> Connection {
        let spec: InboundSpec = serde_json::from_value(v).unwrap();
        Connection::new(&spec, "203.0.113.7", UUID, name).unwrap()
    }

    #[test]
    fn a_complete_config_that_parses() {
        let all = vec![
            conn(
                json!({ "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
                "security": "reality", "reality": { "dest": "a.com:443", "serverNames": ["a.com"],
                "privateKey": PRIVATE, "shortIds": ["abcd"] } }),
                "REALITY",
            ),
            conn(
                json!({ "tag": "w", "protocol": "vmess", "port": 80, "network": "ws",
                "path": "/vm?ed=2048", "host": "cdn.example.com" }),
                "VMess",
            ),
            conn(
                json!({ "tag": "t", "protocol": "trojan", "port": 8443, "network": "grpc",
                "serviceName": "tg", "security": "tls",
                "tls": { "certificateFile": "/c", "keyFile": "/k", "serverName": "t.example.com" } }),
                "Trojan",
            ),
            conn(
                json!({ "tag": "x", "protocol": "vless", "port": 1, "network": "xhttp", "path": "/x" }),
                "XHTTP",
            ),
        ];
        let text = config(&all);
        let doc: Value = yaml_serde::from_str(&text).expect("YAML");
        let proxies = doc["proxies"].as_sequence().unwrap();
        assert_eq!(proxies.len(), 3, "xhttp is left out");
        let r = &proxies[0];
        assert_eq!(r["type"], s("vless"));
        assert_eq!(r["flow"], s("xtls-rprx-vision"));
        assert_eq!(r["tls"], Value::Bool(true));
        assert_eq!(r["servername"], s("a.com"));
        assert_eq!(r["client-fingerprint"], s("chrome"));
        assert_eq!(r["reality-opts"]["short-id"], s("abcd"));
        assert_eq!(r["udp"], Value::Bool(true));
        let v = &proxies[1];
        assert_eq!(v["alterId"], Value::Number(0.into()));
        assert_eq!(v["ws-opts"]["path"], s("/vm"));
        assert_eq!(v["ws-opts"]["max-early-data"], Value::Number(2048.into()));
        assert_eq!(v["ws-opts"]["headers"]["Host"], s("cdn.example.com"));
        let t = &proxies[2];
        assert_eq!(t["sni"], s("t.example.com"));
        assert!(t.get("servername").is_none());
        assert_eq!(t["grpc-opts"]["grpc-service-name"], s("tg"));
        let groups = doc["proxy-groups"].as_sequence().unwrap();
        assert_eq!(
            groups[0]["proxies"].as_sequence().unwrap().len(),
            4,
            "AUTO + 3"
        );
        assert_eq!(groups[1]["type"], s("url-test"));
        assert_eq!(
            doc["rules"].as_sequence().unwrap().last(),
            Some(&s("MATCH,PROXY"))
        );
    }

    #[test]
    fn no_connections_still_loads() {
        let doc: Value = yaml_serde::from_str(&config(&[])).unwrap();
        assert_eq!(
            doc["proxy-groups"][1]["proxies"],
            Value::Sequence(vec![s("DIRECT")])
        );
    }
}
