//! Checks of one `/sub/:uuid` answer per format, before it is load-tested: a load run only
//! counts statuses, so this is where the bench makes sure it measures real subscriptions.

use anyhow::{bail, ensure, Context};
use serde_json::Value;

use super::Format;

/// The protocols of every node's inbounds, as share-link schemes, sing-box and Clash types.
pub const PROTOCOLS: [&str; 3] = ["vless", "vmess", "trojan"];

/// `body` (with its `content-type`) is `format`'s answer for the link `uuid`: one entry per
/// inbound of every node, `per_protocol` of each protocol, each carrying the link's UUID.
pub fn check(
    format: Format,
    content_type: Option<&str>,
    body: &[u8],
    uuid: &str,
    per_protocol: usize,
) -> anyhow::Result<()> {
    let content_type = content_type.unwrap_or("");
    ensure!(
        content_type.starts_with(format.content_type()),
        "content-type {content_type:?}, {:?} expected",
        format.content_type()
    );
    let text = std::str::from_utf8(body).context("the body is not UTF-8")?;
    let credentials = match format {
        Format::V2ray => v2ray(text, per_protocol)?,
        Format::Clash => clash(text, per_protocol)?,
        Format::Singbox => singbox(text, per_protocol)?,
    };
    let foreign: Vec<&String> = credentials.iter().filter(|c| c.as_str() != uuid).collect();
    ensure!(
        foreign.is_empty(),
        "entries carry another credential than the link's UUID {uuid}: {foreign:?}"
    );
    Ok(())
}

/// Standard base64 of the share links, one per line; their credentials.
fn v2ray(text: &str, per_protocol: usize) -> anyhow::Result<Vec<String>> {
    let decoded = decode_base64(text.trim_end_matches(['\r', '\n']))
        .context("the body is not standard base64")?;
    let lines = String::from_utf8(decoded).context("the decoded body is not UTF-8")?;
    let links: Vec<&str> = lines.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut credentials = Vec::with_capacity(links.len());
    for scheme in PROTOCOLS {
        let prefix = format!("{scheme}://");
        let of_scheme: Vec<&str> = links
            .iter()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect();
        ensure!(
            of_scheme.len() == per_protocol,
            "{} {scheme}:// links, {per_protocol} expected",
            of_scheme.len()
        );
        for rest in of_scheme {
            credentials.push(link_credential(scheme, rest)?);
        }
    }
    ensure!(
        links.len() == per_protocol * PROTOCOLS.len(),
        "{} share links, {} expected",
        links.len(),
        per_protocol * PROTOCOLS.len()
    );
    Ok(credentials)
}

/// The UUID or password of a share link (`rest` follows `scheme://`).
fn link_credential(scheme: &str, rest: &str) -> anyhow::Result<String> {
    if scheme == "vmess" {
        // Base64 of a JSON object whose `id` is the UUID.
        let json = decode_base64(rest).context("a vmess:// link is not standard base64")?;
        let json: Value = serde_json::from_slice(&json).context("a vmess:// link is not JSON")?;
        return json["id"]
            .as_str()
            .map(str::to_string)
            .context("a vmess:// link has no id");
    }
    rest.split_once('@')
        .map(|(credential, _)| credential.to_string())
        .with_context(|| format!("a {scheme}:// link has no credential"))
}

/// A Clash/mihomo YAML config; the credentials of its `proxies`, a list of mappings (each
/// written as a one-line flow mapping, which any YAML reader takes as the block form).
fn clash(text: &str, per_protocol: usize) -> anyhow::Result<Vec<String>> {
    let doc: yaml_serde::Value = yaml_serde::from_str(text).context("the body is not YAML")?;
    let Some(proxies) = doc.get("proxies") else {
        bail!("no top-level `proxies` key");
    };
    let Some(proxies) = proxies.as_sequence() else {
        bail!("`proxies` is not a list");
    };
    let field = |proxy: &yaml_serde::Value, name: &str| {
        proxy
            .get(name)
            .and_then(yaml_serde::Value::as_str)
            .map(str::to_string)
    };
    ensure!(
        proxies.iter().all(yaml_serde::Value::is_mapping),
        "an entry of `proxies` is not a mapping"
    );
    for protocol in PROTOCOLS {
        let n = proxies
            .iter()
            .filter(|p| field(p, "type").as_deref() == Some(protocol))
            .count();
        ensure!(
            n == per_protocol,
            "{n} {protocol} proxies, {per_protocol} expected"
        );
    }
    let entries = proxies.len();
    ensure!(
        entries == per_protocol * PROTOCOLS.len(),
        "{entries} proxies, {} expected",
        per_protocol * PROTOCOLS.len()
    );
    let credentials: Vec<String> = proxies
        .iter()
        .filter_map(|p| field(p, "uuid").or_else(|| field(p, "password")))
        .collect();
    ensure!(
        credentials.len() == entries,
        "{} of {entries} proxies carry a uuid or password",
        credentials.len()
    );
    Ok(credentials)
}

