//! `POST /admin/xray/parse-link`: a share link → the core's outbound JSON.

use nexuma_sdk::{response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use xray::Connection;

/// Every protocol's name as a connection shows it (`xray::Protocol::name`).
pub const PROTOCOLS: [&str; 4] = ["vless", "vmess", "trojan", "shadowsocks"];

/// The schemes `xray::link::parse` reads, in any case.
const SCHEMES: &str =
    "^([Vv][Ll][Ee][Ss][Ss]|[Vv][Mm][Ee][Ss][Ss]|[Tt][Rr][Oo][Jj][Aa][Nn]|[Ss][Ss])://";

/// `POST /admin/xray/parse-link` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// A vless://, vmess://, trojan:// or ss:// link (the scheme in any case).
    #[schemars(regex(pattern = SCHEMES))]
    link: String,
}

/// A connection as the API shows it: the parse-link answer, and with its share link, one
/// connection of `/me/configs`.
#[derive(Serialize, JsonSchema)]
pub struct Shown {
    pub name: String,
    #[schemars(extend("enum" = PROTOCOLS))]
    pub protocol: &'static str,
    /// What the client dials.
    pub address: String,
    pub port: u16,
    /// The core's outbound object.
    #[schemars(extend("type" = "object"))]
    pub outbound: serde_json::Value,
}

impl Shown {
    pub fn of(c: &Connection) -> Shown {
        Shown {
            name: c.name.clone(),
            protocol: c.protocol.name(),
            address: c.address.clone(),
            port: c.port,
            outbound: xray::outbound::outbound(c),
        }
    }
}

pub fn parse_link(req: &Request) -> Result<Response, ApiError> {
    let body: Body = req.json()?;
    let c =
        xray::link::parse(&body.link).map_err(|e| ApiError::bad_request("invalid_link", e.0))?;
    response::json(200, &Shown::of(&c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use xray::Protocol;

    /// The schema's protocol list is every protocol's name (the match fails to compile when a
    /// protocol is added).
    #[test]
    fn the_schemas_list_every_protocol() {
        let listed = |p: Protocol| match p {
            Protocol::Vless | Protocol::Vmess | Protocol::Trojan | Protocol::Shadowsocks => {
                PROTOCOLS.contains(&p.name())
            }
        };
        for p in [
            Protocol::Vless,
            Protocol::Vmess,
            Protocol::Trojan,
            Protocol::Shadowsocks,
        ] {
            assert!(listed(p), "{}", p.name());
        }
        let shown = nexuma_sdk::answer_schema_of::<Shown>();
        assert_eq!(shown["properties"]["protocol"]["enum"], json!(PROTOCOLS));
        assert_eq!(shown["properties"]["outbound"]["type"], "object");
        let body = nexuma_sdk::schema_of::<Body>();
        assert_eq!(body["required"], json!(["link"]));
        assert_eq!(body["additionalProperties"], false);
        let schemes = regex_lite::Regex::new(SCHEMES).expect("regex");
        for link in [
            "VLESS://a",
            "vmess://a",
            "Trojan://a",
            "ss://a",
            "socks://a",
            " ",
        ] {
            // Refused for its scheme: no scheme, or one not read.
            let scheme = |e: &xray::link::LinkError| {
                e.0.starts_with("a share link starts with") || e.0.contains("are not supported")
            };
            let known = !matches!(xray::link::parse(link), Err(e) if scheme(&e));
            assert_eq!(schemes.is_match(link), known, "{link:?}");
        }
    }
}
