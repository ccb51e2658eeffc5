//! The core's own client config for a connection: the outbound object Xray (and v2ray 4) run to
//! reach it. `POST /admin/xray/parse-link` answers with it.

use serde_json::{json, Value};

use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

/// The outbound object, tagged `proxy`.
pub fn outbound(c: &Connection) -> Value {
    let settings = match c.protocol {
        Protocol::Vless => {
            let mut user = json!({ "id": c.secret, "encryption": "none", "level": 0 });
            if let Some(flow) = c.effective_flow() {
                user["flow"] = json!(flow);
            }
            json!({ "vnext": [ { "address": c.address, "port": c.port, "users": [user] } ] })
        }
        Protocol::Vmess => json!({ "vnext": [ { "address": c.address, "port": c.port,
            "users": [ { "id": c.secret, "alterId": 0, "security": "auto", "level": 0 } ] } ] }),
        Protocol::Trojan => json!({ "servers": [ { "address": c.address, "port": c.port,
            "password": c.secret, "level": 0 } ] }),
        Protocol::Shadowsocks => json!({ "servers": [ { "address": c.address, "port": c.port,
            "method": c.ss_method, "password": c.ss_password(), "level": 0 } ] }),
    };
    let network = match c.network {
        Network::Tcp => "tcp",
        Network::Ws => "ws",
        Network::Grpc => "grpc",
        Network::Xhttp => "xhttp",
        Network::Httpupgrade => "httpupgrade",
    };
    let mut stream = json!({ "network": network });
    let path = c.path.clone().unwrap_or_else(|| "/".into());
    match c.network {
        Network::Tcp => {}
        Network::Ws => {
            let mut ws = json!({ "path": path });
            if let Some(host) = &c.host {
                ws["headers"] = json!({ "Host": host });
            }
            stream["wsSettings"] = ws;
        }
        Network::Grpc => stream["grpcSettings"] = json!({ "serviceName": c.service_name }),
        Network::Xhttp => {
            let mut x = json!({ "path": path, "mode": c.mode.as_deref().unwrap_or("auto") });
            if let Some(host) = &c.host {
                x["host"] = json!(host);
            }
            stream["xhttpSettings"] = x;
        }
        Network::Httpupgrade => {
            let mut h = json!({ "path": path });
            if let Some(host) = &c.host {
                h["host"] = json!(host);
            }
            stream["httpupgradeSettings"] = h;
        }
    }
    match c.security {
        Security::None => stream["security"] = json!("none"),
        Security::Tls => {
            stream["security"] = json!("tls");
            let mut tls = json!({ "allowInsecure": c.allow_insecure });
            if let Some(sni) = &c.sni {
                tls["serverName"] = json!(sni);
            }
            if !c.alpn.is_empty() {
                tls["alpn"] = json!(c.alpn);
            }
            if let Some(fp) = &c.fingerprint {
                tls["fingerprint"] = json!(fp);
            }
            stream["tlsSettings"] = tls;
        }
        Security::Reality => {
            stream["security"] = json!("reality");
            stream["realitySettings"] = json!({
                "serverName": c.sni,
                "fingerprint": c.fingerprint.as_deref().unwrap_or("chrome"),
                "publicKey": c.reality_public_key,
                "shortId": c.reality_short_id.clone().unwrap_or_default(),
                "spiderX": c.reality_spider_x.clone().unwrap_or_default(),
            });
        }
    }
    let protocol = match c.protocol {
        Protocol::Vless => "vless",
        Protocol::Vmess => "vmess",
        Protocol::Trojan => "trojan",
        Protocol::Shadowsocks => "shadowsocks",
    };
    json!({
        "tag": "proxy",
        "protocol": protocol,
        "settings": settings,
        "streamSettings": stream,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_an_outbound() {
        let c = crate::link::parse(
            "vless://9e1f4b8a-3c2d-4e5f-8a9b-0c1d2e3f4a5b@a.example.com:443?type=ws&security=tls&path=%2Fws&host=cdn.example.com&sni=cdn.example.com&fp=firefox#x",
        )
        .unwrap();
        let o = outbound(&c);
        assert_eq!(o["protocol"], "vless");
        assert_eq!(o["settings"]["vnext"][0]["address"], "a.example.com");
        assert_eq!(o["settings"]["vnext"][0]["users"][0]["encryption"], "none");
        assert_eq!(
            o["streamSettings"]["wsSettings"]["headers"]["Host"],
            "cdn.example.com"
        );
        assert_eq!(
            o["streamSettings"]["tlsSettings"]["serverName"],
            "cdn.example.com"
        );
        assert_eq!(o["streamSettings"]["tlsSettings"]["fingerprint"], "firefox");
        let ss =
            crate::link::parse("ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpwYXNz@198.51.100.4:8389#SS")
                .unwrap();
        let o = outbound(&ss);
        assert_eq!(
            o["settings"]["servers"][0]["method"],
            "chacha20-ietf-poly1305"
        );
        assert_eq!(o["settings"]["servers"][0]["password"], "pass");
    }
}
