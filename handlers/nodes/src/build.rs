//! Builds a node's config (docs/node-protocol.md, `GET /node/config/latest`) from the database:
//! its inbounds, the clients of active subscriptions whose tariffs (and links) permit this node
//! and the inbound's protocol, its outbounds and routing.
//!
//! Built for 100,000 clients and more within a component's memory cap and in well under a
//! second: one query, no sort, one text cell per client (`link id`, `uuid` and a mask saying
//! which of the node's protocols the client may use — computed by the database), written
//! straight into the body. The body's client order is whatever the database returns, so the hash
//! that decides whether a revision moves is order-independent: the sum of the clients' own
//! hashes, plus the hash of everything else.

use std::fmt::Write as _;

use nexuma_sdk::db::Executor;
use nexuma_sdk::ApiError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};
use xray::{InboundSpec, Protocol};
use xxhash_rust::xxh3::xxh3_128;

use crate::model::Node;
use crate::routing::{self, RuleSet, DOMAIN_STRATEGIES};

/// The config a node gets (docs/node-protocol.md) as [`build`] writes it and [`with_revision`]
/// serves it. The body is written as text, for speed; this type is its JSON Schema, and the
/// tests read what the builder writes into it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct NodeConfig {
    revision: i64,
    clients: Vec<ConfigClient>,
    /// The inbound objects the core runs, with empty client lists: the agent adds the clients.
    inbounds: Vec<Map<String, Value>>,
    /// `direct` (where unmatched traffic goes), `block`, then the node's own.
    outbounds: Vec<Map<String, Value>>,
    routing: ConfigRouting,
}

/// A client of the node: who may use which of its inbounds.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConfigClient {
    /// The link's id: usage reports and session events name the client by it.
    #[schemars(extend("format" = "uuid"))]
    name: String,
    /// The link's UUID; the credential is derived from it (`xray::client_secret`).
    #[schemars(extend("format" = "uuid"))]
    key: String,
    /// Tags of the inbounds it may use.
    inbounds: Vec<String>,
}

/// The core's routing section: the node's rules, then each rule set's blocking rules and rules.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ConfigRouting {
    #[schemars(extend("enum" = DOMAIN_STRATEGIES))]
    domain_strategy: String,
    #[schemars(with = "Vec<routing::Rule>")]
    rules: Vec<Value>,
    #[schemars(with = "Vec<routing::Balancer>")]
    balancers: Vec<Value>,
}

/// A built config: the body (without the revision, which is added when served), its hash and
/// the number of clients in it.
pub struct Built {
    pub body: String,
    pub hash: String,
    pub clients: i64,
    /// The inbound specs the body was built from (JSON): what exports list once the node's agent
    /// confirms this revision.
    pub inbounds: String,
}

fn too_many_clients(node: &str) -> ApiError {
    ApiError::conflict(
        TOO_MANY_CLIENTS,
        format!(
            "node {node} is permitted to more than {MAX_CLIENTS} clients, more than one config \
             can list; its last config stays in force. Spread the clients over more nodes \
             (tariffs and links name the nodes they may use)"
        ),
    )
}

fn push_json_str(out: &mut String, s: &str) {
    // Ids, UUIDs and tags never need escaping: quote them as they are; anything else through
    // serde_json.
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        match serde_json::to_string(s) {
            Ok(quoted) => out.push_str(&quoted),
            Err(_) => out.push_str("\"\""),
        }
    }
}

/// SQL that is `'1'` when the client may use `protocol` (its tariff's list is empty or names
/// it, and its link names none or it), else `'0'`. Protocol names are our own constants.
fn permits_sql(protocol: Protocol) -> String {
    let quoted = format!("'%\"{}\"%'", protocol.name());
    format!(
        "CASE WHEN (t.protocols = '[]' OR t.protocols LIKE {quoted}) \
         AND (l.protocols IS NULL OR l.protocols LIKE {quoted}) THEN '1' ELSE '0' END"
    )
}

/// The most clients one node's config lists. The build holds the clients and the body in the
/// component's memory: 100,000 clients peak at 30 MiB, so this many stay inside the default
/// 64 MiB cap. A node permitted to more is refused plainly (and its last config kept) rather
/// than trapping the pass that builds every node's config.
pub const MAX_CLIENTS: usize = 150_000;

/// The error code of a node permitted to more than [`MAX_CLIENTS`] clients.
const TOO_MANY_CLIENTS: &str = "node_too_many_clients";

