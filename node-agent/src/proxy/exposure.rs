//! The client-facing description of the inbounds (`GET /node/inbounds`, an extension beyond
//! the seed's Node API): for each inbound that takes users, what a client needs to connect —
//! protocol, port, transport and TLS/REALITY parameters — so the Node Manager can build share
//! links and client outbounds. Server secrets never appear: no REALITY private key (only the
//! public key derived from it), no certificate or key material, no user credential.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls::pki_types::CertificateDer;
use serde::Serialize;
use serde_json::Value;

use super::{Flavor, Inbound, Protocol};

#[derive(Debug, thiserror::Error)]
#[error("inbound `{tag}`: {message}")]
pub struct ExposureError {
    pub tag: String,
    pub message: String,
}

/// The answer of `GET /node/inbounds`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exposure {
    /// `xray` or `v2ray`: what the core is (VLESS flow, xhttp, REALITY are Xray-only).
    pub flavor: &'static str,
    pub inbounds: Vec<PublicInbound>,
}

/// One inbound as a client sees it. Fields that do not apply are left out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicInbound {
    pub tag: String,
    /// `vless`, `vmess`, `trojan` or `shadowsocks`.
    pub protocol: String,
    pub port: u16,
    /// Client naming: `tcp` (Xray's `raw`), `ws`, `grpc`, `httpupgrade`, `xhttp` (Xray's
    /// `splithttp`), or whatever else the inbound configures (`kcp`…).
    pub network: String,
    /// `none`, `tls` or `reality`.
    pub security: String,
    /// VLESS: the inbound's `settings.flow` (every user gets it), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// Shadowsocks: the cipher.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Shadowsocks 2022: the inbound's server PSK. Every client of a multi-user 2022 inbound
    /// sends it (its password is `serverKey:userKey`), so it is client configuration, not a
    /// server-only secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
    /// ws / httpupgrade / xhttp path (may carry `?ed=N`); tcp with an HTTP header: its path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// ws / httpupgrade / xhttp Host; tcp with an HTTP header: its Host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// tcp: `http` when the inbound disguises itself as HTTP (absent for `none`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_type: Option<String>,
    /// xhttp: `auto`, `packet-up`, `stream-up`, `stream-one`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// grpc: the service name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// tls: `serverName`, else the certificate's first DNS name; reality: first `serverNames`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// tls: the inbound's ALPN list, when it sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<Vec<String>>,
    /// tls: `true` only when the inbounds file says so (`tlsSettings.allowInsecure: true`, for
    /// a self-signed certificate); otherwise `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_insecure: Option<bool>,
    /// reality: uTLS fingerprint (`realitySettings.fingerprint`, default `chrome`); tls: the
    /// `tlsSettings.fingerprint` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// reality: the X25519 public key of `realitySettings.privateKey`, base64url without
    /// padding (what `xray x25519 -i` prints; `pbk` in links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// reality: first of `shortIds` (may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub short_id: Option<String>,
    /// reality: `realitySettings.spiderX`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spider_x: Option<String>,
}

impl Exposure {
    /// Describes every inbound of `inbounds` that takes users on this core.
    pub fn of(inbounds: &[Inbound], flavor: Flavor) -> Result<Exposure, ExposureError> {
        let mut out = Vec::new();
        for inbound in inbounds {
            if let Some(public) = describe(inbound, flavor)? {
                out.push(public);
            }
        }
        Ok(Exposure {
            flavor: flavor.name(),
            inbounds: out,
        })
    }
}

