//! Share links (`vless://`, `vmess://`, `trojan://`, `ss://`): writing them for the v2ray
//! subscription and reading them back (`POST /admin/xray/parse-link`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::{Deserialize, Serialize};

use crate::client::Connection;
use crate::inbound::{Network, Protocol, Security};

/// What JavaScript's `encodeURIComponent` leaves alone; everything else is percent-encoded
/// (a space is `%20`, never `+`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

fn network_name(n: Network) -> &'static str {
    match n {
        Network::Tcp => "tcp",
        Network::Ws => "ws",
        Network::Grpc => "grpc",
        Network::Xhttp => "xhttp",
        Network::Httpupgrade => "httpupgrade",
    }
}

fn security_name(s: Security) -> &'static str {
    match s {
        Security::None => "none",
        Security::Tls => "tls",
        Security::Reality => "reality",
    }
}

/// Appends `s` percent-encoded as a URI component.
fn push_encoded(out: &mut String, s: &str) {
    out.extend(utf8_percent_encode(s, COMPONENT));
}

/// Appends `host:port`, with brackets around an IPv6 address.
fn push_authority(out: &mut String, c: &Connection) {
    let v6 = c.address.contains(':');
    if v6 {
        out.push('[');
    }
    out.push_str(&c.address);
    if v6 {
        out.push(']');
    }
    out.push(':');
    out.push_str(&c.port.to_string());
}

/// Appends the query shared by `vless://` and `trojan://`: transport, then TLS / REALITY.
fn push_query(out: &mut String, c: &Connection, vless: bool) {
    let mut first = true;
    let mut pair = |k: &str, v: &str| {
        if !first {
            out.push('&');
        }
        first = false;
        out.push_str(k);
        out.push('=');
        push_encoded(out, v);
    };
    pair("type", network_name(c.network));
    if vless {
        pair("encryption", "none");
    }
    pair("security", security_name(c.security));
    if vless {
        if let Some(flow) = c.effective_flow() {
            pair("flow", flow);
        }
    }
    let mut opt = |k: &str, v: &Option<String>| {
        if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
            pair(k, v);
        }
    };
    opt("sni", &c.sni);
    opt("fp", &c.fingerprint);
    opt("pbk", &c.reality_public_key);
    opt("sid", &c.reality_short_id);
    opt("spx", &c.reality_spider_x);
    match c.network {
        Network::Tcp => {}
        Network::Grpc => opt("serviceName", &c.service_name),
        Network::Ws | Network::Httpupgrade | Network::Xhttp => {
            opt("path", &c.path);
            opt("host", &c.host);
            if c.network == Network::Xhttp {
                opt("mode", &c.mode);
            }
        }
    }
    if !c.alpn.is_empty() {
        pair("alpn", &c.alpn.join(","));
    }
    if c.allow_insecure {
        pair("allowInsecure", "1");
    }
}

/// v2rayN's "ver 2" VMess JSON (every value a string).
#[derive(Serialize, Deserialize, Default)]
struct VmessJson {
    v: String,
    ps: String,
    add: String,
    port: serde_json::Value,
    id: String,
    aid: serde_json::Value,
    scy: String,
    net: String,
    #[serde(rename = "type")]
    kind: String,
    host: String,
    path: String,
    tls: String,
    sni: String,
    alpn: String,
    fp: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pbk: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    sid: String,
}

/// The share link of a connection.
pub fn share_link(c: &Connection) -> String {
    let mut out = String::with_capacity(256);
    push_share_link(&mut out, c);
    out
}

