//! What a node's proxy core can run, as its agent reports it (docs/node-protocol.md,
//! `capabilities`), and which feature of an inbound a core lacks. A core silently ignores some
//! of what it does not know (v2ray 4 serves `security: reality` as plain VLESS), so the Core
//! checks every inbound against the node's report before it is sent or exported.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{InboundSpec, Network, Protocol, Security};

/// The features a core reports, each named as the inbound model names it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    /// Protocols the agent can put clients into on this core.
    pub protocols: Vec<String>,
    /// Transports, as clients name them (`tcp` is Xray's `raw`).
    pub transports: Vec<String>,
    /// Security layers: `none`, `tls`, `reality`.
    pub security: Vec<String>,
    /// VLESS flows.
    pub flows: Vec<String>,
    /// Shadowsocks ciphers, 2022 methods included.
    pub shadowsocks_methods: Vec<String>,
}

/// A feature an inbound uses that a core lacks: the inbound field and the feature's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Missing {
    pub field: &'static str,
    pub feature: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.field, self.feature)
    }
}

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

impl Capabilities {
    /// What both cores agents run (Debian's v2ray 4.34 and Xray) have in common: all a node
    /// whose core has not reported is trusted with. From ../shared/reference/v2ray-test-core.md
    /// (4.34 rejects grpc, httpupgrade and the 2022 methods, ignores reality and the vision
    /// flow, takes no Shadowsocks users over its API) and formats.md §1.6.
    pub fn common() -> Capabilities {
        Capabilities {
            protocols: owned(&["vless", "vmess", "trojan"]),
            transports: owned(&["tcp", "ws"]),
            security: owned(&["none", "tls"]),
            flows: Vec::new(),
            shadowsocks_methods: owned(&["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]),
        }
    }

    /// The first feature of `spec` this core lacks, if any.
    pub fn missing(&self, spec: &InboundSpec) -> Option<Missing> {
        let lacks = |list: &[String], name: &str| !list.iter().any(|n| n == name);
        let network = network_name(spec.network);
        if lacks(&self.transports, network) {
            return Some(missing("network", network));
        }
        let security = security_name(spec.security);
        if lacks(&self.security, security) {
            return Some(missing("security", security));
        }
        if let Some(flow) = spec.flow.as_deref() {
            if lacks(&self.flows, flow) {
                return Some(missing("flow", flow));
            }
        }
        if let (Protocol::Shadowsocks, Some(method)) = (spec.protocol, spec.method.as_deref()) {
            if lacks(&self.shadowsocks_methods, method) {
                return Some(missing("method", method));
            }
        }
        // Last: the specific feature (a 2022 cipher) says more than the protocol.
        let protocol = spec.protocol.name();
        lacks(&self.protocols, protocol).then(|| missing("protocol", protocol))
    }
}

fn missing(field: &'static str, feature: &str) -> Missing {
    Missing {
        field,
        feature: feature.to_string(),
    }
}

/// A transport's name in inbound specs and capability reports.
pub fn network_name(network: Network) -> &'static str {
    match network {
        Network::Tcp => "tcp",
        Network::Ws => "ws",
        Network::Grpc => "grpc",
        Network::Xhttp => "xhttp",
        Network::Httpupgrade => "httpupgrade",
    }
}

/// A security layer's name in inbound specs and capability reports.
pub fn security_name(security: Security) -> &'static str {
    match security {
        Security::None => "none",
        Security::Tls => "tls",
        Security::Reality => "reality",
    }
}