/// The client-facing description of one inbound, or `None` when it takes no users here.
pub fn describe(inbound: &Inbound, flavor: Flavor) -> Result<Option<PublicInbound>, ExposureError> {
    if inbound.takes_users(flavor).is_err() {
        return Ok(None);
    }
    let fail = |message: String| ExposureError {
        tag: inbound.tag.clone(),
        message,
    };
    let raw = &inbound.raw;
    let mut d = PublicInbound {
        tag: inbound.tag.clone(),
        protocol: match &inbound.protocol {
            Protocol::Vless => "vless",
            Protocol::Vmess => "vmess",
            Protocol::Trojan => "trojan",
            Protocol::Shadowsocks => "shadowsocks",
            Protocol::Other(p) => p.as_str(),
        }
        .to_owned(),
        port: port_of(raw.get("port")).ok_or_else(|| fail("no usable `port`".into()))?,
        ..PublicInbound::default()
    };
    match inbound.protocol {
        Protocol::Vless if !inbound.flow.is_empty() => d.flow = Some(inbound.flow.clone()),
        Protocol::Shadowsocks => {
            d.method = Some(inbound.method.clone());
            if inbound.method.starts_with("2022-") {
                d.server_key = text(&raw["settings"], "password");
            }
        }
        _ => {}
    }

    let stream = &raw["streamSettings"];
    let network = text(stream, "network").unwrap_or_else(|| "tcp".into());
    d.network = match network.as_str() {
        "raw" => "tcp".into(),
        "splithttp" => "xhttp".into(),
        _ => network,
    };
    match d.network.as_str() {
        "tcp" => {
            let settings = first_of(stream, &["rawSettings", "tcpSettings"]);
            let header = &settings["header"];
            if let Some(kind) = text(header, "type").filter(|t| t != "none") {
                let request = &header["request"];
                d.path = first_text(&request["path"]);
                d.host = first_text(&request["headers"]["Host"]);
                d.header_type = Some(kind);
            }
        }
        "ws" => {
            let ws = &stream["wsSettings"];
            d.path = text(ws, "path");
            // Xray's `host`, or the older `headers.Host` (v2ray 4's only form).
            d.host = text(ws, "host").or_else(|| text(&ws["headers"], "Host"));
        }
        "httpupgrade" => {
            let hu = &stream["httpupgradeSettings"];
            d.path = text(hu, "path");
            d.host = text(hu, "host");
        }
        "xhttp" => {
            let xh = first_of(stream, &["xhttpSettings", "splithttpSettings"]);
            d.path = text(xh, "path");
            d.host = text(xh, "host");
            d.mode = text(xh, "mode");
        }
        "grpc" | "gun" => {
            d.service_name = text(&stream["grpcSettings"], "serviceName");
        }
        _ => {}
    }

    d.security = text(stream, "security").unwrap_or_else(|| "none".into());
    match d.security.as_str() {
        "tls" => {
            let tls = &stream["tlsSettings"];
            d.sni = text(tls, "serverName").or_else(|| certificate_name(tls));
            d.alpn = tls["alpn"].as_array().map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            });
            d.allow_insecure = Some(tls["allowInsecure"].as_bool().unwrap_or(false));
            d.fingerprint = text(tls, "fingerprint");
        }
        "reality" => {
            let reality = &stream["realitySettings"];
            d.sni = first_text(&reality["serverNames"]).or_else(|| text(reality, "serverName"));
            let private = text(reality, "privateKey")
                .ok_or_else(|| fail("`realitySettings.privateKey` is missing".into()))?;
            d.public_key = Some(reality_public_key(&private).map_err(fail)?);
            d.short_id = reality["shortIds"]
                .as_array()
                .and_then(|ids| ids.first())
                .and_then(Value::as_str)
                .map(str::to_owned);
            d.fingerprint = Some(text(reality, "fingerprint").unwrap_or_else(|| "chrome".into()));
            d.spider_x = text(reality, "spiderX");
        }
        _ => {}
    }
    Ok(Some(d))
}

/// The REALITY public key of a private key, both base64url without padding as Xray writes
/// them (`xray x25519 -i PRIVATE`). Padding or the standard alphabet are tolerated on input.
pub fn reality_public_key(private: &str) -> Result<String, String> {
    let normalized: String = private
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD
        .decode(normalized.as_bytes())
        .map_err(|_| "`realitySettings.privateKey` is not base64url".to_owned())?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "`realitySettings.privateKey` is not a 32-byte X25519 key".to_owned())?;
    // X25519 clamps the scalar, as Xray does before deriving.
    let secret = x25519_dalek::StaticSecret::from(bytes);
    let public = x25519_dalek::PublicKey::from(&secret);
    Ok(URL_SAFE_NO_PAD.encode(public.as_bytes()))
}