/// A sing-box JSON config; the credentials of its proxy outbounds.
fn singbox(text: &str, per_protocol: usize) -> anyhow::Result<Vec<String>> {
    let doc: Value = serde_json::from_str(text).context("the body is not JSON")?;
    let Some(outbounds) = doc["outbounds"].as_array() else {
        bail!("no `outbounds` list");
    };
    let proxies: Vec<&Value> = outbounds
        .iter()
        .filter(|o| PROTOCOLS.iter().any(|p| o["type"] == *p))
        .collect();
    for protocol in PROTOCOLS {
        let n = proxies.iter().filter(|o| o["type"] == protocol).count();
        ensure!(
            n == per_protocol,
            "{n} {protocol} outbounds, {per_protocol} expected"
        );
    }
    proxies
        .iter()
        .map(|o| {
            o["uuid"]
                .as_str()
                .or_else(|| o["password"].as_str())
                .map(str::to_string)
                .with_context(|| format!("outbound {} has no uuid or password", o["tag"]))
        })
        .collect()
}

/// Strict standard base64 (RFC 4648 §4, padded): `None` for anything else, URL-safe or
/// unpadded text included, so a client that only reads the standard alphabet can read it.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard_and_strict() {
        assert_eq!(decode_base64("").unwrap(), b"");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
        assert_eq!(decode_base64("Zm9v").unwrap(), b"foo");
        assert_eq!(decode_base64("Pz8/Pj4+").unwrap(), b"???>>>");
        assert!(decode_base64("Zm9").is_none(), "unpadded");
        assert!(decode_base64("Pz8_Pj4-").is_none(), "URL-safe alphabet");
        assert!(decode_base64("Zg==Zm9v").is_none(), "padding inside");
        assert!(decode_base64("Z===").is_none());
        assert!(decode_base64("Zm9v\n").is_none());
    }

    const UUID: &str = "0b1f6c6e-3d43-4c36-9b7e-6b0b2c3f1a10";

    fn vmess(id: &str) -> String {
        // {"id":"<id>"} in standard base64, built with the decoder's inverse by hand.
        let json = format!("{{\"id\":\"{id}\"}}");
        format!("vmess://{}", encode_base64(json.as_bytes()))
    }

    fn encode_base64(bytes: &[u8]) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn v2ray_counts_links_and_reads_credentials() {
        let lines = [
            format!("vless://{UUID}@a:443?security=reality#n1"),
            vmess(UUID),
            format!("trojan://{UUID}@b:8443?type=grpc#n1"),
        ]
        .join("\n");
        let body = encode_base64(lines.as_bytes());
        check(
            Format::V2ray,
            Some("text/plain; charset=utf-8"),
            body.as_bytes(),
            UUID,
            1,
        )
        .unwrap();
        assert!(check(Format::V2ray, Some("text/plain"), body.as_bytes(), UUID, 2).is_err());
        assert!(check(Format::V2ray, Some("text/plain"), lines.as_bytes(), UUID, 1).is_err());
        let other = encode_base64(lines.replace(UUID, "x").as_bytes());
        assert!(check(Format::V2ray, Some("text/plain"), other.as_bytes(), UUID, 1).is_err());
    }

    #[test]
    fn clash_reads_the_proxies_list() {
        // As the component writes it: block style at the top, each entry one flow line.
        let yaml = r#"mixed-port: 7890
mode: rule
proxies:
  - {"name": "n1 VLESS REALITY", "type": "vless", "server": "1.2.3.4", "port": 443, "uuid": "UUID", "reality-opts": {"public-key": "k", "short-id": "abcd"}}
  - {"name": "n1 VMess ws", "type": "vmess", "uuid": "UUID", "ws-opts": {"path": "/vm", "headers": {"Host": "cdn.example.com"}}}
  - {"name": "n1 Trojan gRPC", "type": "trojan", "password": "UUID"}
proxy-groups:
  - {"name": "PROXY", "type": "select", "proxies": ["AUTO", "n1 VLESS REALITY"]}
rules:
  - "IP-CIDR,127.0.0.0/8,DIRECT,no-resolve"
  - "MATCH,PROXY"
"#
        .replace("UUID", UUID);
        check(
            Format::Clash,
            Some("text/yaml; charset=utf-8"),
            yaml.as_bytes(),
            UUID,
            1,
        )
        .unwrap();
        assert!(check(Format::Clash, Some("text/yaml"), yaml.as_bytes(), UUID, 2).is_err());
        assert!(check(Format::Clash, Some("text/plain"), yaml.as_bytes(), UUID, 1).is_err());
        let other = yaml.replace(UUID, "x");
        assert!(check(Format::Clash, Some("text/yaml"), other.as_bytes(), UUID, 1).is_err());
        let no_password = yaml.replace("\"password\"", "\"secret\"");
        assert!(check(
            Format::Clash,
            Some("text/yaml"),
            no_password.as_bytes(),
            UUID,
            1
        )
        .is_err());
        let broken = yaml.replace("proxies:\n", "proxies: [\n");
        assert!(check(Format::Clash, Some("text/yaml"), broken.as_bytes(), UUID, 1).is_err());
        assert!(check(
            Format::Clash,
            Some("text/yaml"),
            b"mixed-port: 7890\n",
            UUID,
            1
        )
        .is_err());
    }

    #[test]
    fn singbox_counts_proxy_outbounds() {
        let doc = serde_json::json!({ "outbounds": [
            { "type": "selector", "tag": "proxy" },
            { "type": "vless", "tag": "a", "uuid": UUID },
            { "type": "vmess", "tag": "b", "uuid": UUID },
            { "type": "trojan", "tag": "c", "password": UUID },
            { "type": "direct", "tag": "direct" }
        ]})
        .to_string();
        check(
            Format::Singbox,
            Some("application/json"),
            doc.as_bytes(),
            UUID,
            1,
        )
        .unwrap();
        assert!(check(Format::Singbox, Some("application/json"), b"{}", UUID, 1).is_err());
    }
}
