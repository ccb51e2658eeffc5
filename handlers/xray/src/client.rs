//! The client side of an inbound: one connection record per (node × inbound × link), from which
//! every subscription format is rendered, so all formats agree.

use crate::inbound::{InboundSpec, Network, Protocol, Security};

/// What a client needs to reach one inbound of one node with one credential.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// Display name (made unique across a subscription by [`unique_names`]).
    pub name: String,
    pub protocol: Protocol,
    /// What the client dials (the node's address).
    pub address: String,
    pub port: u16,
    /// VLESS/VMess: the UUID; Trojan: the password; Shadowsocks: the password (2022: the user
    /// PSK, without the server PSK).
    pub secret: String,
    pub ss_method: Option<String>,
    /// Shadowsocks 2022: the server PSK clients send before their own.
    pub ss_server_key: Option<String>,
    pub flow: Option<String>,
    pub network: Network,
    pub path: Option<String>,
    pub host: Option<String>,
    pub service_name: Option<String>,
    pub mode: Option<String>,
    pub security: Security,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub fingerprint: Option<String>,
    pub allow_insecure: bool,
    pub reality_public_key: Option<String>,
    pub reality_short_id: Option<String>,
    pub reality_spider_x: Option<String>,
}

/// uTLS fingerprint when the operator named none; REALITY cannot do without one.
const DEFAULT_FINGERPRINT: &str = "chrome";

impl Connection {
    /// The connection a client with `key` (a link UUID) makes to `spec` on a node at
    /// `address`. `None` when the spec cannot be served (a REALITY private key that is not one).
    pub fn new(spec: &InboundSpec, address: &str, key: &str, name: &str) -> Option<Connection> {
        let mut c = Connection {
            name: name.to_string(),
            protocol: spec.protocol,
            address: address.to_string(),
            port: spec.port,
            secret: crate::client_secret(spec, key),
            ss_method: spec.method.clone(),
            ss_server_key: spec.ss2022_key_len().and(spec.server_key.clone()),
            flow: spec.flow.clone(),
            network: spec.network,
            path: spec.path.clone(),
            host: spec.host.clone(),
            service_name: spec.service_name.clone(),
            mode: spec.mode.clone(),
            security: spec.security,
            sni: None,
            alpn: Vec::new(),
            fingerprint: None,
            allow_insecure: false,
            reality_public_key: None,
            reality_short_id: None,
            reality_spider_x: None,
        };
        if matches!(
            c.network,
            Network::Ws | Network::Xhttp | Network::Httpupgrade
        ) && c.path.is_none()
        {
            c.path = Some("/".into());
        }
        match spec.security {
            Security::None => {}
            Security::Tls => {
                let tls = spec.tls.clone().unwrap_or_default();
                c.sni = tls.server_name.or_else(|| spec.host.clone());
                c.alpn = tls.alpn;
                c.fingerprint = Some(
                    tls.fingerprint
                        .unwrap_or_else(|| DEFAULT_FINGERPRINT.into()),
                );
                c.allow_insecure = tls.allow_insecure;
            }
            Security::Reality => {
                let reality = spec.reality.as_ref()?;
                c.reality_public_key = match &reality.public_key {
                    Some(key) => Some(key.clone()),
                    None => Some(crate::public_key(&reality.private_key).ok()?),
                };
                c.sni = reality.server_names.first().cloned();
                c.reality_short_id = reality.short_ids.first().cloned();
                c.reality_spider_x = reality.spider_x.clone();
                c.fingerprint = Some(
                    reality
                        .fingerprint
                        .clone()
                        .unwrap_or_else(|| DEFAULT_FINGERPRINT.into()),
                );
            }
        }
        Some(c)
    }

    /// A stand-in that only carries a message in its name (an expired or disabled
    /// subscription): clients show the name, and connecting goes nowhere.
    pub fn remark(name: &str) -> Connection {
        Connection {
            name: name.to_string(),
            protocol: Protocol::Vless,
            address: "0.0.0.0".into(),
            port: 1,
            secret: "00000000-0000-0000-0000-000000000000".into(),
            ss_method: None,
            ss_server_key: None,
            flow: None,
            network: Network::Tcp,
            path: None,
            host: None,
            service_name: None,
            mode: None,
            security: Security::None,
            sni: None,
            alpn: Vec::new(),
            fingerprint: None,
            allow_insecure: false,
            reality_public_key: None,
            reality_short_id: None,
            reality_spider_x: None,
        }
    }

    /// The Shadowsocks password as clients write it: `serverPSK:userPSK` for 2022.
    pub fn ss_password(&self) -> String {
        match &self.ss_server_key {
            Some(server) => format!("{server}:{}", self.secret),
            None => self.secret.clone(),
        }
    }

    /// The flow, only where it applies (tcp with TLS or REALITY).
    pub fn effective_flow(&self) -> Option<&str> {
        self.flow
            .as_deref()
            .filter(|_| self.network == Network::Tcp && self.security != Security::None)
    }
}

/// Names that clash with a built-in of some client.
const RESERVED: [&str; 11] = [
    "DIRECT",
    "REJECT",
    "REJECT-DROP",
    "PASS",
    "COMPATIBLE",
    "PROXY",
    "AUTO",
    "direct",
    "proxy",
    "auto",
    // sing-box before 1.11 (`singbox::Class::V1_10`).
    "dns-out",
];

/// Makes names unique (and never a client's built-in): a repeat gets ` (2)`, ` (3)`, …; an empty
/// name becomes `server:port`.
pub fn unique_names(connections: &mut [Connection]) {
    let mut seen: Vec<String> = Vec::with_capacity(connections.len());
    for c in connections.iter_mut() {
        let base = if c.name.trim().is_empty() {
            format!("{}:{}", c.address, c.port)
        } else {
            c.name.trim().to_string()
        };
        let mut name = base.clone();
        let mut n = 1;
        while seen.contains(&name) || RESERVED.contains(&name.as_str()) {
            n += 1;
            name = format!("{base} ({n})");
        }
        seen.push(name.clone());
        c.name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(name: &str) -> Connection {
        Connection::remark(name)
    }

    #[test]
    fn names_become_unique() {
        let mut all = vec![
            conn("DE"),
            conn("DE"),
            conn("DIRECT"),
            conn(" "),
            conn("DE (2)"),
        ];
        unique_names(&mut all);
        let names: Vec<&str> = all.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["DE", "DE (2)", "DIRECT (2)", "0.0.0.0:1", "DE (2) (2)"]
        );
    }
}