/// The first DNS name (not a wildcard) of the inbound's first certificate, read from
/// `certificateFile` or the inline `certificate` lines.
fn certificate_name(tls: &Value) -> Option<String> {
    let cert = tls["certificates"].as_array()?.first()?;
    let pem = match (&cert["certificate"], text(cert, "certificateFile")) {
        (Value::Array(lines), _) => lines
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        (Value::String(s), _) => s.clone().into_bytes(),
        (_, Some(file)) => std::fs::read(Path::new(&file)).ok()?,
        _ => return None,
    };
    let der = match rustls_pemfile::certs(&mut pem.as_slice()).next() {
        Some(Ok(der)) => der,
        // Xray also takes a base64 DER body without PEM armour.
        _ => CertificateDer::from(
            STANDARD
                .decode(
                    pem.iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect::<Vec<_>>(),
                )
                .ok()?,
        ),
    };
    let parsed = webpki::EndEntityCert::try_from(&der).ok()?;
    let first = parsed.valid_dns_names().find(|n| !n.starts_with('*'));
    first.map(str::to_owned)
}

/// An inbound port: a number, a numeric string, or the first port of a range or list.
fn port_of(port: Option<&Value>) -> Option<u16> {
    match port? {
        Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Value::String(s) => s
            .split([',', '-'])
            .next()
            .and_then(|p| p.trim().parse().ok()),
        _ => None,
    }
    .filter(|p| *p != 0)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A string, or the first string of a list.
fn first_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(items) => items.first().and_then(first_text),
        _ => None,
    }
}