/// Appends the share link of a connection: a subscription writes all of them into one buffer.
fn push_share_link(out: &mut String, c: &Connection) {
    match c.protocol {
        Protocol::Vless | Protocol::Trojan => {
            let vless = c.protocol == Protocol::Vless;
            out.push_str(if vless { "vless://" } else { "trojan://" });
            push_encoded(out, &c.secret);
            out.push('@');
            push_authority(out, c);
            out.push('?');
            push_query(out, c, vless);
            out.push('#');
            push_encoded(out, &c.name);
        }
        Protocol::Vmess => {
            let (kind, path) = match c.network {
                Network::Grpc => (
                    "gun".to_string(),
                    c.service_name.clone().unwrap_or_default(),
                ),
                Network::Xhttp => (
                    c.mode.clone().unwrap_or_else(|| "auto".into()),
                    c.path.clone().unwrap_or_default(),
                ),
                _ => ("none".to_string(), c.path.clone().unwrap_or_default()),
            };
            let json = VmessJson {
                v: "2".into(),
                ps: c.name.clone(),
                add: c.address.clone(),
                port: c.port.to_string().into(),
                id: c.secret.clone(),
                aid: "0".into(),
                scy: "auto".into(),
                net: network_name(c.network).into(),
                kind,
                host: c.host.clone().unwrap_or_default(),
                path,
                tls: match c.security {
                    Security::None => String::new(),
                    other => security_name(other).into(),
                },
                sni: c.sni.clone().unwrap_or_default(),
                alpn: c.alpn.join(","),
                fp: c.fingerprint.clone().unwrap_or_default(),
                pbk: c.reality_public_key.clone().unwrap_or_default(),
                sid: c.reality_short_id.clone().unwrap_or_default(),
            };
            let text = serde_json::to_vec(&json).unwrap_or_default();
            out.push_str("vmess://");
            STANDARD.encode_string(text, out);
        }
        Protocol::Shadowsocks => {
            let method = c.ss_method.as_deref().unwrap_or_default();
            out.push_str("ss://");
            // SIP022: a 2022 userinfo is percent-encoded, never base64.
            if c.ss_server_key.is_some() {
                push_encoded(out, method);
                out.push(':');
                push_encoded(out, &c.ss_password());
            } else {
                URL_SAFE_NO_PAD.encode_string(format!("{method}:{}", c.secret), out);
            }
            out.push('@');
            push_authority(out, c);
            out.push('#');
            push_encoded(out, &c.name);
        }
    }
}

/// The v2ray subscription body: standard base64 (one line) of the links joined by `\n`.
pub fn v2ray_body(connections: &[Connection]) -> String {
    let mut links = String::with_capacity(connections.len() * 320);
    for (i, c) in connections.iter().enumerate() {
        if i > 0 {
            links.push('\n');
        }
        push_share_link(&mut links, c);
    }
    STANDARD.encode(links)
}

/// What a subscription body holds: the share links read (each as this module writes it), and
/// why the first few lines that are not one were skipped.
#[derive(Debug, Default)]
pub struct Entries {
    pub links: Vec<String>,
    pub skipped: Vec<String>,
}

/// Lines skipped that [`read_body`] says why of.
pub const SKIPPED_SHOWN: usize = 5;

/// Reads another provider's subscription body: base64 of share links one per line (the
/// inverse of [`v2ray_body`]), or the lines as they are, as some providers serve them. At most
/// `max_links` are kept.
pub fn read_body(body: &[u8], max_links: usize) -> Entries {
    let text = String::from_utf8_lossy(body).into_owned();
    let decoded = lenient_base64(&text)
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|t| t.contains("://"));
    let lines = decoded.unwrap_or(text);
    let mut read = Entries::default();
    for line in lines.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match parse(line) {
            Ok(c) if read.links.len() < max_links => read.links.push(share_link(&c)),
            Ok(_) => {}
            Err(e) => {
                if read.skipped.len() < SKIPPED_SHOWN {
                    let shown: String = line.chars().take(60).collect();
                    read.skipped.push(format!("{shown}: {}", e.0));
                }
            }
        }
    }
    read
}

/// What is wrong with a share link.
#[derive(Debug, PartialEq, Eq)]
pub struct LinkError(pub String);

fn bad(message: impl Into<String>) -> LinkError {
    LinkError(message.into())
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Base64 in any of its usual forms (standard or URL-safe, padded or not, wrapped or not).
pub fn lenient_base64(s: &str) -> Option<Vec<u8>> {
    let cleaned: String = s.trim().chars().filter(|c| !c.is_whitespace()).collect();
    let normal = cleaned.replace('-', "+").replace('_', "/");
    let unpadded = normal.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(unpadded)
        .ok()
}

/// Splits `host:port` (IPv6 in brackets).
fn host_port(s: &str) -> Result<(String, u16), LinkError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest
            .split_once("]:")
            .ok_or_else(|| bad("the address must be host:port"))?;
        (host.to_string(), port)
    } else {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| bad("the address must be host:port"))?;
        (host.to_string(), port)
    };
    check_host(&host)?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad(format!("`{port}` is not a port (1 to 65535)")))?;
    Ok((host, port))
}

