//! A link as subscriptions see it: the link, its subscription, tariff and user; whether it
//! grants access now and, if not, why; and the connections it offers.

use nexuma_sdk::db::{Executor, Row};
use nexuma_sdk::ApiError;
use schemars::JsonSchema;
use serde::Serialize;
use xray::{Connection, InboundSpec, Protocol};

use crate::catalog::Node;

// An enum, so the schemas of `/info` and `/me/configs` list every state.
/// Whether the link grants access now.
#[derive(Serialize, JsonSchema, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    Expired,
    Cancelled,
    /// The link is disabled.
    Disabled,
    /// The account is.
    Suspended,
}

/// Why a link grants nothing (none while active, nor for a cancelled subscription).
#[derive(Serialize, JsonSchema, Clone, Copy, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The account is suspended or blocked.
    Account,
    /// The link is disabled.
    Link,
    /// The subscription's traffic ran out.
    TrafficLimit,
    /// The subscription's time ran out.
    Time,
}

/// Everything an export needs to know about one link.
pub struct LinkView {
    pub link_id: String,
    pub uuid: String,
    pub link_name: Option<String>,
    pub enabled: bool,
    pub link_protocols: Option<Vec<String>>,
    pub link_nodes: Option<Vec<String>>,
    pub user_active: bool,
    pub subscription_id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub expires_at: Option<i64>,
    pub traffic_limit: Option<i64>,
    pub traffic_used: i64,
    pub tariff_name: String,
    pub tariff_protocols: Vec<String>,
    pub tariff_nodes: Vec<String>,
    pub sources: Vec<String>,
}

const SELECT: &str = "SELECT l.id AS link_id, l.uuid, l.name AS link_name, l.enabled, \
     l.protocols AS link_protocols, l.node_ids AS link_nodes, \
     u.status AS user_status, u.blocked, s.id AS subscription_id, s.status, s.status_reason, \
     s.expires_at, s.traffic_limit_bytes, s.traffic_used_bytes, t.name AS tariff_name, \
     t.protocols AS tariff_protocols, t.node_ids AS tariff_nodes, t.external_source_ids \
     FROM subscription_links l JOIN subscriptions s ON s.id = l.subscription_id \
     JOIN tariffs t ON t.id = s.tariff_id JOIN users u ON u.id = l.user_id";

fn list(raw: Option<&str>) -> Vec<String> {
    raw.and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default()
}

impl LinkView {
    fn from_row(row: Row<'_>) -> Result<LinkView, ApiError> {
        Ok(LinkView {
            link_id: row.string("link_id")?,
            uuid: row.string("uuid")?,
            link_name: row.opt_string("link_name")?,
            enabled: row.bool("enabled")?,
            link_protocols: row.opt_str("link_protocols")?.map(|r| list(Some(r))),
            link_nodes: row.opt_str("link_nodes")?.map(|r| list(Some(r))),
            user_active: row.str("user_status")? == "active" && !row.bool("blocked")?,
            subscription_id: row.string("subscription_id")?,
            status: row.string("status")?,
            status_reason: row.opt_string("status_reason")?,
            expires_at: row.opt_i64("expires_at")?,
            traffic_limit: row.opt_i64("traffic_limit_bytes")?,
            traffic_used: row.i64("traffic_used_bytes")?,
            tariff_name: row.string("tariff_name")?,
            tariff_protocols: list(row.opt_str("tariff_protocols")?),
            tariff_nodes: list(row.opt_str("tariff_nodes")?),
            sources: list(row.opt_str("external_source_ids")?),
        })
    }

    /// Why the link gives no access now; `None` when it does.
    pub fn inactive_reason(&self) -> Option<&'static str> {
        if !self.user_active {
            Some("🚫 Account suspended — contact support")
        } else if !self.enabled {
            Some("🚫 This link is disabled")
        } else if self.status == "cancelled" {
            Some("🚫 Subscription cancelled")
        } else if self.status != "active" && self.status_reason.as_deref() == Some("traffic_limit")
        {
            Some("🚧 Traffic limit reached")
        } else if self.status != "active" {
            Some("⌛ Subscription expired")
        } else {
            None
        }
    }

    /// `active`, or why not (as the reason's short code).
    pub fn state(&self) -> (State, Option<Reason>) {
        match self.inactive_reason() {
            None => (State::Active, None),
            Some(_) if !self.user_active => (State::Suspended, Some(Reason::Account)),
            Some(_) if !self.enabled => (State::Disabled, Some(Reason::Link)),
            Some(_) if self.status == "cancelled" => (State::Cancelled, None),
            Some(_) if self.status_reason.as_deref() == Some("traffic_limit") => {
                (State::Expired, Some(Reason::TrafficLimit))
            }
            Some(_) => (State::Expired, Some(Reason::Time)),
        }
    }

    fn permits_node(&self, node: &str) -> bool {
        (self.tariff_nodes.is_empty() || self.tariff_nodes.iter().any(|n| n == node))
            && self
                .link_nodes
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n == node))
    }

    fn permits_protocol(&self, p: Protocol) -> bool {
        let name = p.name();
        (self.tariff_protocols.is_empty() || self.tariff_protocols.iter().any(|n| n == name))
            && self
                .link_protocols
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n == name))
    }
}

/// The link with this UUID, if it belongs to a subscription.
pub fn by_uuid(db: &impl Executor, uuid: &str) -> Result<Option<LinkView>, ApiError> {
    db.query(&format!("{SELECT} WHERE l.uuid = $1"), &[uuid.into()])?
        .first()
        .map(LinkView::from_row)
        .transpose()
}

/// Every subscription link of a user, oldest first.
pub fn of_user(db: &impl Executor, user: &str) -> Result<Vec<LinkView>, ApiError> {
    db.query(
        &format!("{SELECT} WHERE l.user_id = $1 ORDER BY l.created_at, l.id"),
        &[user.into()],
    )?
    .iter()
    .map(LinkView::from_row)
    .collect()
}

/// A connection's display name: the node, the protocol, and the transport when not plain tcp.
fn display_name(node: &str, spec: &InboundSpec) -> String {
    let protocol = match spec.protocol {
        Protocol::Vless => "VLESS",
        Protocol::Vmess => "VMess",
        Protocol::Trojan => "Trojan",
        Protocol::Shadowsocks => "SS",
    };
    let transport = match spec.network {
        xray::Network::Tcp => "",
        xray::Network::Ws => " ws",
        xray::Network::Grpc => " gRPC",
        xray::Network::Xhttp => " XHTTP",
        xray::Network::Httpupgrade => " HTTPUpgrade",
    };
    let security = match spec.security {
        xray::Security::Reality => " REALITY",
        _ => "",
    };
    format!("{node} {protocol}{transport}{security}")
}

/// One connection per inbound of every active node the link may use (protocols permitted by
/// its tariff and itself), then the entries of the tariff's external sources; names unique.
pub fn connections(
    db: &impl Executor,
    nodes: &[Node],
    view: &LinkView,
) -> Result<Vec<Connection>, ApiError> {
    let mut out = Vec::new();
    for node in nodes.iter().filter(|n| view.permits_node(&n.id)) {
        for spec in node
            .inbounds
            .iter()
            .filter(|s| view.permits_protocol(s.protocol))
        {
            let name = display_name(&node.name, spec);
            if let Some(c) = Connection::new(spec, &node.address, &view.uuid, &name) {
                out.push(c);
            }
        }
    }
    out.extend(crate::sources::entries(db, &view.sources)?);
    xray::unique_names(&mut out);
    Ok(out)
}
