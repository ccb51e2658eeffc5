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
use xray::{InboundSpec, Protocol};
use xxhash_rust::xxh3::xxh3_128;

use crate::model::Node;
use crate::routing;

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

pub fn build(db: &impl Executor, node: &Node) -> Result<Built, ApiError> {
    let sets = routing::sets(db, &node.rule_set_ids)?;
    // Inbounds the node's core cannot run (or has not said it runs) stay out, clients and all.
    let live: Vec<&InboundSpec> = node.live_inbounds().collect();
    let inbounds: Vec<serde_json::Value> = live.iter().map(|i| i.server_json()).collect();
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
                 AND (l.node_ids IS NULL OR l.node_ids LIKE $3)",
                mask.join(" || ")
            ),
            &[
                true.into(),
                false.into(),
                format!("%\"{}\"%", node.id).into(),
            ],
        )?;
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
    let rest = format!(
        "\"inbounds\":{},\"outbounds\":{},\"routing\":{}",
        serde_json::to_string(&inbounds).map_err(ApiError::internal)?,
        serde_json::to_string(&routing::outbounds(node)).map_err(ApiError::internal)?,
        serde_json::to_string(&routing::section(node, &sets)).map_err(ApiError::internal)?,
    );
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

/// The body as served: the revision first, then the built body's fields.
pub fn with_revision(revision: i64, body: &str) -> String {
    let rest = body.strip_prefix('{').unwrap_or(body);
    format!("{{\"revision\":{revision},{rest}")
}