/// Why `spec` cannot go to a node whose core reported `reported` (`None`: nothing yet), as a
/// sentence for administrators; `None` when the core runs it.
pub fn hold_back_reason(
    spec: &InboundSpec,
    reported: Option<&Capabilities>,
    core: Option<&str>,
) -> Option<String> {
    match reported {
        Some(caps) => caps.missing(spec).map(|m| {
            format!(
                "the node's core ({}) cannot run {m}",
                core.filter(|c| !c.is_empty()).unwrap_or("unnamed")
            )
        }),
        None => Capabilities::common().missing(spec).map(|m| {
            format!(
                "{m} is not run by every core, and the node's agent has not reported what its \
                 core supports yet; held back until it does"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{spec, PRIVATE};
    use serde_json::json;

    fn xray_like() -> Capabilities {
        Capabilities {
            protocols: owned(&["vless", "vmess", "trojan", "shadowsocks"]),
            transports: owned(&["tcp", "ws", "grpc", "httpupgrade", "xhttp"]),
            security: owned(&["none", "tls", "reality"]),
            flows: owned(&["xtls-rprx-vision"]),
            shadowsocks_methods: owned(&["aes-128-gcm", "2022-blake3-aes-128-gcm"]),
        }
    }

    fn reality() -> InboundSpec {
        spec(
            json!({ "tag": "r", "protocol": "vless", "port": 443, "flow": "xtls-rprx-vision",
            "security": "reality", "reality": { "dest": "a.example:443",
            "serverNames": ["a.example"], "privateKey": PRIVATE, "shortIds": [""] } }),
        )
    }

    #[test]
    fn the_common_set_holds_what_v2ray_4_lacks() {
        let common = Capabilities::common();
        let cases = [
            (reality(), "security", "reality"),
            (
                spec(
                    json!({ "tag": "g", "protocol": "trojan", "port": 1, "network": "grpc",
                             "serviceName": "s" }),
                ),
                "network",
                "grpc",
            ),
            (
                spec(json!({ "tag": "s", "protocol": "shadowsocks", "port": 1,
                             "method": "aes-128-gcm" })),
                "protocol",
                "shadowsocks",
            ),
        ];
        for (inbound, field, feature) in cases {
            assert_eq!(
                common.missing(&inbound),
                Some(missing(field, feature)),
                "{}",
                inbound.tag
            );
        }
        let plain = spec(json!({ "tag": "v", "protocol": "vmess", "port": 1, "network": "ws" }));
        assert_eq!(common.missing(&plain), None);
    }

    #[test]
    fn the_vision_flow_counts_on_its_own() {
        let vision_tls = spec(json!({ "tag": "t", "protocol": "vless", "port": 1,
            "flow": "xtls-rprx-vision", "security": "tls",
            "tls": { "certificateFile": "/c.pem", "keyFile": "/k.pem" } }));
        assert_eq!(
            Capabilities::common().missing(&vision_tls),
            Some(missing("flow", "xtls-rprx-vision"))
        );
        assert_eq!(xray_like().missing(&vision_tls), None);
        assert_eq!(xray_like().missing(&reality()), None);
    }

    #[test]
    fn a_2022_cipher_is_named_before_the_protocol() {
        let ss2022 = spec(json!({ "tag": "s", "protocol": "shadowsocks", "port": 1,
            "method": "2022-blake3-aes-128-gcm", "serverKey": "c2VydmVyUFNLMTZieXRlcw==" }));
        assert_eq!(
            Capabilities::common().missing(&ss2022),
            Some(missing("method", "2022-blake3-aes-128-gcm"))
        );
    }

    #[test]
    fn shadowsocks_methods_are_matched_by_name() {
        let ss = |method: &str| {
            let mut s = spec(json!({ "tag": "s", "protocol": "shadowsocks", "port": 1,
                                     "method": "aes-128-gcm" }));
            s.method = Some(method.into());
            s
        };
        let caps = xray_like();
        assert_eq!(caps.missing(&ss("2022-blake3-aes-128-gcm")), None);
        assert_eq!(
            caps.missing(&ss("2022-blake3-aes-256-gcm")),
            Some(missing("method", "2022-blake3-aes-256-gcm"))
        );
    }

    #[test]
    fn reasons_name_the_core_and_the_feature() {
        let v2ray = Capabilities::common();
        let reason = hold_back_reason(&reality(), Some(&v2ray), Some("V2Ray 4.34.0")).unwrap();
        assert!(
            reason.contains("V2Ray 4.34.0") && reason.contains("security `reality`"),
            "{reason}"
        );
        let unknown = hold_back_reason(&reality(), None, None).unwrap();
        assert!(unknown.contains("not reported"), "{unknown}");
        assert_eq!(
            hold_back_reason(&reality(), Some(&xray_like()), Some("Xray 25.9.11")),
            None
        );
    }

    #[test]
    fn reports_read_from_the_protocol_shape() {
        let caps: Capabilities = serde_json::from_value(json!({
            "protocols": ["vless"], "transports": ["tcp"], "security": ["none"],
            "flows": [], "shadowsocksMethods": [], "somethingNewer": true
        }))
        .unwrap();
        assert_eq!(caps.protocols, ["vless"]);
        assert!(serde_json::from_value::<Capabilities>(json!({ "protocols": [] })).is_err());
    }
}
