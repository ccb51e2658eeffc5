//! An operator's description of one inbound of a node, its checks, and the server JSON.

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Shadowsocks methods a node may use: 2022 (multi-user AES variants) and classic AEAD.
pub const SS_METHODS: [&str; 6] = [
    "2022-blake3-aes-128-gcm",
    "2022-blake3-aes-256-gcm",
    "aes-128-gcm",
    "aes-256-gcm",
    "chacha20-ietf-poly1305",
    "xchacha20-ietf-poly1305",
];
pub(crate) const XHTTP_MODES: [&str; 4] = ["auto", "packet-up", "stream-up", "stream-one"];
pub(crate) const FLOW_VISION: &str = "xtls-rprx-vision";
/// What `validate` takes as a tag (1 to 64 of these), and the one tag it refuses.
pub(crate) const TAG_PATTERN: &str = "^[A-Za-z0-9._-]{1,64}$";
const RESERVED_TAG: &str = "api";
/// A JSON Schema pattern of a string that is not blank: `trim()` leaves something.
pub const NOT_BLANK: &str = "[^\\s\\u0085]";

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Vless,
    Vmess,
    Trojan,
    Shadowsocks,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [
        Protocol::Vless,
        Protocol::Vmess,
        Protocol::Trojan,
        Protocol::Shadowsocks,
    ];

    /// The name tariffs and links use in their protocol lists.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Vless => "vless",
            Protocol::Vmess => "vmess",
            Protocol::Trojan => "trojan",
            Protocol::Shadowsocks => "shadowsocks",
        }
    }
}

/// The transport, named as clients name it (`tcp` is Xray's `raw`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    #[default]
    Tcp,
    Ws,
    Grpc,
    Xhttp,
    Httpupgrade,
}

impl Network {
    pub const ALL: [Network; 5] = [
        Network::Tcp,
        Network::Ws,
        Network::Grpc,
        Network::Xhttp,
        Network::Httpupgrade,
    ];
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    #[default]
    None,
    Tls,
    Reality,
}

impl Security {
    pub const ALL: [Security; 3] = [Security::None, Security::Tls, Security::Reality];
}

/// TLS terminated by the core: a certificate (files on the node, or PEM text) and what clients
/// should send.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// PEM text, when the certificate travels with the config instead of living on the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// PEM text of the key. Answers show `(hidden)`; a change that sends `(hidden)` back keeps
    /// the stored key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// The uTLS fingerprint clients should present (client side only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Tell clients to accept a certificate no CA signed (a self-signed one).
    #[serde(default)]
    pub allow_insecure: bool,
}

/// REALITY: the masking site (`dest`, `serverNames`) and the key material.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RealitySpec {
    /// The camouflage site, `host:port`.
    pub dest: String,
    /// The names clients may send (SNI).
    pub server_names: Vec<String>,
    /// X25519, base64url without padding (what `xray x25519` prints). Answers show `(hidden)`;
    /// a change that sends `(hidden)` back keeps the stored key.
    pub private_key: String,
    /// Hex strings of even length up to 16 (`""` allowed).
    pub short_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spider_x: Option<String>,
    /// Oldest client version accepted; set it (e.g. `1.8.0`) when mihomo, sing-box or iOS
    /// clients use the node: recent Xray otherwise turns them away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_client_ver: Option<String>,
    /// PROXY protocol version sent to `dest` (0, 1 or 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2))]
    pub xver: Option<u8>,
    /// The public key of `private_key`, kept with it so exports need not derive it on every
    /// request ([`InboundSpec::complete`] sets it; a given one is replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// Where a TLS inbound sends connections that are not its protocol (masking).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fallback {
    /// A port (`"8080"`), `host:port`, or a Unix socket path.
    #[schemars(regex(pattern = NOT_BLANK))]
    pub dest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xver: Option<u8>,
}