/// A host is a name or an address: a character that ends a link's parts or has no place in a
/// name would make a link (or the config it is written into) that says something else.
fn check_host(host: &str) -> Result<(), LinkError> {
    if host.is_empty() {
        return Err(bad("the host is empty"));
    }
    let odd = |c: char| c.is_control() || c.is_whitespace() || "[]@/?#".contains(c);
    if host.chars().any(odd) {
        return Err(bad(format!("{host:?} is not a host name or address")));
    }
    Ok(())
}

fn network_of(name: &str) -> Result<Network, LinkError> {
    match name {
        "" | "tcp" | "raw" => Ok(Network::Tcp),
        "ws" => Ok(Network::Ws),
        "grpc" => Ok(Network::Grpc),
        "xhttp" | "splithttp" => Ok(Network::Xhttp),
        "httpupgrade" => Ok(Network::Httpupgrade),
        other => Err(bad(format!(
            "transport `{other}` is not supported (tcp, ws, grpc, xhttp, httpupgrade)"
        ))),
    }
}

fn security_of(name: &str) -> Result<Security, LinkError> {
    match name {
        "" | "none" => Ok(Security::None),
        "tls" => Ok(Security::Tls),
        "reality" => Ok(Security::Reality),
        other => Err(bad(format!(
            "security `{other}` is not none, tls or reality"
        ))),
    }
}

fn empty(
    protocol: Protocol,
    name: String,
    address: String,
    port: u16,
    secret: String,
) -> Connection {
    let mut c = Connection::remark(&name);
    c.protocol = protocol;
    c.address = address;
    c.port = port;
    c.secret = secret;
    c
}

/// Reads a share link back into a connection; the error says what is wrong.
pub fn parse(link: &str) -> Result<Connection, LinkError> {
    let link = link.trim();
    let (scheme, rest) = link
        .split_once("://")
        .ok_or_else(|| bad("a share link starts with vless://, vmess://, trojan:// or ss://"))?;
    match scheme.to_ascii_lowercase().as_str() {
        "vless" => parse_url_style(Protocol::Vless, rest),
        "trojan" => parse_url_style(Protocol::Trojan, rest),
        "vmess" => parse_vmess(rest),
        "ss" => parse_ss(rest),
        other => Err(bad(format!(
            "`{other}://` links are not supported (vless, vmess, trojan, ss)"
        ))),
    }
}

fn split_fragment(rest: &str) -> (&str, String) {
    match rest.split_once('#') {
        Some((body, name)) => (body, decode(name)),
        None => (rest, String::new()),
    }
}

