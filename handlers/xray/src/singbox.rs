//! sing-box 1.12+ client config: tun and mixed inbounds, a selector and an urltest over the
//! proxies, DNS and route in the 1.12 form.
//!
//! Outbounds are typed (serialized without building a JSON tree): a subscription renders them
//! for every poll that misses the cache.

use serde::Serialize;
use serde_json::{json, Value};
use serde_with::skip_serializing_none;

use crate::clash::split_early_data;
use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

pub const SELECTOR: &str = "proxy";
pub const URLTEST: &str = "auto";

/// One proxy outbound.
#[skip_serializing_none]
#[derive(Serialize, Debug)]
pub struct Outbound<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    tag: &'a str,
    server: &'a str,
    server_port: u16,
    uuid: Option<&'a str>,
    flow: Option<&'a str>,
    packet_encoding: Option<&'static str>,
    security: Option<&'static str>,
    alter_id: Option<u8>,
    method: Option<&'a str>,
    password: Option<String>,
    tls: Option<Tls<'a>>,
    transport: Option<Transport<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Tls<'a> {
    enabled: bool,
    server_name: Option<&'a str>,
    insecure: Option<bool>,
    alpn: Option<&'a [String]>,
    utls: Utls<'a>,
    reality: Option<Reality<'a>>,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Utls<'a> {
    enabled: bool,
    fingerprint: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct Reality<'a> {
    enabled: bool,
    public_key: Option<&'a str>,
    short_id: &'a str,
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Transport<'a> {
    Ws {
        path: String,
        headers: Option<HostHeader<'a>>,
        max_early_data: Option<u32>,
        early_data_header_name: Option<&'static str>,
    },
    Httpupgrade {
        path: &'a str,
        host: Option<&'a str>,
    },
    Grpc {
        service_name: Option<&'a str>,
    },
}

#[skip_serializing_none]
#[derive(Serialize, Debug)]
struct HostHeader<'a> {
    #[serde(rename = "Host")]
    host: &'a str,
}

fn tls(c: &Connection) -> Option<Tls<'_>> {
    if c.security == Security::None {
        return None;
    }
    Some(Tls {
        enabled: true,
        server_name: c.sni.as_deref(),
        insecure: c.allow_insecure.then_some(true),
        alpn: (!c.alpn.is_empty()).then_some(c.alpn.as_slice()),
        // REALITY cannot work without uTLS.
        utls: Utls {
            enabled: true,
            fingerprint: c.fingerprint.as_deref().unwrap_or("chrome"),
        },
        reality: (c.security == Security::Reality).then(|| Reality {
            enabled: true,
            public_key: c.reality_public_key.as_deref(),
            short_id: c.reality_short_id.as_deref().unwrap_or_default(),
        }),
    })
}

fn transport(c: &Connection) -> Option<Transport<'_>> {
    match c.network {
        Network::Tcp | Network::Xhttp => None,
        Network::Ws => {
            let (path, early) = split_early_data(c.path.as_deref().unwrap_or("/"));
            Some(Transport::Ws {
                path,
                headers: c.host.as_deref().map(|host| HostHeader { host }),
                max_early_data: early,
                early_data_header_name: early.map(|_| "Sec-WebSocket-Protocol"),
            })
        }
        Network::Httpupgrade => Some(Transport::Httpupgrade {
            path: c.path.as_deref().unwrap_or("/"),
            host: c.host.as_deref(),
        }),
        Network::Grpc => Some(Transport::Grpc {
            service_name: c.service_name.as_deref(),
        }),
    }
}

/// One outbound, or `None` when sing-box cannot use the connection (xhttp).
pub fn outbound(c: &Connection) -> Option<Outbound<'_>> {
    if c.network == Network::Xhttp {
        return None;
    }
    let mut o = Outbound {
        kind: match c.protocol {
            Protocol::Vless => "vless",
            Protocol::Vmess => "vmess",
            Protocol::Trojan => "trojan",
            Protocol::Shadowsocks => "shadowsocks",
        },
        tag: &c.name,
        server: &c.address,
        server_port: c.port,
        uuid: None,
        flow: None,
        packet_encoding: None,
        security: None,
        alter_id: None,
        method: None,
        password: None,
        tls: None,
        transport: None,
    };
    match c.protocol {
        Protocol::Vless => {
            o.uuid = Some(&c.secret);
            o.flow = c.effective_flow();
            o.packet_encoding = Some("xudp");
        }
        Protocol::Vmess => {
            o.uuid = Some(&c.secret);
            o.security = Some("auto");
            o.alter_id = Some(0);
        }
        Protocol::Trojan => o.password = Some(c.secret.clone()),
        Protocol::Shadowsocks => {
            o.method = c.ss_method.as_deref();
            o.password = Some(c.ss_password());
        }
    }
    if c.protocol != Protocol::Shadowsocks {
        o.tls = tls(c);
        o.transport = transport(c);
    }
    Some(o)
}

/// An entry of `outbounds`: a fixed one (groups, direct) or a proxy.
#[derive(Serialize)]
#[serde(untagged)]
enum Entry<'a> {
    Fixed(Value),
    Proxy(Outbound<'a>),
}

#[derive(Serialize)]
struct Document<'a> {
    log: Value,
    dns: Value,
    inbounds: Value,
    outbounds: Vec<Entry<'a>>,
    route: Value,
    experimental: Value,
}

