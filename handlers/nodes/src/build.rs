//! Builds a node's config (docs/node-protocol.md, `GET /node/config/latest`) from the database:
//! its inbounds, the clients of active subscriptions whose tariffs (and links) permit this node
//! and the inbound's protocol, its outbounds and routing.
//!
//! The body is written straight into one string, clients read in pages by link id, so a node
//! with 100,000 clients never holds more than one page of rows besides the output.

use std::collections::HashMap;
use std::fmt::Write as _;

use nexuma_sdk::db::Executor;
use nexuma_sdk::ApiError;
use sha2::{Digest, Sha256};
use xray::Protocol;

use crate::model::Node;
use crate::routing;

/// Rows read at a time.
const PAGE: i64 = 20_000;

/// A built config: the body (without the revision, which is added when served), its hash and
/// the number of clients in it.
pub struct Built {
    pub body: String,
    pub hash: String,
    pub clients: i64,
}

/// Which protocols a JSON list allows: empty (tariffs) or absent (links) allows all.
struct Allowed(Option<Vec<Protocol>>);

impl Allowed {
    fn parse(raw: Option<&str>, empty_is_all: bool) -> Allowed {
        let Some(raw) = raw else { return Allowed(None) };
        let names: Vec<String> = serde_json::from_str(raw).unwrap_or_default();
        if names.is_empty() && empty_is_all {
            return Allowed(None);
        }
        Allowed(Some(
            names
                .iter()
                .filter_map(|n| serde_json::from_value(serde_json::Value::String(n.clone())).ok())
                .collect(),
        ))
    }

    fn permits(&self, p: Protocol) -> bool {
        self.0.as_ref().is_none_or(|list| list.contains(&p))
    }
}

fn push_json_str(out: &mut String, s: &str) {
    // Ids and UUIDs never need escaping, but a string is a string.
    match serde_json::to_string(s) {
        Ok(quoted) => out.push_str(&quoted),
        Err(_) => out.push_str("\"\""),
    }
}

pub fn build(db: &impl Executor, node: &Node) -> Result<Built, ApiError> {
    let sets = routing::sets(db, &node.rule_set_ids)?;
    let inbounds: Vec<serde_json::Value> = node.inbounds.iter().map(|i| i.server_json()).collect();
    let tags: Vec<(String, Protocol)> = node
        .inbounds
        .iter()
        .map(|i| (i.tag.clone(), i.protocol))
        .collect();

    let mut body = String::with_capacity(4096);
    body.push_str("{\"inbounds\":");
    body.push_str(&serde_json::to_string(&inbounds).map_err(ApiError::internal)?);
    body.push_str(",\"clients\":[");
    let mut clients = 0i64;
    // A disabled node keeps its inbounds and serves nobody.
    if node.status != "disabled" && !tags.is_empty() {
        let pattern = format!("%\"{}\"%", node.id);
        let mut tariff_cache: HashMap<String, Allowed> = HashMap::new();
        let mut after = String::new();
        loop {
            let rows = db.query(
                "SELECT l.id, l.uuid, l.protocols AS link_protocols, t.protocols AS tariff_protocols \
                 FROM subscription_links l \
                 JOIN subscriptions s ON s.id = l.subscription_id \
                 JOIN tariffs t ON t.id = s.tariff_id \
                 JOIN users u ON u.id = l.user_id \
                 WHERE l.id > $1 AND l.enabled = $2 AND s.status = 'active' \
                 AND u.status = 'active' AND u.blocked = $3 \
                 AND (t.node_ids = '[]' OR t.node_ids LIKE $4) \
                 AND (l.node_ids IS NULL OR l.node_ids LIKE $4) \
                 ORDER BY l.id LIMIT $5",
                &[
                    after.as_str().into(),
                    true.into(),
                    false.into(),
                    pattern.as_str().into(),
                    PAGE.into(),
                ],
            )?;
            for row in rows.iter() {
                let tariff_raw = row.str("tariff_protocols")?;
                let tariff = tariff_cache
                    .entry(tariff_raw.to_string())
                    .or_insert_with(|| Allowed::parse(Some(tariff_raw), true));
                let link = Allowed::parse(row.opt_str("link_protocols")?, false);
                let mut first = true;
                for (tag, protocol) in &tags {
                    if !(tariff.permits(*protocol) && link.permits(*protocol)) {
                        continue;
                    }
                    if first {
                        if clients > 0 {
                            body.push(',');
                        }
                        body.push_str("{\"name\":");
                        push_json_str(&mut body, row.str("id")?);
                        body.push_str(",\"key\":");
                        push_json_str(&mut body, row.str("uuid")?);
                        body.push_str(",\"inbounds\":[");
                        first = false;
                    } else {
                        body.push(',');
                    }
                    push_json_str(&mut body, tag);
                }
                if !first {
                    body.push_str("]}");
                    clients += 1;
                }
            }
            match rows.iter().last() {
                Some(last) if rows.len() as i64 == PAGE => after = last.string("id")?,
                _ => break,
            }
        }
    }
    body.push_str("],\"outbounds\":");
    body.push_str(&serde_json::to_string(&routing::outbounds(node)).map_err(ApiError::internal)?);
    body.push_str(",\"routing\":");
    body.push_str(
        &serde_json::to_string(&routing::section(node, &sets)).map_err(ApiError::internal)?,
    );
    body.push('}');
    let mut hash = String::with_capacity(64);
    for byte in Sha256::digest(body.as_bytes()) {
        let _ = write!(hash, "{byte:02x}");
    }
    Ok(Built {
        body,
        hash,
        clients,
    })
}

/// The body as served: the revision first, then the built body's fields.
pub fn with_revision(revision: i64, body: &str) -> String {
    let rest = body.strip_prefix('{').unwrap_or(body);
    format!("{{\"revision\":{revision},{rest}")
}
