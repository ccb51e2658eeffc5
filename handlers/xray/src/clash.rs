//! Clash.Meta (mihomo) YAML: proxies, a select group and an url-test group, rules.
//!
//! The document is block YAML whose entries are one-line flow mappings (`- {"name": …}`), as
//! many providers serve them: each entry is written by `serde_json`, whose quoted strings are
//! valid YAML double-quoted scalars, so no name or path can break the document — and a
//! subscription of hundreds of proxies renders in a fraction of the time a YAML emitter takes.

use std::io;

use serde::Serialize;
use serde_json::ser::Formatter;
use serde_with::skip_serializing_none;

use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

/// The group users pick in, and the one that picks the fastest.
pub const SELECT_GROUP: &str = "PROXY";
pub const AUTO_GROUP: &str = "AUTO";
const TEST_URL: &str = "https://www.gstatic.com/generate_204";

/// The settings before `proxies`.
const HEAD: &str = "mixed-port: 7890\nallow-lan: false\nmode: rule\nlog-level: info\nipv6: true\n";
const RULES: [&str; 4] = [
    "IP-CIDR,127.0.0.0/8,DIRECT,no-resolve",
    "IP-CIDR,10.0.0.0/8,DIRECT,no-resolve",
    "IP-CIDR,172.16.0.0/12,DIRECT,no-resolve",
    "IP-CIDR,192.168.0.0/16,DIRECT,no-resolve",
];

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

/// One `proxies` entry, fields in mihomo's documented order.
#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(rename_all = "kebab-case")]
pub struct Proxy<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    server: &'a str,
    port: u16,
    uuid: Option<&'a str>,
    flow: Option<&'a str>,
    packet_encoding: Option<&'static str>,
    #[serde(rename = "alterId")]
    alter_id: Option<u8>,
    cipher: Option<&'a str>,
    password: Option<String>,
    udp: bool,
    tls: Option<bool>,
    /// VLESS and VMess name the TLS server name `servername`, Trojan `sni`.
    servername: Option<&'a str>,
    sni: Option<&'a str>,
    client_fingerprint: Option<&'a str>,
    alpn: Option<&'a [String]>,
    skip_cert_verify: Option<bool>,
    reality_opts: Option<RealityOpts<'a>>,
    network: Option<&'static str>,
    ws_opts: Option<WsOpts<'a>>,
    grpc_opts: Option<GrpcOpts<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(rename_all = "kebab-case")]
struct RealityOpts<'a> {
    public_key: &'a str,
    short_id: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(rename_all = "kebab-case")]
struct WsOpts<'a> {
    path: String,
    headers: Option<WsHeaders<'a>>,
    max_early_data: Option<u32>,
    early_data_header_name: Option<&'static str>,
    v2ray_http_upgrade: Option<bool>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct WsHeaders<'a> {
    #[serde(rename = "Host")]
    host: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(rename_all = "kebab-case")]
struct GrpcOpts<'a> {
    grpc_service_name: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize)]
struct Group<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    url: Option<&'a str>,
    interval: Option<u32>,
    tolerance: Option<u32>,
    proxies: &'a [&'a str],
}

/// One `proxies` entry, or `None` when mihomo cannot use the connection (xhttp).
pub fn proxy(c: &Connection) -> Option<Proxy<'_>> {
    if c.network == Network::Xhttp {
        return None;
    }
    let mut p = Proxy {
        name: &c.name,
        kind: match c.protocol {
            Protocol::Vless => "vless",
            Protocol::Vmess => "vmess",
            Protocol::Trojan => "trojan",
            Protocol::Shadowsocks => "ss",
        },
        server: &c.address,
        port: c.port,
        uuid: None,
        flow: None,
        packet_encoding: None,
        alter_id: None,
        cipher: None,
        password: None,
        udp: true,
        tls: None,
        servername: None,
        sni: None,
        client_fingerprint: None,
        alpn: None,
        skip_cert_verify: None,
        reality_opts: None,
        network: None,
        ws_opts: None,
        grpc_opts: None,
    };
    match c.protocol {
        Protocol::Vless => {
            p.uuid = Some(&c.secret);
            p.flow = c.effective_flow();
            p.packet_encoding = Some("xudp");
        }
        Protocol::Vmess => {
            p.uuid = Some(&c.secret);
            p.alter_id = Some(0);
            p.cipher = Some("auto");
        }
        Protocol::Trojan => p.password = Some(c.secret.clone()),
        Protocol::Shadowsocks => {
            p.cipher = Some(c.ss_method.as_deref().unwrap_or_default());
            p.password = Some(c.ss_password());
        }
    }
    if c.protocol == Protocol::Shadowsocks {
        return Some(p);
    }
    if c.security != Security::None {
        if c.protocol == Protocol::Trojan {
            p.sni = c.sni.as_deref();
        } else {
            p.tls = Some(true);
            p.servername = c.sni.as_deref();
        }
        p.client_fingerprint = c.fingerprint.as_deref();
        p.alpn = (!c.alpn.is_empty()).then_some(c.alpn.as_slice());
        p.skip_cert_verify = c.allow_insecure.then_some(true);
    }
    if c.security == Security::Reality {
        p.reality_opts = Some(RealityOpts {
            public_key: c.reality_public_key.as_deref().unwrap_or_default(),
            short_id: c.reality_short_id.as_deref().unwrap_or_default(),
        });
    }
    match c.network {
        Network::Tcp => p.network = Some("tcp"),
        Network::Ws | Network::Httpupgrade => {
            p.network = Some("ws");
            let (path, early) = split_early_data(c.path.as_deref().unwrap_or("/"));
            p.ws_opts = Some(WsOpts {
                path,
                headers: c.host.as_deref().map(|host| WsHeaders { host }),
                max_early_data: early,
                early_data_header_name: early.map(|_| "Sec-WebSocket-Protocol"),
                v2ray_http_upgrade: (c.network == Network::Httpupgrade).then_some(true),
            });
        }
        Network::Grpc => {
            p.network = Some("grpc");
            p.grpc_opts = Some(GrpcOpts {
                grpc_service_name: c.service_name.as_deref().unwrap_or_default(),
            });
        }
        Network::Xhttp => {}
    }
    Some(p)
}