/// A complete sing-box config for these connections (names already unique).
pub fn config(connections: &[Connection]) -> String {
    let proxies: Vec<Outbound> = connections.iter().filter_map(outbound).collect();
    let (members, select) = crate::groups(proxies.iter().map(|p| p.tag), "direct", URLTEST);
    let mut outbounds = vec![
        Entry::Fixed(
            json!({ "type": "selector", "tag": SELECTOR, "outbounds": select, "default": URLTEST,
                    "interrupt_exist_connections": true }),
        ),
        Entry::Fixed(
            json!({ "type": "urltest", "tag": URLTEST, "outbounds": members,
                "url": "https://www.gstatic.com/generate_204", "interval": "3m", "tolerance": 50 }),
        ),
    ];
    outbounds.extend(proxies.into_iter().map(Entry::Proxy));
    outbounds.push(Entry::Fixed(json!({ "type": "direct", "tag": "direct" })));
    let doc = Document {
        log: json!({ "level": "warn" }),
        dns: json!({
            "servers": [
                { "type": "https", "tag": "dns-remote", "server": "1.1.1.1", "detour": SELECTOR },
                { "type": "local", "tag": "dns-local" }
            ],
            "final": "dns-remote",
            "strategy": "prefer_ipv4"
        }),
        inbounds: json!([
            { "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
              "auto_route": true, "strict_route": true, "stack": "mixed" },
            { "type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 2080 }
        ]),
        outbounds,
        route: json!({
            "rules": [
                { "action": "sniff" },
                { "protocol": "dns", "action": "hijack-dns" },
                { "ip_is_private": true, "outbound": "direct" }
            ],
            "final": SELECTOR,
            "auto_detect_interface": true,
            "default_domain_resolver": "dns-local"
        }),
        experimental: json!({ "cache_file": { "enabled": true } }),
    };
    // Compact: clients read it, not people, and indenting costs a third of the render.
    serde_json::to_string(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{conn, PRIVATE, UUID};

    #[test]
    fn a_complete_config() {
        let all = vec![
            conn(
                json!({ "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
                "security": "reality", "reality": { "dest": "a.com:443", "serverNames": ["a.com"],
                "privateKey": PRIVATE, "shortIds": [""] } }),
                "REALITY",
            ),
            conn(
                json!({ "tag": "h", "protocol": "vless", "port": 80, "network": "httpupgrade",
                "path": "/hu", "host": "h.example.com" }),
                "HU",
            ),
            conn(
                json!({ "tag": "s", "protocol": "shadowsocks", "port": 8388,
                "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
                "SS",
            ),
            conn(
                json!({ "tag": "x", "protocol": "vless", "port": 1, "network": "xhttp" }),
                "XHTTP",
            ),
            conn(
                json!({ "tag": "w", "protocol": "vmess", "port": 80, "network": "ws",
                "path": "/vm?ed=2048", "host": "cdn.example.com" }),
                "WS",
            ),
            conn(
                json!({ "tag": "g", "protocol": "trojan", "port": 443, "network": "grpc",
                "serviceName": "tg", "security": "tls",
                "tls": { "serverName": "t.example.com", "alpn": ["h2"], "allowInsecure": true } }),
                "GRPC",
            ),
        ];
        let doc: Value = serde_json::from_str(&config(&all)).unwrap();
        let outbounds = doc["outbounds"].as_array().unwrap();
        let tags: Vec<&str> = outbounds
            .iter()
            .map(|o| o["tag"].as_str().unwrap())
            .collect();
        assert_eq!(
            tags,
            vec!["proxy", "auto", "REALITY", "HU", "SS", "WS", "GRPC", "direct"]
        );
        assert_eq!(
            outbounds[0]["outbounds"],
            json!(["auto", "REALITY", "HU", "SS", "WS", "GRPC"])
        );
        assert_eq!(outbounds[0]["default"], "auto");
        assert_eq!(
            outbounds[1]["outbounds"],
            json!(["REALITY", "HU", "SS", "WS", "GRPC"])
        );
        let r = &outbounds[2];
        assert_eq!(r["flow"], "xtls-rprx-vision");
        assert_eq!(r["tls"]["utls"]["enabled"], true);
        assert_eq!(r["tls"]["reality"]["short_id"], "");
        assert_eq!(r["tls"]["server_name"], "a.com");
        assert_eq!(
            outbounds[3]["transport"],
            json!({ "type": "httpupgrade", "path": "/hu", "host": "h.example.com" })
        );
        assert_eq!(
            outbounds[4]["password"],
            format!(
                "c2VydmVyUFNLMTZieXRlcw==:{}",
                crate::ss2022_user_key(UUID, 16)
            )
        );
        assert_eq!(outbounds[4]["method"], "2022-blake3-aes-128-gcm");
        assert!(outbounds[4].get("tls").is_none());
        let ws = &outbounds[5];
        assert_eq!(
            (ws["type"].as_str(), ws["security"].as_str()),
            (Some("vmess"), Some("auto"))
        );
        assert_eq!(ws["alter_id"], 0);
        assert_eq!(
            ws["transport"],
            json!({ "type": "ws", "path": "/vm", "headers": { "Host": "cdn.example.com" },
                    "max_early_data": 2048, "early_data_header_name": "Sec-WebSocket-Protocol" })
        );
        assert!(ws.get("tls").is_none());
        let grpc = &outbounds[6];
        assert_eq!(grpc["password"], UUID);
        assert_eq!(
            grpc["transport"],
            json!({ "type": "grpc", "service_name": "tg" })
        );
        assert_eq!(
            grpc["tls"],
            json!({ "enabled": true, "server_name": "t.example.com", "insecure": true,
                    "alpn": ["h2"], "utls": { "enabled": true, "fingerprint": "chrome" } })
        );
        assert_eq!(doc["route"]["final"], "proxy");
        assert_eq!(doc["route"]["default_domain_resolver"], "dns-local");
    }

    #[test]
    fn no_connections_still_loads() {
        let doc: Value = serde_json::from_str(&config(&[])).unwrap();
        assert_eq!(doc["outbounds"][1]["outbounds"], json!(["direct"]));
    }
}