/// One inbound of a node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InboundSpec {
    /// Unique on the node; `api` is the agent's own.
    #[schemars(regex(pattern = TAG_PATTERN), extend("not" = { "const": RESERVED_TAG }))]
    pub tag: String,
    pub protocol: Protocol,
    /// Unique on the node.
    #[schemars(range(min = 1))]
    pub port: u16,
    /// The IP address to listen on (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("anyOf" = [{ "format": "ipv4" }, { "format": "ipv6" }]))]
    pub listen: Option<String>,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub security: Security,
    /// VLESS over tcp with TLS or REALITY: `xtls-rprx-vision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<String>,
    /// ws, xhttp, httpupgrade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// grpc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// xhttp: auto, packet-up, stream-up, stream-one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reality: Option<RealitySpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Fallback>,
    /// Shadowsocks method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Shadowsocks 2022 server PSK: standard base64 of 16 (aes-128) or 32 (aes-256) bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_key: Option<String>,
}

/// What is wrong with a spec: the field (relative to the inbound) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

fn base64_len(raw: &str) -> Option<usize> {
    base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .ok()
        .map(|b| b.len())
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

impl InboundSpec {
    /// Fills in what follows from the rest (the REALITY public key); call after [`validate`].
    ///
    /// [`validate`]: InboundSpec::validate
    pub fn complete(&mut self) {
        if let Some(reality) = self.reality.as_mut() {
            reality.public_key = crate::reality::public_key(&reality.private_key).ok();
        }
    }

    /// The spec without what only the node may hold — the REALITY private key (its public key
    /// completed first) and TLS key material — for caches of what clients are shown.
    pub fn public_part(&self) -> InboundSpec {
        let mut spec = self.clone();
        if let Some(reality) = spec.reality.as_mut() {
            if reality.public_key.is_none() {
                reality.public_key = crate::reality::public_key(&reality.private_key).ok();
            }
            reality.private_key.clear();
        }
        if let Some(tls) = spec.tls.as_mut() {
            tls.key = None;
            tls.key_file = None;
            tls.certificate = None;
            tls.certificate_file = None;
        }
        spec
    }

    /// The Shadowsocks 2022 server PSK's length, which users' PSKs must have.
    pub fn ss2022_key_len(&self) -> Option<usize> {
        let method = self.method.as_deref()?;
        if self.protocol != Protocol::Shadowsocks || !method.starts_with("2022-") {
            return None;
        }
        self.server_key.as_deref().and_then(base64_len)
    }

    /// Checks the spec; the first problem found, naming its field.
    pub fn validate(&self) -> Result<(), Invalid> {
        let tag_ok = !self.tag.is_empty()
            && self.tag.len() <= 64
            && self
                .tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !tag_ok {
            return Err(invalid(
                "tag",
                "must be 1 to 64 letters, digits, '.', '_' or '-'",
            ));
        }
        if self.tag == "api" {
            return Err(invalid("tag", "`api` is the agent's own inbound"));
        }
        if self.port == 0 {
            return Err(invalid("port", "must be from 1 to 65535"));
        }
        if let Some(listen) = &self.listen {
            if listen.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid("listen", "must be an IP address"));
            }
        }
        self.validate_transport()?;
        self.validate_security()?;
        self.validate_protocol()
    }

    fn validate_transport(&self) -> Result<(), Invalid> {
        let needs_path = matches!(
            self.network,
            Network::Ws | Network::Xhttp | Network::Httpupgrade
        );
        match (&self.path, needs_path) {
            (Some(path), true) if !path.starts_with('/') => {
                return Err(invalid("path", "must start with '/'"))
            }
            (Some(_), false) => {
                return Err(invalid("path", "applies to ws, xhttp and httpupgrade only"))
            }
            _ => {}
        }
        if self.host.is_some() && !needs_path {
            return Err(invalid("host", "applies to ws, xhttp and httpupgrade only"));
        }
        match (&self.service_name, self.network) {
            (None, Network::Grpc) => return Err(invalid("serviceName", "is required for grpc")),
            (Some(name), Network::Grpc) if name.is_empty() || name.contains('/') => {
                return Err(invalid("serviceName", "must be non-empty, without '/'"))
            }
            (Some(_), network) if network != Network::Grpc => {
                return Err(invalid("serviceName", "applies to grpc only"))
            }
            _ => {}
        }
        match (&self.mode, self.network) {
            (Some(mode), Network::Xhttp) if !XHTTP_MODES.contains(&mode.as_str()) => Err(invalid(
                "mode",
                format!("must be one of {}", XHTTP_MODES.join(", ")),
            )),
            (Some(_), network) if network != Network::Xhttp => {
                Err(invalid("mode", "applies to xhttp only"))
            }
            _ => Ok(()),
        }
    }

    fn validate_security(&self) -> Result<(), Invalid> {
        match self.security {
            Security::None => {
                if self.tls.is_some() {
                    return Err(invalid("tls", "needs security: tls"));
                }
                if self.reality.is_some() {
                    return Err(invalid("reality", "needs security: reality"));
                }
            }
            Security::Tls => {
                let Some(tls) = &self.tls else {
                    return Err(invalid("tls", "is required with security: tls"));
                };
                let files = tls.certificate_file.is_some() || tls.key_file.is_some();
                let pem = tls.certificate.is_some() || tls.key.is_some();
                let complete = (tls.certificate_file.is_some() && tls.key_file.is_some())
                    || (tls.certificate.is_some() && tls.key.is_some());
                if files == pem || !complete {
                    return Err(invalid(
                        "tls",
                        "give certificateFile and keyFile, or certificate and key (PEM)",
                    ));
                }
                if self.reality.is_some() {
                    return Err(invalid("reality", "needs security: reality"));
                }
            }
            Security::Reality => {
                let Some(reality) = &self.reality else {
                    return Err(invalid("reality", "is required with security: reality"));
                };
                if !matches!(self.protocol, Protocol::Vless | Protocol::Trojan) {
                    return Err(invalid(
                        "security",
                        "reality works with vless and trojan only",
                    ));
                }
                if !matches!(self.network, Network::Tcp | Network::Grpc | Network::Xhttp) {
                    return Err(invalid(
                        "security",
                        "reality works over tcp, grpc and xhttp only",
                    ));
                }
                let dest_ok = reality
                    .dest
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
                if !dest_ok {
                    return Err(invalid("reality.dest", "must be host:port"));
                }
                if reality.server_names.is_empty()
                    || reality.server_names.iter().any(|n| n.trim().is_empty())
                {
                    return Err(invalid(
                        "reality.serverNames",
                        "must list the names clients may send (SNI)",
                    ));
                }
                if let Err(e) = crate::reality::public_key(&reality.private_key) {
                    return Err(invalid("reality.privateKey", e.to_string()));
                }
                let ids_ok = !reality.short_ids.is_empty()
                    && reality
                        .short_ids
                        .iter()
                        .all(|id| id.len() <= 16 && id.len() % 2 == 0 && is_hex(id));
                if !ids_ok {
                    return Err(invalid(
                        "reality.shortIds",
                        "must list hex strings of even length up to 16 (\"\" allowed)",
                    ));
                }
                if reality.xver.is_some_and(|x| x > 2) {
                    return Err(invalid("reality.xver", "must be 0, 1 or 2"));
                }
                if self.tls.is_some() {
                    return Err(invalid("tls", "needs security: tls"));
                }
            }
        }
        if !self.fallbacks.is_empty() {
            let masking = matches!(self.protocol, Protocol::Vless | Protocol::Trojan)
                && self.network == Network::Tcp
                && self.security != Security::Reality;
            if !masking {
                return Err(invalid(
                    "fallbacks",
                    "apply to vless and trojan over tcp without reality",
                ));
            }
            if self.fallbacks.iter().any(|f| f.dest.trim().is_empty()) {
                return Err(invalid("fallbacks", "every fallback needs a dest"));
            }
        }
        Ok(())
    }

    fn validate_protocol(&self) -> Result<(), Invalid> {
        if let Some(flow) = &self.flow {
            let vision_ok = self.protocol == Protocol::Vless
                && self.network == Network::Tcp
                && self.security != Security::None;
            if flow != FLOW_VISION || !vision_ok {
                return Err(invalid(
                    "flow",
                    "only xtls-rprx-vision, for vless over tcp with tls or reality",
                ));
            }
        }
        let is_ss = self.protocol == Protocol::Shadowsocks;
        if !is_ss && (self.method.is_some() || self.server_key.is_some()) {
            return Err(invalid(
                if self.method.is_some() {
                    "method"
                } else {
                    "serverKey"
                },
                "applies to shadowsocks only",
            ));
        }
        if !is_ss {
            return Ok(());
        }
        if self.security != Security::None || self.network != Network::Tcp {
            return Err(invalid(
                "security",
                "shadowsocks runs over plain tcp, without tls",
            ));
        }
        let Some(method) = self.method.as_deref() else {
            return Err(invalid("method", "is required for shadowsocks"));
        };
        if !SS_METHODS.contains(&method) {
            return Err(invalid(
                "method",
                format!("must be one of {}", SS_METHODS.join(", ")),
            ));
        }
        let wanted = match method {
            "2022-blake3-aes-128-gcm" => Some(16),
            "2022-blake3-aes-256-gcm" => Some(32),
            _ => None,
        };
        match (wanted, self.server_key.as_deref()) {
            (Some(len), Some(key)) if base64_len(key) == Some(len) => Ok(()),
            (Some(len), _) => Err(invalid(
                "serverKey",
                format!(
                    "must be standard base64 of {len} random bytes (openssl rand -base64 {len})"
                ),
            )),
            (None, Some(_)) => Err(invalid("serverKey", "applies to 2022 methods only")),
            (None, None) => Ok(()),
        }
    }

    /// The inbound object the core runs, with an empty client list (agents add clients live).
    pub fn server_json(&self) -> Value {
        let mut settings = Map::new();
        settings.insert("clients".into(), json!([]));
        match self.protocol {
            Protocol::Vless => {
                settings.insert("decryption".into(), json!("none"));
                if let Some(flow) = &self.flow {
                    settings.insert("flow".into(), json!(flow));
                }
            }
            Protocol::Vmess | Protocol::Trojan => {}
            Protocol::Shadowsocks => {
                settings.insert("method".into(), json!(self.method));
                if let Some(key) = &self.server_key {
                    settings.insert("password".into(), json!(key));
                }
                settings.insert("network".into(), json!("tcp,udp"));
            }
        }
        if !self.fallbacks.is_empty() {
            let fallbacks: Vec<Value> = self.fallbacks.iter().map(fallback_json).collect();
            settings.insert("fallbacks".into(), Value::Array(fallbacks));
        }

        let mut stream = Map::new();
        let network = match self.network {
            Network::Tcp => "tcp",
            Network::Ws => "ws",
            Network::Grpc => "grpc",
            Network::Xhttp => "xhttp",
            Network::Httpupgrade => "httpupgrade",
        };
        stream.insert("network".into(), json!(network));
        let path = self.path.clone().unwrap_or_else(|| "/".into());
        match self.network {
            Network::Tcp => {}
            Network::Ws => {
                let mut ws = json!({ "path": path });
                if let Some(host) = &self.host {
                    // `host` for current Xray, the header for older Xray and v2ray.
                    ws["host"] = json!(host);
                    ws["headers"] = json!({ "Host": host });
                }
                stream.insert("wsSettings".into(), ws);
            }
            Network::Grpc => {
                stream.insert(
                    "grpcSettings".into(),
                    json!({ "serviceName": self.service_name }),
                );
            }
            Network::Xhttp => {
                let mut x = json!({ "path": path, "mode": self.mode.as_deref().unwrap_or("auto") });
                if let Some(host) = &self.host {
                    x["host"] = json!(host);
                }
                stream.insert("xhttpSettings".into(), x);
            }
            Network::Httpupgrade => {
                let mut h = json!({ "path": path });
                if let Some(host) = &self.host {
                    h["host"] = json!(host);
                }
                stream.insert("httpupgradeSettings".into(), h);
            }
        }
        match (self.security, &self.tls, &self.reality) {
            (Security::Tls, Some(tls), _) => {
                stream.insert("security".into(), json!("tls"));
                stream.insert("tlsSettings".into(), tls_json(tls));
            }
            (Security::Reality, _, Some(r)) => {
                stream.insert("security".into(), json!("reality"));
                let mut settings = json!({
                    "show": false,
                    "dest": r.dest,
                    "xver": r.xver.unwrap_or(0),
                    "serverNames": r.server_names,
                    "privateKey": r.private_key,
                    "shortIds": r.short_ids,
                });
                if let Some(v) = &r.min_client_ver {
                    settings["minClientVer"] = json!(v);
                }
                stream.insert("realitySettings".into(), settings);
            }
            _ => {
                stream.insert("security".into(), json!("none"));
            }
        }

        let mut inbound = json!({
            "tag": self.tag,
            "port": self.port,
            "protocol": self.protocol.name(),
            "settings": Value::Object(settings),
            "streamSettings": Value::Object(stream),
            "sniffing": { "enabled": true, "destOverride": ["http", "tls"] },
        });
        if let Some(listen) = &self.listen {
            inbound["listen"] = json!(listen);
        }
        inbound
    }
}