fn parse_url_style(protocol: Protocol, rest: &str) -> Result<Connection, LinkError> {
    let (body, name) = split_fragment(rest);
    let (head, query) = body.split_once('?').unwrap_or((body, ""));
    let (user, address) = head
        .rsplit_once('@')
        .ok_or_else(|| bad("the link has no credential before `@`"))?;
    let secret = decode(user);
    if secret.is_empty() {
        return Err(bad("the credential before `@` is empty"));
    }
    if protocol == Protocol::Vless && uuid_like(&secret).is_none() {
        return Err(bad(format!("`{secret}` is not a UUID")));
    }
    let (host, port) = host_port(address.trim_end_matches('/'))?;
    let mut c = empty(protocol, name, host, port, secret);
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.push((k.to_string(), decode(v)));
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    c.network = network_of(get("type").as_deref().unwrap_or(""))?;
    c.security = security_of(get("security").as_deref().unwrap_or(""))?;
    if protocol == Protocol::Trojan && get("security").is_none() {
        // Trojan means TLS unless the link says otherwise.
        c.security = Security::Tls;
    }
    c.flow = get("flow");
    c.sni = get("sni").or_else(|| get("peer"));
    c.fingerprint = get("fp");
    c.reality_public_key = get("pbk");
    c.reality_short_id = params
        .iter()
        .find(|(k, _)| k == "sid")
        .map(|(_, v)| v.clone());
    c.reality_spider_x = get("spx");
    c.path = get("path");
    c.host = get("host");
    c.service_name = get("serviceName");
    c.mode = get("mode");
    c.alpn = get("alpn")
        .map(|a| a.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    c.allow_insecure = matches!(get("allowInsecure").as_deref(), Some("1" | "true"));
    if c.security == Security::Reality && c.reality_public_key.is_none() {
        return Err(bad("a REALITY link needs its public key (pbk)"));
    }
    if c.network == Network::Grpc && c.service_name.is_none() {
        return Err(bad("a grpc link needs its serviceName"));
    }
    Ok(c)
}

fn uuid_like(s: &str) -> Option<()> {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(())
}

fn parse_vmess(rest: &str) -> Result<Connection, LinkError> {
    let bytes = lenient_base64(rest.split('#').next().unwrap_or(rest))
        .ok_or_else(|| bad("a vmess:// link carries base64 JSON; this is not base64"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| bad(format!("the vmess:// JSON is malformed: {e}")))?;
    let field = |k: &str| -> String {
        match &json[k] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => String::new(),
        }
    };
    let id = field("id");
    if uuid_like(&id).is_none() {
        return Err(bad("the vmess:// JSON has no UUID `id`"));
    }
    let address = field("add");
    if address.is_empty() {
        return Err(bad("the vmess:// JSON has no address `add`"));
    }
    check_host(&address)?;
    let port = field("port")
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| bad("the vmess:// JSON has no valid `port`"))?;
    let mut c = empty(Protocol::Vmess, field("ps"), address, port, id);
    c.network = network_of(&field("net"))?;
    c.security = match field("tls").as_str() {
        "tls" => Security::Tls,
        "reality" => Security::Reality,
        _ => Security::None,
    };
    let path = field("path");
    if c.network == Network::Grpc {
        c.service_name = Some(path).filter(|p| !p.is_empty());
    } else {
        c.path = Some(path).filter(|p| !p.is_empty());
    }
    c.host = Some(field("host")).filter(|h| !h.is_empty());
    c.sni = Some(field("sni")).filter(|h| !h.is_empty());
    c.fingerprint = Some(field("fp")).filter(|h| !h.is_empty());
    c.alpn = field("alpn")
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .collect();
    Ok(c)
}

