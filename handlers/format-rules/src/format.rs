//! The export formats and their names (Marzban's and Remnawave's names are accepted too).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every format, as rules name them (its JSON Schema lists them all: derived from this type).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Standard base64 of the share links, one per line.
    V2ray,
    /// A complete Clash.Meta (mihomo) config, YAML.
    Clash,
    /// A complete sing-box config, JSON, in the form the client's version loads.
    Singbox,
    /// A page for a person who opened the address in a browser (`page.rs`).
    Browser,
}

pub const NAMES: &str = "v2ray, clash, singbox, browser";

impl Format {
    /// Every format, in `NAMES` order.
    pub const ALL: [Format; 4] = [
        Format::V2ray,
        Format::Clash,
        Format::Singbox,
        Format::Browser,
    ];

    /// A format by any of its names; `None` for anything else.
    pub fn parse(name: &str) -> Option<Format> {
        match name.trim().to_ascii_lowercase().as_str() {
            "v2ray" | "base64" | "links" | "xray" => Some(Format::V2ray),
            "clash" | "clash-meta" | "clashmeta" | "meta" | "mihomo" | "stash" => {
                Some(Format::Clash)
            }
            "singbox" | "sing-box" | "sfa" | "sfi" => Some(Format::Singbox),
            "browser" | "html" => Some(Format::Browser),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::V2ray => "text/plain; charset=utf-8",
            Format::Clash => "text/yaml; charset=utf-8",
            Format::Singbox => "application/json; charset=utf-8",
            // The SDK's `html::CONTENT_TYPE`; the subscriptions component's tests hold them equal.
            Format::Browser => "text/html; charset=utf-8",
        }
    }

    /// The file name extension clients may show.
    pub fn extension(self) -> &'static str {
        match self {
            Format::V2ray => "txt",
            Format::Clash => "yaml",
            Format::Singbox => "json",
            Format::Browser => "html",
        }
    }

    /// The body of a client format (sing-box in the form of `singbox`); `None` for the browser
    /// page, which shows more than the connections (`page::render`).
    pub fn render(
        self,
        connections: &[xray::Connection],
        singbox: xray::singbox::Class,
    ) -> Option<String> {
        match self {
            Format::V2ray => Some(xray::link::v2ray_body(connections)),
            Format::Clash => Some(xray::clash::config(connections)),
            Format::Singbox => Some(xray::singbox::config(connections, singbox)),
            Format::Browser => None,
        }
    }
}