fn tls_json(tls: &TlsSpec) -> Value {
    let certificate = match (
        &tls.certificate_file,
        &tls.key_file,
        &tls.certificate,
        &tls.key,
    ) {
        (Some(cert), Some(key), _, _) => json!({ "certificateFile": cert, "keyFile": key }),
        (_, _, Some(cert), Some(key)) => json!({
            "certificate": cert.lines().collect::<Vec<_>>(),
            "key": key.lines().collect::<Vec<_>>(),
        }),
        _ => json!({}),
    };
    let mut out = json!({ "certificates": [certificate] });
    if let Some(name) = &tls.server_name {
        out["serverName"] = json!(name);
    }
    if !tls.alpn.is_empty() {
        out["alpn"] = json!(tls.alpn);
    }
    out
}

fn fallback_json(f: &Fallback) -> Value {
    // A bare port is a number in the core's config.
    let dest = match f.dest.parse::<u16>() {
        Ok(port) => json!(port),
        Err(_) => json!(f.dest),
    };
    let mut out = json!({ "dest": dest });
    if let Some(path) = &f.path {
        out["path"] = json!(path);
    }
    if let Some(alpn) = &f.alpn {
        out["alpn"] = json!(alpn);
    }
    if let Some(xver) = f.xver {
        out["xver"] = json!(xver);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures::{spec, PRIVATE, UUID};

    #[test]
    fn the_public_part_keeps_no_private_key_and_still_makes_the_same_client() {
        let reality = spec(json!({
            "tag": "r", "protocol": "vless", "port": 443, "security": "reality",
            "reality": { "dest": "a.com:443", "serverNames": ["a.com"], "privateKey": PRIVATE,
                         "shortIds": ["ab"] } }));
        let tls = spec(json!({
            "tag": "t", "protocol": "trojan", "port": 443, "security": "tls",
            "tls": { "serverName": "t.example", "certificate": "CERT", "key": "KEY",
                     "keyFile": "/k", "certificateFile": "/c" } }));
        for full in [reality, tls] {
            let public = full.public_part();
            let text = serde_json::to_string(&public).expect("json");
            for secret in [PRIVATE, "KEY", "CERT", "/k"] {
                assert!(!text.contains(secret), "{secret} left in {text}");
            }
            assert_eq!(
                crate::Connection::new(&public, "h", UUID, "n"),
                crate::Connection::new(&full, "h", UUID, "n"),
                "clients are shown the same"
            );
        }
    }

    #[test]
    fn reality_vision_builds_the_documented_inbound() {
        let s = spec(json!({
            "tag": "vless-reality", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
            "security": "reality",
            "reality": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
                         "privateKey": PRIVATE, "shortIds": ["", "0123456789abcdef"],
                         "minClientVer": "1.8.0" }
        }));
        assert_eq!(s.validate(), Ok(()));
        let j = s.server_json();
        assert_eq!(
            j["settings"],
            json!({ "clients": [], "decryption": "none", "flow": "xtls-rprx-vision" })
        );
        assert_eq!(j["streamSettings"]["network"], "tcp");
        assert_eq!(j["streamSettings"]["security"], "reality");
        assert_eq!(
            j["streamSettings"]["realitySettings"]["dest"],
            "www.example.com:443"
        );
        assert_eq!(
            j["streamSettings"]["realitySettings"]["minClientVer"],
            "1.8.0"
        );
        assert_eq!(
            j["streamSettings"]["realitySettings"]["privateKey"],
            PRIVATE
        );
    }

    #[test]
    fn transports_and_tls() {
        let s = spec(json!({
            "tag": "vmess-ws", "protocol": "vmess", "port": 8080, "network": "ws",
            "path": "/vm", "host": "cdn.example.com", "security": "tls",
            "tls": { "certificateFile": "/c.pem", "keyFile": "/k.pem", "alpn": ["http/1.1"] }
        }));
        assert_eq!(s.validate(), Ok(()));
        let j = s.server_json();
        assert_eq!(j["streamSettings"]["wsSettings"]["path"], "/vm");
        assert_eq!(
            j["streamSettings"]["wsSettings"]["headers"]["Host"],
            "cdn.example.com"
        );
        assert_eq!(
            j["streamSettings"]["tlsSettings"]["certificates"][0]["certificateFile"],
            "/c.pem"
        );
        let g = spec(
            json!({ "tag": "g", "protocol": "vless", "port": 1, "network": "grpc",
                             "serviceName": "svc" }),
        );
        assert_eq!(
            g.server_json()["streamSettings"]["grpcSettings"]["serviceName"],
            "svc"
        );
        let x = spec(
            json!({ "tag": "x", "protocol": "vless", "port": 1, "network": "xhttp",
                             "path": "/x", "mode": "packet-up" }),
        );
        assert_eq!(
            x.server_json()["streamSettings"]["xhttpSettings"]["mode"],
            "packet-up"
        );
        let pem = spec(
            json!({ "tag": "t", "protocol": "trojan", "port": 1, "security": "tls",
                               "tls": { "certificate": "-----BEGIN-----\nAAA\n-----END-----",
                                        "key": "K1\nK2" },
                               "fallbacks": [ { "dest": "8080" }, { "dest": "/dev/shm/h2.sock", "alpn": "h2" } ] }),
        );
        assert_eq!(pem.validate(), Ok(()));
        let j = pem.server_json();
        assert_eq!(
            j["streamSettings"]["tlsSettings"]["certificates"][0]["key"],
            json!(["K1", "K2"])
        );
        assert_eq!(j["settings"]["fallbacks"][0]["dest"], 8080);
        assert_eq!(j["settings"]["fallbacks"][1]["dest"], "/dev/shm/h2.sock");
    }

    #[test]
    fn shadowsocks_2022_keys() {
        let s = spec(
            json!({ "tag": "ss", "protocol": "shadowsocks", "port": 8388,
                             "method": "2022-blake3-aes-128-gcm",
                             "serverKey": "AAAAAAAAAAAAAAAAAAAAAA==" }),
        );
        assert_eq!(s.validate(), Ok(()));
        assert_eq!(s.ss2022_key_len(), Some(16));
        assert_eq!(
            s.server_json()["settings"]["password"],
            "AAAAAAAAAAAAAAAAAAAAAA=="
        );
        let short = spec(
            json!({ "tag": "ss", "protocol": "shadowsocks", "port": 8388,
                                 "method": "2022-blake3-aes-256-gcm",
                                 "serverKey": "AAAAAAAAAAAAAAAAAAAAAA==" }),
        );
        assert_eq!(short.validate().unwrap_err().field, "serverKey");
        let classic = spec(
            json!({ "tag": "ss", "protocol": "shadowsocks", "port": 8388,
                                   "method": "aes-256-gcm" }),
        );
        assert_eq!(classic.validate(), Ok(()));
        assert_eq!(classic.ss2022_key_len(), None);
    }

    #[test]
    fn mistakes_name_their_field() {
        let bad = |v: Value| spec(v).validate().unwrap_err().field;
        assert_eq!(
            bad(json!({ "tag": "api", "protocol": "vless", "port": 1 })),
            "tag"
        );
        assert_eq!(
            bad(json!({ "tag": "a b", "protocol": "vless", "port": 1 })),
            "tag"
        );
        assert_eq!(
            bad(json!({ "tag": "a", "protocol": "vless", "port": 0 })),
            "port"
        );
        assert_eq!(
            bad(json!({ "tag": "a", "protocol": "vless", "port": 1, "network": "grpc" })),
            "serviceName"
        );
        assert_eq!(
            bad(json!({ "tag": "a", "protocol": "vless", "port": 1, "flow": "xtls-rprx-vision" })),
            "flow"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vmess", "port": 1, "security": "reality",
                              "reality": { "dest": "a:1", "serverNames": ["a"], "privateKey": PRIVATE, "shortIds": [""] } })
            ),
            "security"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vless", "port": 1, "security": "reality",
                              "reality": { "dest": "a:1", "serverNames": ["a"], "privateKey": "nope", "shortIds": [""] } })
            ),
            "reality.privateKey"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vless", "port": 1, "security": "reality",
                              "reality": { "dest": "a", "serverNames": ["a"], "privateKey": PRIVATE, "shortIds": [""] } })
            ),
            "reality.dest"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vless", "port": 1, "security": "reality",
                              "reality": { "dest": "a:1", "serverNames": ["a"], "privateKey": PRIVATE, "shortIds": ["xyz"] } })
            ),
            "reality.shortIds"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vless", "port": 1, "security": "tls",
                              "tls": { "certificateFile": "/c" } })
            ),
            "tls"
        );
        assert_eq!(
            bad(json!({ "tag": "a", "protocol": "vless", "port": 1, "path": "/p" })),
            "path"
        );
        assert_eq!(
            bad(json!({ "tag": "a", "protocol": "shadowsocks", "port": 1, "method": "rc4" })),
            "method"
        );
        assert_eq!(
            bad(
                json!({ "tag": "a", "protocol": "vmess", "port": 1, "fallbacks": [ { "dest": "80" } ] })
            ),
            "fallbacks"
        );
        assert!(serde_json::from_value::<InboundSpec>(
            json!({ "tag": "a", "protocol": "vless", "port": 70000 })
        )
        .is_err());
        assert!(serde_json::from_value::<InboundSpec>(
            json!({ "tag": "a", "protocol": "wireguard", "port": 1 })
        )
        .is_err());
        assert!(serde_json::from_value::<InboundSpec>(
            json!({ "tag": "a", "protocol": "vless", "port": 1, "tlss": {} })
        )
        .is_err());
    }
}