fn parse_ss(rest: &str) -> Result<Connection, LinkError> {
    let (body, name) = split_fragment(rest);
    let body = body.split('?').next().unwrap_or(body).trim_end_matches('/');
    let (method, password, address) = match body.rsplit_once('@') {
        Some((user, address)) => {
            let plain = decode(user);
            let (method, password) = match plain.split_once(':') {
                Some((m, p)) if crate::SS_METHODS.contains(&m) || m.starts_with("2022-") => {
                    (m.to_string(), p.to_string())
                }
                _ => {
                    let raw = lenient_base64(user).ok_or_else(|| {
                        bad("the ss:// user info is neither method:password nor base64")
                    })?;
                    let text = String::from_utf8(raw)
                        .map_err(|_| bad("the ss:// user info is not UTF-8"))?;
                    let (m, p) = text
                        .split_once(':')
                        .ok_or_else(|| bad("the ss:// user info must be method:password"))?;
                    (m.to_string(), p.to_string())
                }
            };
            (method, password, address.to_string())
        }
        None => {
            // The legacy form: base64 of method:password@host:port.
            let raw = lenient_base64(body).ok_or_else(|| bad("the ss:// link is not readable"))?;
            let text = String::from_utf8(raw).map_err(|_| bad("the ss:// link is not UTF-8"))?;
            let (user, address) = text
                .rsplit_once('@')
                .ok_or_else(|| bad("the ss:// link has no address"))?;
            let (m, p) = user
                .split_once(':')
                .ok_or_else(|| bad("the ss:// user info must be method:password"))?;
            (m.to_string(), p.to_string(), address.to_string())
        }
    };
    if password.is_empty() {
        return Err(bad("the ss:// password is empty"));
    }
    let (host, port) = host_port(&address)?;
    let mut c = empty(Protocol::Shadowsocks, name, host, port, password.clone());
    c.ss_method = Some(method.clone());
    if method.starts_with("2022-") {
        if let Some((server, user)) = password.split_once(':') {
            c.ss_server_key = Some(server.to_string());
            c.secret = user.to_string();
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{spec, PRIVATE, UUID};
    use serde_json::json;

    #[test]
    fn vless_reality_link() {
        let s = spec(json!({
            "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
            "security": "reality",
            "reality": { "dest": "www.example.com:443", "serverNames": ["www.example.com"],
                         "privateKey": PRIVATE, "shortIds": ["0123456789abcdef"], "spiderX": "/" }
        }));
        let c = Connection::new(&s, "203.0.113.7", UUID, "DE Frankfurt").unwrap();
        let public = crate::public_key(PRIVATE).unwrap();
        assert_eq!(
            share_link(&c),
            format!(
                "vless://{UUID}@203.0.113.7:443?type=tcp&encryption=none&security=reality&\
                 flow=xtls-rprx-vision&sni=www.example.com&fp=chrome&pbk={public}&\
                 sid=0123456789abcdef&spx=%2F#DE%20Frankfurt"
            )
        );
        assert_eq!(parse(&share_link(&c)), Ok(c));
    }

    #[test]
    fn vless_ws_tls_and_ipv6() {
        let s = spec(
            json!({ "tag": "w", "protocol": "vless", "port": 8443, "network": "ws",
            "path": "/vl ws", "host": "cdn.example.com", "security": "tls",
            "tls": { "certificateFile": "/c", "keyFile": "/k", "alpn": ["h2", "http/1.1"] } }),
        );
        let c = Connection::new(&s, "2001:db8::1", UUID, "Привет").unwrap();
        let link = share_link(&c);
        assert!(link.starts_with(&format!("vless://{UUID}@[2001:db8::1]:8443?type=ws&encryption=none&security=tls&sni=cdn.example.com&fp=chrome&path=%2Fvl%20ws&host=cdn.example.com&alpn=h2%2Chttp%2F1.1#")), "{link}");
        assert!(
            link.ends_with("#%D0%9F%D1%80%D0%B8%D0%B2%D0%B5%D1%82"),
            "{link}"
        );
        let back = parse(&link).unwrap();
        assert_eq!(
            (
                back.address.as_str(),
                back.path.as_deref(),
                back.name.as_str()
            ),
            ("2001:db8::1", Some("/vl ws"), "Привет")
        );
    }

    #[test]
    fn flow_only_where_it_applies() {
        let mut c = Connection::remark("x");
        c.flow = Some("xtls-rprx-vision".into());
        assert!(!share_link(&c).contains("flow="), "no flow without tls");
    }

    #[test]
    fn vmess_link_is_base64_json() {
        let s = spec(
            json!({ "tag": "m", "protocol": "vmess", "port": 2053, "network": "grpc",
                             "serviceName": "svc" }),
        );
        let c = Connection::new(&s, "node.example.com", UUID, "VM").unwrap();
        let link = share_link(&c);
        let json: serde_json::Value = serde_json::from_slice(
            &STANDARD
                .decode(link.strip_prefix("vmess://").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(json["v"], "2");
        assert_eq!(json["aid"], "0");
        assert_eq!(json["net"], "grpc");
        assert_eq!(json["type"], "gun");
        assert_eq!(json["path"], "svc");
        assert_eq!(json["port"], "2053");
        assert_eq!(json["tls"], "");
        assert_eq!(parse(&link), Ok(c));
    }

    #[test]
    fn trojan_and_shadowsocks() {
        let s = spec(
            json!({ "tag": "t", "protocol": "trojan", "port": 8444, "security": "tls",
                             "tls": { "certificateFile": "/c", "keyFile": "/k", "serverName": "t.example.com" } }),
        );
        let c = Connection::new(&s, "t.example.com", "pa ss:word", "T").unwrap();
        let link = share_link(&c);
        assert!(link.starts_with("trojan://pa%20ss%3Aword@t.example.com:8444?type=tcp&security=tls&sni=t.example.com&fp=chrome#T"), "{link}");
        assert_eq!(parse(&link).unwrap().secret, "pa ss:word");

        let classic = spec(
            json!({ "tag": "s", "protocol": "shadowsocks", "port": 8389, "method": "chacha20-ietf-poly1305" }),
        );
        let c = Connection::new(&classic, "198.51.100.4", "pass", "SS").unwrap();
        assert_eq!(
            share_link(&c),
            "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpwYXNz@198.51.100.4:8389#SS"
        );
        assert_eq!(parse(&share_link(&c)), Ok(c));

        let ss2022 = spec(
            json!({ "tag": "s2", "protocol": "shadowsocks", "port": 8388,
            "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }),
        );
        let c = Connection::new(&ss2022, "198.51.100.4", UUID, "SS2022").unwrap();
        let user = crate::ss2022_user_key(UUID, 16);
        assert_eq!(
            share_link(&c),
            format!("ss://2022-blake3-aes-128-gcm:c2VydmVyUFNLMTZieXRlcw%3D%3D%3A{}@198.51.100.4:8388#SS2022", encode(&user))
        );
        let back = parse(&share_link(&c)).unwrap();
        assert_eq!(
            back.ss_password(),
            format!("c2VydmVyUFNLMTZieXRlcw==:{user}")
        );
    }

    #[test]
    fn body_is_one_line_of_standard_base64() {
        let a = Connection::remark("a");
        let b = Connection::remark("b");
        let body = v2ray_body(&[a.clone(), b.clone()]);
        assert!(!body.contains('\n'));
        let text = String::from_utf8(STANDARD.decode(&body).unwrap()).unwrap();
        assert_eq!(text, format!("{}\n{}", share_link(&a), share_link(&b)));
    }

    #[test]
    fn bodies_are_read_back_plain_or_in_base64() {
        let a = Connection::remark("a");
        let b = Connection::remark("b");
        let read = read_body(v2ray_body(&[a.clone(), b.clone()]).as_bytes(), 10);
        assert_eq!(read.links, vec![share_link(&a), share_link(&b)]);
        let plain = format!(
            "{}\r\n\nnot a link\n  {}  \n",
            share_link(&a),
            share_link(&b)
        );
        let read = read_body(plain.as_bytes(), 1);
        assert_eq!(read.links, vec![share_link(&a)], "at most max_links");
        assert_eq!(read.skipped.len(), 1);
        assert!(
            read.skipped[0].starts_with("not a link: "),
            "{:?}",
            read.skipped
        );
    }

    #[test]
    fn bad_links_say_what_is_wrong() {
        let err = |s: &str| parse(s).unwrap_err().0;
        assert!(err("http://x").contains("not supported"));
        assert!(err("nonsense").contains("starts with"));
        assert!(err("vless://not-a-uuid@h:1").contains("not a UUID"));
        assert!(err(&format!("vless://{UUID}@h:99999")).contains("not a port"));
        assert!(err(&format!("vless://{UUID}@h")).contains("host:port"));
        assert!(err(&format!("vless://{UUID}@h:1?type=kcp")).contains("kcp"));
        assert!(err(&format!("vless://{UUID}@h:1?security=reality")).contains("pbk"));
        assert!(err("vmess://%%%").contains("base64"));
        assert!(err("vmess://e30=").contains("UUID"));
        assert!(err("ss://@h:1").contains("ss://"));
        assert!(err("trojan://@h:1").contains("empty"));
        // Found by fuzzing: these read as hosts, then rendered as links (or Clash YAML) that
        // said something else or nothing.
        assert!(err("ss://YWVzLTEyOC1nY206cHc@\u{7f}h:1").contains("not a host"));
        assert!(err(&format!("vless://{UUID}@x]:y:1")).contains("not a host"));
        let legacy = format!("ss://{}", STANDARD.encode("aes-128-gcm:pw@h#x:1"));
        assert!(err(&legacy).contains("not a host"));
        let vmess = json!({ "id": UUID, "add": "a b", "port": 1 }).to_string();
        assert!(err(&format!("vmess://{}", STANDARD.encode(vmess))).contains("not a host"));
    }
}