/// The first of `keys` present in `v` (Xray's current name, then its alias).
fn first_of<'a>(v: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter().find_map(|k| v.get(*k)).unwrap_or(&Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::inbound::parse;
    use serde_json::json;

    /// RFC 7748 §6.1, Alice's key pair, in Xray's encoding (base64url without padding).
    const RFC_PRIVATE_HEX: &str =
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
    const RFC_PUBLIC_HEX: &str = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

    fn b64(hex_text: &str) -> String {
        URL_SAFE_NO_PAD.encode(hex::decode(hex_text).unwrap())
    }

    fn one(inbound: Value, flavor: Flavor) -> Value {
        let inbounds = parse(&json!([inbound]).to_string()).unwrap();
        let exposure = Exposure::of(&inbounds, flavor).unwrap();
        let body = serde_json::to_value(&exposure).unwrap();
        assert_eq!(body["inbounds"].as_array().unwrap().len(), 1, "{body}");
        body["inbounds"][0].clone()
    }

    fn keys(v: &Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    #[test]
    fn public_key_matches_rfc7748_vector() {
        let public = reality_public_key(&b64(RFC_PRIVATE_HEX)).unwrap();
        assert_eq!(public, b64(RFC_PUBLIC_HEX));
        assert_eq!(public.len(), 43);
        assert!(!public.contains(['=', '+', '/']));
        // Padded or standard-alphabet input is the same key.
        let std = STANDARD.encode(hex::decode(RFC_PRIVATE_HEX).unwrap());
        assert_eq!(reality_public_key(&std).unwrap(), public);
    }

    #[test]
    fn public_key_round_trips_as_a_shared_secret() {
        // Whatever the private key, the derived public key agrees with X25519 itself:
        // client and server reach the same shared secret.
        for seed in [1u8, 7, 200] {
            let server: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(seed) ^ 0x5a);
            let client: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_add(seed));
            let public = reality_public_key(&URL_SAFE_NO_PAD.encode(server)).unwrap();
            assert_eq!(public.len(), 43);
            let public: [u8; 32] = URL_SAFE_NO_PAD.decode(public).unwrap().try_into().unwrap();
            let client = x25519_dalek::StaticSecret::from(client);
            let server = x25519_dalek::StaticSecret::from(server);
            let from_client = client.diffie_hellman(&x25519_dalek::PublicKey::from(public));
            let from_server = server.diffie_hellman(&x25519_dalek::PublicKey::from(&client));
            assert_eq!(from_client.as_bytes(), from_server.as_bytes());
        }
    }

    #[test]
    fn bad_private_keys_are_refused() {
        assert!(reality_public_key("not base64!").is_err());
        assert!(reality_public_key(&URL_SAFE_NO_PAD.encode([1u8; 16])).is_err());
    }

    #[test]
    fn vless_reality_vision() {
        let private = b64(RFC_PRIVATE_HEX);
        let d = one(
            json!({ "tag": "vless-reality", "port": 443, "protocol": "vless",
                "settings": { "clients": [{ "id": "5f7b1c0e-0000-4000-8000-000000000001",
                                             "email": "u1" }],
                              "decryption": "none", "flow": "xtls-rprx-vision" },
                "streamSettings": { "network": "raw", "security": "reality",
                    "realitySettings": { "target": "www.example.com:443", "xver": 0,
                        "serverNames": ["www.example.com", "example.com"],
                        "privateKey": private, "shortIds": ["0123456789abcdef", ""],
                        "spiderX": "/", "minClientVer": "1.8.0" } } }),
            Flavor::Xray,
        );
        assert_eq!(
            d,
            json!({ "tag": "vless-reality", "protocol": "vless", "port": 443,
                "network": "tcp", "security": "reality", "flow": "xtls-rprx-vision",
                "sni": "www.example.com", "fingerprint": "chrome",
                "publicKey": b64(RFC_PUBLIC_HEX), "shortId": "0123456789abcdef",
                "spiderX": "/" })
        );
        let text = d.to_string();
        assert!(!text.contains(&private), "private key leaked: {text}");
        assert!(!text.contains("5f7b1c0e"), "user id leaked: {text}");
    }

    #[test]
    fn reality_fingerprint_and_empty_short_id() {
        let d = one(
            json!({ "tag": "r", "port": "8443", "protocol": "trojan",
                "streamSettings": { "network": "tcp", "security": "reality",
                    "realitySettings": { "serverNames": ["a.example"], "fingerprint": "firefox",
                        "privateKey": b64(RFC_PRIVATE_HEX), "shortIds": [""] } } }),
            Flavor::Xray,
        );
        assert_eq!(d["port"], 8443);
        assert_eq!(d["fingerprint"], "firefox");
        assert_eq!(d["shortId"], "");
        assert!(d.get("spiderX").is_none() && d.get("flow").is_none());
    }

    #[test]
    fn reality_without_a_usable_key_is_an_error() {
        let inbounds = parse(
            &json!([{ "tag": "r", "port": 1, "protocol": "vless",
                "streamSettings": { "security": "reality",
                    "realitySettings": { "serverNames": ["a"], "privateKey": "short" } } }])
            .to_string(),
        )
        .unwrap();
        let err = Exposure::of(&inbounds, Flavor::Xray).unwrap_err();
        assert!(err.to_string().contains("inbound `r`"), "{err}");
        assert!(
            !err.to_string().contains("short"),
            "the key itself is not echoed"
        );
    }

    #[test]
    fn vless_ws_tls_with_inline_certificate() {
        let cert = rcgen::generate_simple_self_signed(vec![
            "*.wild.example".to_owned(),
            "cdn.example.com".to_owned(),
        ])
        .unwrap();
        let cert_pem = cert.cert.pem();
        let key_pem = cert.key_pair.serialize_pem();
        let lines: Vec<&str> = cert_pem.lines().collect();
        let key_lines: Vec<&str> = key_pem.lines().collect();
        let d = one(
            json!({ "tag": "vless-ws", "port": 8443, "protocol": "vless",
                "settings": { "clients": [], "decryption": "none" },
                "streamSettings": { "network": "ws", "security": "tls",
                    "tlsSettings": { "alpn": ["http/1.1"],
                        "certificates": [{ "certificate": lines, "key": key_lines }] },
                    "wsSettings": { "path": "/vlws?ed=2048", "host": "cdn.example.com" } } }),
            Flavor::Xray,
        );
        assert_eq!(
            d,
            json!({ "tag": "vless-ws", "protocol": "vless", "port": 8443, "network": "ws",
                "security": "tls", "path": "/vlws?ed=2048", "host": "cdn.example.com",
                "sni": "cdn.example.com", "alpn": ["http/1.1"], "allowInsecure": false })
        );
        let text = d.to_string();
        assert!(!text.contains("PRIVATE KEY") && !text.contains("CERTIFICATE"));
    }

    #[test]
    fn trojan_tls_from_certificate_file_and_server_name() {
        let dir = std::env::temp_dir().join(format!("nexuma-exposure-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["t.example.com".to_owned()]).unwrap();
        let file = dir.join("cert.pem");
        std::fs::write(&file, cert.cert.pem()).unwrap();
        let tls = |extra: Value| {
            let mut settings = json!({ "alpn": ["h2", "http/1.1"],
                "certificates": [{ "certificateFile": file, "keyFile": "/nowhere/key.pem" }] });
            settings
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({ "tag": "trojan-tls", "port": 8444, "protocol": "trojan",
                "settings": { "clients": [{ "password": "long-random" }] },
                "streamSettings": { "network": "raw", "security": "tls", "tlsSettings": settings } })
        };
        let d = one(tls(json!({})), Flavor::V2ray);
        assert_eq!(
            d,
            json!({ "tag": "trojan-tls", "protocol": "trojan", "port": 8444, "network": "tcp",
                "security": "tls", "sni": "t.example.com", "alpn": ["h2", "http/1.1"],
                "allowInsecure": false })
        );
        assert!(!d.to_string().contains("long-random") && !d.to_string().contains("key.pem"));
        // An explicit serverName wins; the file may mark a self-signed certificate insecure.
        let d = one(
            tls(json!({ "serverName": "sni.example", "allowInsecure": true,
                        "fingerprint": "safari" })),
            Flavor::Xray,
        );
        assert_eq!(d["sni"], "sni.example");
        assert_eq!(d["allowInsecure"], true);
        assert_eq!(d["fingerprint"], "safari");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tls_without_names_leaves_sni_out() {
        let d = one(
            json!({ "tag": "t", "port": 1, "protocol": "trojan",
                "streamSettings": { "security": "tls", "tlsSettings": {
                    "certificates": [{ "certificateFile": "/no/such/file.pem" }] } } }),
            Flavor::Xray,
        );
        assert_eq!(
            keys(&d),
            [
                "allowInsecure",
                "network",
                "port",
                "protocol",
                "security",
                "tag"
            ]
        );
    }

    #[test]
    fn vmess_ws_plain_with_v2ray_host_header() {
        let d = one(
            json!({ "tag": "vmess-ws", "port": 10001, "protocol": "vmess",
                "settings": { "clients": [] },
                "streamSettings": { "network": "ws",
                    "wsSettings": { "path": "/vmws", "headers": { "Host": "v.example" } } } }),
            Flavor::V2ray,
        );
        assert_eq!(
            d,
            json!({ "tag": "vmess-ws", "protocol": "vmess", "port": 10001, "network": "ws",
                "security": "none", "path": "/vmws", "host": "v.example" })
        );
    }

    #[test]
    fn grpc_httpupgrade_xhttp_and_tcp_http_header() {
        let grpc = one(
            json!({ "tag": "g", "port": 2, "protocol": "vless",
                "streamSettings": { "network": "grpc", "security": "none",
                    "grpcSettings": { "serviceName": "vlgrpc" } } }),
            Flavor::Xray,
        );
        assert_eq!(grpc["network"], "grpc");
        assert_eq!(grpc["serviceName"], "vlgrpc");
        assert!(grpc.get("path").is_none());

        let hu = one(
            json!({ "tag": "h", "port": 3, "protocol": "vless",
                "streamSettings": { "network": "httpupgrade",
                    "httpupgradeSettings": { "path": "/hu", "host": "h.example" } } }),
            Flavor::Xray,
        );
        assert_eq!(
            (&hu["network"], &hu["path"], &hu["host"]),
            (&json!("httpupgrade"), &json!("/hu"), &json!("h.example"))
        );

        let xh = one(
            json!({ "tag": "x", "port": 4, "protocol": "vless",
                "streamSettings": { "network": "splithttp",
                    "splithttpSettings": { "path": "/xh", "host": "x.example", "mode": "auto" } } }),
            Flavor::Xray,
        );
        assert_eq!(
            (&xh["network"], &xh["path"], &xh["host"], &xh["mode"]),
            (
                &json!("xhttp"),
                &json!("/xh"),
                &json!("x.example"),
                &json!("auto")
            )
        );

        let tcp = one(
            json!({ "tag": "t", "port": 5, "protocol": "vmess",
                "streamSettings": { "network": "tcp", "tcpSettings": { "header": {
                    "type": "http", "request": { "path": ["/a", "/b"],
                        "headers": { "Host": ["w.example"] } } } } } }),
            Flavor::V2ray,
        );
        assert_eq!(
            (&tcp["headerType"], &tcp["path"], &tcp["host"]),
            (&json!("http"), &json!("/a"), &json!("w.example"))
        );
    }

    #[test]
    fn shadowsocks_only_where_the_core_takes_users() {
        let ss2022 = json!({ "tag": "ss", "port": 8388, "protocol": "shadowsocks",
            "settings": { "method": "2022-blake3-aes-128-gcm", "password": "c2VydmVyUFNLMTZieXRlcw==",
                          "clients": [{ "password": "dXNlclBTSzE2Ynl0ZXMxMg==" }],
                          "network": "tcp,udp" } });
        let d = one(ss2022.clone(), Flavor::Xray);
        assert_eq!(
            d,
            json!({ "tag": "ss", "protocol": "shadowsocks", "port": 8388, "network": "tcp",
                "security": "none", "method": "2022-blake3-aes-128-gcm",
                "serverKey": "c2VydmVyUFNLMTZieXRlcw==" })
        );
        assert!(!d.to_string().contains("dXNlclBTSzE2"), "a user PSK leaked");

        let classic = one(
            json!({ "tag": "ss", "port": 8389, "protocol": "shadowsocks",
                "settings": { "method": "chacha20-ietf-poly1305", "password": "server-pass" } }),
            Flavor::Xray,
        );
        assert_eq!(classic["method"], "chacha20-ietf-poly1305");
        assert!(classic.get("serverKey").is_none());
        assert!(!classic.to_string().contains("server-pass"));

        // v2ray 4 puts no users into Shadowsocks; socks never takes users.
        let inbounds =
            parse(&json!([ss2022, { "tag": "s", "port": 1080, "protocol": "socks" }]).to_string())
                .unwrap();
        let exposure = Exposure::of(&inbounds, Flavor::V2ray).unwrap();
        assert_eq!(exposure.flavor, "v2ray");
        assert!(exposure.inbounds.is_empty());
        assert_eq!(
            Exposure::of(&inbounds, Flavor::Xray)
                .unwrap()
                .inbounds
                .len(),
            1
        );
    }

    #[test]
    fn ports_in_every_form() {
        assert_eq!(port_of(Some(&json!(443))), Some(443));
        assert_eq!(port_of(Some(&json!("8443"))), Some(8443));
        assert_eq!(port_of(Some(&json!("1000-2000"))), Some(1000));
        assert_eq!(port_of(Some(&json!("7,9"))), Some(7));
        assert_eq!(port_of(Some(&json!(70000))), None);
        assert_eq!(port_of(Some(&json!("env:PORT"))), None);
        assert_eq!(port_of(None), None);
    }
}
