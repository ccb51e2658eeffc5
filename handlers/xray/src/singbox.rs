//! sing-box 1.12+ client config: tun and mixed inbounds, a selector and an urltest over the
//! proxies, DNS and route in the 1.12 form.

use serde_json::{json, Map, Value};

use crate::clash::split_early_data;
use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

pub const SELECTOR: &str = "proxy";
pub const URLTEST: &str = "auto";

fn tls(c: &Connection) -> Option<Value> {
    if c.security == Security::None {
        return None;
    }
    let mut t = json!({ "enabled": true });
    if let Some(sni) = &c.sni {
        t["server_name"] = json!(sni);
    }
    if c.allow_insecure {
        t["insecure"] = json!(true);
    }
    if !c.alpn.is_empty() {
        t["alpn"] = json!(c.alpn);
    }
    // REALITY cannot work without uTLS.
    let fingerprint = c.fingerprint.as_deref().unwrap_or("chrome");
    t["utls"] = json!({ "enabled": true, "fingerprint": fingerprint });
    if c.security == Security::Reality {
        t["reality"] = json!({
            "enabled": true,
            "public_key": c.reality_public_key,
            "short_id": c.reality_short_id.clone().unwrap_or_default(),
        });
    }
    Some(t)
}

fn transport(c: &Connection) -> Option<Value> {
    match c.network {
        Network::Tcp | Network::Xhttp => None,
        Network::Ws => {
            let (path, early) = split_early_data(c.path.as_deref().unwrap_or("/"));
            let mut t = json!({ "type": "ws", "path": path });
            if let Some(host) = &c.host {
                t["headers"] = json!({ "Host": host });
            }
            if let Some(n) = early {
                t["max_early_data"] = json!(n);
                t["early_data_header_name"] = json!("Sec-WebSocket-Protocol");
            }
            Some(t)
        }
        Network::Httpupgrade => {
            let mut t = json!({ "type": "httpupgrade", "path": c.path.as_deref().unwrap_or("/") });
            if let Some(host) = &c.host {
                t["host"] = json!(host);
            }
            Some(t)
        }
        Network::Grpc => Some(json!({ "type": "grpc", "service_name": c.service_name })),
    }
}

/// One outbound, or `None` when sing-box cannot use the connection (xhttp).
pub fn outbound(c: &Connection) -> Option<Value> {
    if c.network == Network::Xhttp {
        return None;
    }
    let mut o = Map::new();
    let kind = match c.protocol {
        Protocol::Vless => "vless",
        Protocol::Vmess => "vmess",
        Protocol::Trojan => "trojan",
        Protocol::Shadowsocks => "shadowsocks",
    };
    o.insert("type".into(), json!(kind));
    o.insert("tag".into(), json!(c.name));
    o.insert("server".into(), json!(c.address));
    o.insert("server_port".into(), json!(c.port));
    match c.protocol {
        Protocol::Vless => {
            o.insert("uuid".into(), json!(c.secret));
            if let Some(flow) = c.effective_flow() {
                o.insert("flow".into(), json!(flow));
            }
            o.insert("packet_encoding".into(), json!("xudp"));
        }
        Protocol::Vmess => {
            o.insert("uuid".into(), json!(c.secret));
            o.insert("security".into(), json!("auto"));
            o.insert("alter_id".into(), json!(0));
        }
        Protocol::Trojan => {
            o.insert("password".into(), json!(c.secret));
        }
        Protocol::Shadowsocks => {
            o.insert("method".into(), json!(c.ss_method));
            o.insert("password".into(), json!(c.ss_password()));
        }
    }
    if c.protocol != Protocol::Shadowsocks {
        if let Some(t) = tls(c) {
            o.insert("tls".into(), t);
        }
        if let Some(t) = transport(c) {
            o.insert("transport".into(), t);
        }
    }
    Some(Value::Object(o))
}

/// A complete sing-box config for these connections (names already unique).
pub fn config(connections: &[Connection]) -> String {
    let proxies: Vec<Value> = connections.iter().filter_map(outbound).collect();
    let tags: Vec<Value> = proxies.iter().map(|p| p["tag"].clone()).collect();
    // An empty selector or urltest is a start-up error: fall back to direct.
    let members = if tags.is_empty() {
        vec![json!("direct")]
    } else {
        tags
    };
    let mut select = vec![json!(URLTEST)];
    select.extend(members.iter().cloned());
    let mut outbounds = vec![
        json!({ "type": "selector", "tag": SELECTOR, "outbounds": select, "default": URLTEST,
                "interrupt_exist_connections": true }),
        json!({ "type": "urltest", "tag": URLTEST, "outbounds": members,
                "url": "https://www.gstatic.com/generate_204", "interval": "3m", "tolerance": 50 }),
    ];
    outbounds.extend(proxies);
    outbounds.push(json!({ "type": "direct", "tag": "direct" }));
    let doc = json!({
        "log": { "level": "warn" },
        "dns": {
            "servers": [
                { "type": "https", "tag": "dns-remote", "server": "1.1.1.1", "detour": SELECTOR },
                { "type": "local", "tag": "dns-local" }
            ],
            "final": "dns-remote",
            "strategy": "prefer_ipv4"
        },
        "inbounds": [
            { "type": "tun", "tag": "tun-in", "address": ["172.19.0.1/30", "fdfe:dcba:9876::1/126"],
              "auto_route": true, "strict_route": true, "stack": "mixed" },
            { "type": "mixed", "tag": "mixed-in", "listen": "127.0.0.1", "listen_port": 2080 }
        ],
        "outbounds": outbounds,
        "route": {
            "rules": [
                { "action": "sniff" },
                { "protocol": "dns", "action": "hijack-dns" },
                { "ip_is_private": true, "outbound": "direct" }
            ],
            "final": SELECTOR,
            "auto_detect_interface": true,
            "default_domain_resolver": "dns-local"
        },
        "experimental": { "cache_file": { "enabled": true } }
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::InboundSpec;

    const UUID: &str = "9e1f4b8a-3c2d-4e5f-8a9b-0c1d2e3f4a5b";
    const PRIVATE: &str = "cMEHUqnhjOvD0fVb5Pf4aSRDuTTvqaLeXRbBdBQxL3E";

    fn conn(v: Value, name: &str) -> Connection {
        let spec: InboundSpec = serde_json::from_value(v).unwrap();
        Connection::new(&spec, "203.0.113.7", UUID, name).unwrap()
    }

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
        ];
        let doc: Value = serde_json::from_str(&config(&all)).unwrap();
        let outbounds = doc["outbounds"].as_array().unwrap();
        let tags: Vec<&str> = outbounds
            .iter()
            .map(|o| o["tag"].as_str().unwrap())
            .collect();
        assert_eq!(tags, vec!["proxy", "auto", "REALITY", "HU", "SS", "direct"]);
        assert_eq!(
            outbounds[0]["outbounds"],
            json!(["auto", "REALITY", "HU", "SS"])
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
        assert_eq!(doc["route"]["final"], "proxy");
        assert_eq!(doc["route"]["default_domain_resolver"], "dns-local");
    }

    #[test]
    fn no_connections_still_loads() {
        let doc: Value = serde_json::from_str(&config(&[])).unwrap();
        assert_eq!(doc["outbounds"][1]["outbounds"], json!(["direct"]));
    }
}