/// JSON with a space after `:` and `,`: a YAML flow collection every YAML parser reads (some
/// want a space after a mapping's `:`).
struct Flow;

impl Formatter for Flow {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// JSON leaves DEL, the C1 controls and a few more as they are; YAML allows none of them
    /// in a document (and reads NEL and the Unicode separators as line breaks): escaped, so a
    /// name from an external source cannot break the config.
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (at, c) in fragment
            .char_indices()
            .filter(|(_, c)| not_yaml_printable(*c))
        {
            w.write_all(&fragment.as_bytes()[start..at])?;
            write!(w, "\\u{:04x}", u32::from(c))?;
            start = at + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// Characters JSON writes as they are that a YAML document may not hold as they are.
fn not_yaml_printable(c: char) -> bool {
    matches!(
        c,
        '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// Appends `value` as a flow collection or a double-quoted scalar.
fn push_flow(out: &mut Vec<u8>, value: &impl Serialize) {
    let mut ser = serde_json::Serializer::with_formatter(&mut *out, Flow);
    // Writing derived types into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
}

/// Appends a block sequence under `key` (`key: []` when empty).
fn push_block<T: Serialize>(out: &mut Vec<u8>, key: &str, items: &[T]) {
    out.extend_from_slice(key.as_bytes());
    if items.is_empty() {
        out.extend_from_slice(b": []\n");
        return;
    }
    out.extend_from_slice(b":\n");
    for item in items {
        out.extend_from_slice(b"  - ");
        push_flow(out, item);
        out.push(b'\n');
    }
}

/// A complete mihomo config for these connections (names already unique).
pub fn config(connections: &[Connection]) -> String {
    let proxies: Vec<Proxy> = connections.iter().filter_map(proxy).collect();
    let (members, choices) = crate::groups(proxies.iter().map(|p| p.name), "DIRECT", AUTO_GROUP);
    let groups = [
        Group {
            name: SELECT_GROUP,
            kind: "select",
            url: None,
            interval: None,
            tolerance: None,
            proxies: &choices,
        },
        Group {
            name: AUTO_GROUP,
            kind: "url-test",
            url: Some(TEST_URL),
            interval: Some(300),
            tolerance: Some(50),
            proxies: &members,
        },
    ];
    let last = format!("MATCH,{SELECT_GROUP}");
    let mut rules: Vec<&str> = RULES.to_vec();
    rules.push(&last);

    let mut out = Vec::with_capacity(512 + proxies.len() * 400);
    out.extend_from_slice(HEAD.as_bytes());
    push_block(&mut out, "proxies", &proxies);
    push_block(&mut out, "proxy-groups", &groups);
    push_block(&mut out, "rules", &rules);
    // Only serde_json output and ASCII went in.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{conn, PRIVATE};
    use serde_json::json;
    use yaml_serde::Value;

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    /// Found by fuzzing: JSON leaves DEL and the C1 controls unescaped, which YAML refuses.
    #[test]
    fn names_with_what_yaml_forbids_are_escaped() {
        let name = "a\u{7f}b\u{85}c\u{9f}d\u{2028}e\u{feff}f\u{ffff}g\u{1}h";
        let c = conn(json!({ "tag": "v", "protocol": "vless", "port": 1 }), name);
        let text = config(&[c]);
        assert!(text.contains(r"a\u007fb\u0085c"), "{text}");
        let doc: Value = yaml_serde::from_str(&text).expect("YAML");
        assert_eq!(doc["proxies"][0]["name"], s(name));
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

    #[test]
    fn names_that_look_like_yaml_stay_names() {
        let spec = json!({ "tag": "t", "protocol": "trojan", "port": 443 });
        let odd = [
            "a: b # c",
            "- [x] {y}",
            "'quoted' \"double\"",
            "🇩🇪 Frankfurt",
            "yes",
            "007",
            "tab\there",
            "&anchor *alias !tag",
        ];
        let all: Vec<Connection> = odd.iter().map(|n| conn(spec.clone(), n)).collect();
        let doc: Value = yaml_serde::from_str(&config(&all)).expect("YAML");
        let proxies = doc["proxies"].as_sequence().unwrap();
        for (p, name) in proxies.iter().zip(odd) {
            assert_eq!(p["name"], s(name));
        }
        let members = doc["proxy-groups"][1]["proxies"].as_sequence().unwrap();
        assert_eq!(members.len(), odd.len());
        assert_eq!(members[0], s(odd[0]));
    }
}