pub fn build(db: &impl Executor, node: &Node) -> Result<Built, ApiError> {
    let sets = routing::sets(db, &node.rule_set_ids)?;
    // Inbounds the node's core cannot run (or has not said it runs) stay out, clients and all.
    let live: Vec<&InboundSpec> = node.live_inbounds().collect();
    let inbounds: Vec<Value> = live.iter().map(|i| i.server_json()).collect();
    // The node's distinct protocols, in a fixed order: position i of a client's mask; and each
    // inbound's position in it.
    let mut protocols: Vec<Protocol> = Vec::new();
    let mut slots: Vec<usize> = Vec::with_capacity(live.len());
    for inbound in &live {
        let slot = match protocols.iter().position(|p| *p == inbound.protocol) {
            Some(i) => i,
            None => {
                protocols.push(inbound.protocol);
                protocols.len() - 1
            }
        };
        slots.push(slot);
    }

    let mut body = String::with_capacity(4096);
    body.push_str("{\"clients\":[");
    let mut clients = 0i64;
    let mut clients_hash: u128 = 0;
    // A disabled node keeps its inbounds and serves nobody.
    if node.status != "disabled" && !protocols.is_empty() {
        let mask: Vec<String> = protocols.iter().map(|p| permits_sql(*p)).collect();
        let rows = db.query(
            &format!(
                "SELECT l.id || ' ' || l.uuid || ' ' || {} AS c \
                 FROM subscription_links l \
                 JOIN subscriptions s ON s.id = l.subscription_id \
                 JOIN tariffs t ON t.id = s.tariff_id \
                 JOIN users u ON u.id = l.user_id \
                 WHERE l.enabled = $1 AND s.status = 'active' \
                 AND u.status = 'active' AND u.blocked = $2 \
                 AND (t.node_ids = '[]' OR t.node_ids LIKE $3) \
                 AND (l.node_ids IS NULL OR l.node_ids LIKE $3) LIMIT {}",
                mask.join(" || "),
                MAX_CLIENTS + 1
            ),
            &[
                true.into(),
                false.into(),
                format!("%\"{}\"%", node.id).into(),
            ],
        )?;
        if rows.len() > MAX_CLIENTS {
            return Err(too_many_clients(&node.id));
        }
        let per_client = 40 + live.iter().map(|i| i.tag.len() + 3).sum::<usize>();
        body.reserve(rows.len() * (per_client + 80));
        let mut fragment = String::with_capacity(per_client + 80);
        for row in rows.iter() {
            let cell = row.str("c")?;
            let mut parts = cell.split(' ');
            let (Some(id), Some(uuid), Some(allowed)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(ApiError::internal(format!("node client row `{cell}`")));
            };
            let allowed = allowed.as_bytes();
            fragment.clear();
            for (inbound, slot) in live.iter().zip(&slots) {
                if allowed.get(*slot) != Some(&b'1') {
                    continue;
                }
                if fragment.is_empty() {
                    fragment.push_str("{\"name\":");
                    push_json_str(&mut fragment, id);
                    fragment.push_str(",\"key\":");
                    push_json_str(&mut fragment, uuid);
                    fragment.push_str(",\"inbounds\":[");
                } else {
                    fragment.push(',');
                }
                push_json_str(&mut fragment, &inbound.tag);
            }
            if fragment.is_empty() {
                continue;
            }
            fragment.push_str("]}");
            if clients > 0 {
                body.push(',');
            }
            body.push_str(&fragment);
            clients_hash = clients_hash.wrapping_add(xxh3_128(fragment.as_bytes()));
            clients += 1;
        }
    }
    let rest = rest(&inbounds, node, &sets)?;
    body.push_str("],");
    body.push_str(&rest);
    body.push('}');
    // The specs count too: a change only clients see (a REALITY short id, an SNI) must make a
    // revision, or exports would never learn of it.
    let specs = serde_json::to_string(&live).map_err(ApiError::internal)?;
    let total = clients_hash
        .wrapping_add(xxh3_128(rest.as_bytes()))
        .wrapping_add(xxh3_128(specs.as_bytes()))
        .wrapping_add(clients as u128);
    let mut hash = String::with_capacity(32);
    let _ = write!(hash, "{total:032x}");
    Ok(Built {
        body,
        hash,
        clients,
        inbounds: specs,
    })
}

/// The body's fields after the clients: inbounds, outbounds, routing.
fn rest(inbounds: &[Value], node: &Node, sets: &[RuleSet]) -> Result<String, ApiError> {
    Ok(format!(
        "\"inbounds\":{},\"outbounds\":{},\"routing\":{}",
        serde_json::to_string(inbounds).map_err(ApiError::internal)?,
        serde_json::to_string(&routing::outbounds(node)).map_err(ApiError::internal)?,
        serde_json::to_string(&routing::section(node, sets)).map_err(ApiError::internal)?,
    ))
}

/// The body as served: the revision first, then the built body's fields.
pub fn with_revision(revision: i64, body: &str) -> String {
    let rest = body.strip_prefix('{').unwrap_or(body);
    format!("{{\"revision\":{revision},{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What the builder writes reads as its schema's type (unknown fields refused), and the
    /// schema says what is always there.
    #[test]
    fn the_built_body_is_its_schema() {
        let mut node = Node::new("n".into(), 1);
        node.inbounds =
            vec![
                serde_json::from_value(json!({ "tag": "in", "protocol": "vless", "port": 443 }))
                    .expect("spec"),
            ];
        node.outbounds = vec![json!({ "tag": "warp", "protocol": "wireguard" })];
        let set = RuleSet {
            id: "s".into(),
            name: "s".into(),
            rules: vec![json!({ "type": "field", "ip": ["10.0.0.0/8"], "balancerTag": "b" })],
            balancers: vec![json!({ "tag": "b", "selector": ["warp"] })],
            blocking: routing::Blocking {
                bittorrent: true,
                ..Default::default()
            },
            created_at: 1,
            updated_at: 1,
        };
        let inbounds: Vec<Value> = node.inbounds.iter().map(|i| i.server_json()).collect();
        let rest = rest(&inbounds, &node, &[set]).expect("rest");
        let client = r#"{"name":"l","key":"k","inbounds":["in"]}"#;
        let body = with_revision(3, &format!("{{\"clients\":[{client}],{rest}}}"));
        let config: NodeConfig = serde_json::from_str(&body).expect("the schema's type");
        assert_eq!(config.revision, 3);
        assert_eq!(config.routing.domain_strategy, "AsIs");
        assert_eq!(
            config.routing.rules.len(),
            2,
            "the blocking rule, then the set's"
        );

        let schema = nexuma_sdk::answer_schema_of::<NodeConfig>();
        assert_eq!(
            schema["required"],
            json!(["revision", "clients", "inbounds", "outbounds", "routing"])
        );
        assert_eq!(
            schema["properties"]["routing"]["properties"]["domainStrategy"]["enum"],
            json!(DOMAIN_STRATEGIES)
        );
    }
}
