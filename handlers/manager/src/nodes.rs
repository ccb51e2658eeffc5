//! Nodes: `POST /nodes/add`, `POST /nodes/del`, `GET /nodes`, and the `nodes` table.

use nexuma_sdk::db::{self, Executor, Pool, Row, Transaction};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, id, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::agent::Agent;
use crate::roster;

pub const COLUMNS: &str = "id, name, api_url, access_key, cert_sha256, address, status, online, \
     agent_status, cpu_load, memory_load, inbounds, last_seen_at, created_at, updated_at";

pub const NAME_MAX: usize = 100;
/// In bytes, as `add` counts (the schema's `maxLength` counts characters: equal for ASCII).
const KEY_MAX: usize = 512;
/// In bytes, as `parse_url` counts.
const URL_MAX: usize = 2000;
/// What `parse_url` takes, trimmed: `https://` in any case, a host (no credentials), maybe a
/// port and a path, no query, fragment, whitespace or control characters.
const URL_PATTERN: &str = r"^[Hh][Tt][Tt][Pp][Ss]://[^:/?#@\s\u0000-\u001f\u007f-\u009f][^/?#@\s\u0000-\u001f\u007f-\u009f]*(/[^?#\s\u0000-\u001f\u007f-\u009f]*)?$";
/// What `parse_fingerprint` takes: nothing, or 64 hex digits with any `:` between.
const FINGERPRINT_PATTERN: &str = r"^:*([0-9A-Fa-f]:*){64}$|^:*$";
/// The `status` values the `manager_nodes` table allows (its CHECK); nodes are added active.
pub const STATUSES: [&str; 4] = ["active", "disabled", "maintenance", "error"];

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub api_url: String,
    pub access_key: String,
    pub cert_sha256: Option<String>,
    pub address: String,
    pub status: String,
    pub online: bool,
    pub agent_status: Option<String>,
    pub cpu_load: Option<i64>,
    pub memory_load: Option<i64>,
    pub inbounds: Vec<Value>,
    pub last_seen_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What the API shows of a node: never the access key (its JSON Schema is derived from this
/// type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView<'a> {
    #[schemars(extend("format" = "uuid"))]
    pub id: &'a str,
    pub name: &'a str,
    /// The agent's Node API.
    pub url: &'a str,
    /// The host clients dial.
    pub address: &'a str,
    /// The pinned SHA-256 of the agent's certificate, `AB:CD:…`.
    #[schemars(regex(pattern = r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$"))]
    pub fingerprint: Option<&'a str>,
    #[schemars(extend("enum" = STATUSES))]
    pub status: &'a str,
    pub online: bool,
    /// What the agent last said of its core.
    pub agent_status: Option<&'a str>,
    pub cpu_load: Option<i64>,
    pub memory_load: Option<i64>,
    /// The inbounds the agent listed when the node was added, as it listed them.
    pub inbounds: &'a [Value],
    /// Epoch milliseconds.
    pub last_seen_at: Option<i64>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

/// A node in `GET /nodes`: with its connected users.
#[derive(Serialize, JsonSchema)]
pub struct Listed<'a> {
    #[serde(flatten)]
    pub node: NodeView<'a>,
    /// Users connected on it.
    pub users: i64,
}

impl Node {
    pub fn from_row(row: Row<'_>) -> Result<Node, ApiError> {
        let inbounds = match row.opt_str("inbounds")? {
            Some(text) => serde_json::from_str(text).unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(Node {
            id: row.string("id")?,
            name: row.string("name")?,
            api_url: row.string("api_url")?,
            access_key: row.string("access_key")?,
            cert_sha256: row.opt_string("cert_sha256")?,
            address: row.string("address")?,
            status: row.string("status")?,
            online: row.bool("online")?,
            agent_status: row.opt_string("agent_status")?,
            cpu_load: row.opt_i64("cpu_load")?,
            memory_load: row.opt_i64("memory_load")?,
            inbounds,
            last_seen_at: row.opt_i64("last_seen_at")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    pub fn agent(&self) -> Agent<'_> {
        Agent {
            url: &self.api_url,
            key: &self.access_key,
            pin: self.cert_sha256.as_deref(),
        }
    }

    pub fn view(&self) -> NodeView<'_> {
        NodeView {
            id: &self.id,
            name: &self.name,
            url: &self.api_url,
            address: &self.address,
            fingerprint: self.cert_sha256.as_deref(),
            status: &self.status,
            online: self.online,
            agent_status: self.agent_status.as_deref(),
            cpu_load: self.cpu_load,
            memory_load: self.memory_load,
            inbounds: &self.inbounds,
            last_seen_at: self.last_seen_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Every node, by name.
pub fn all(ex: &impl Executor) -> Result<Vec<Node>, ApiError> {
    let rows = ex.query(
        &format!("SELECT {COLUMNS} FROM manager_nodes ORDER BY name, created_at"),
        &[],
    )?;
    rows.iter().map(Node::from_row).collect()
}

/// Nodes an operator has not disabled: served in subscriptions, polled by the watchdog.
pub fn active(ex: &impl Executor) -> Result<Vec<Node>, ApiError> {
    let rows = ex.query(
        &format!("SELECT {COLUMNS} FROM manager_nodes WHERE status = $1 ORDER BY name, created_at"),
        &["active".into()],
    )?;
    rows.iter().map(Node::from_row).collect()
}

fn by_url(ex: &impl Executor, url: &str) -> Result<Option<Node>, ApiError> {
    let rows = ex.query(
        &format!("SELECT {COLUMNS} FROM manager_nodes WHERE api_url = $1"),
        &[url.into()],
    )?;
    rows.first().map(Node::from_row).transpose()
}

/// The agent's URL checked and normalised (`https://host[:port][/path]`, no trailing slash),
/// plus the host clients dial.
pub fn parse_url(field: &str, raw: &str) -> Result<(String, String), ApiError> {
    let url = raw.trim().trim_end_matches('/');
    let invalid = || ApiError::validation(field, "must be an https:// URL with a host");
    let rest = url
        .strip_prefix("https://")
        .or_else(|| {
            url.get(..8)
                .filter(|p| p.eq_ignore_ascii_case("https://"))
                .map(|_| &url[8..])
        })
        .ok_or_else(invalid)?;
    if url.len() > URL_MAX || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    if rest.contains(['?', '#']) {
        return Err(ApiError::validation(
            field,
            "must not carry a query or fragment",
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ApiError::validation(field, "must not carry credentials"));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(invalid());
    }
    Ok((
        format!("https://{rest}"),
        host.to_ascii_lowercase().to_string(),
    ))
}

/// A SHA-256 fingerprint: 64 hex digits, `:` separators allowed; stored as `AB:CD:...`.
fn parse_fingerprint(raw: &str) -> Result<Option<String>, ApiError> {
    let hex: String = raw.trim().chars().filter(|c| *c != ':').collect();
    if hex.is_empty() {
        return Ok(None);
    }
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::validation(
            "fingerprint",
            "must be a SHA-256 fingerprint: 64 hex digits, `:` separators allowed",
        ));
    }
    let upper = hex.to_ascii_uppercase();
    let pairs: Vec<&str> = (0..32).map(|i| &upper[i * 2..i * 2 + 2]).collect();
    Ok(Some(pairs.join(":")))
}

/// `POST /nodes/add` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct AddBody {
    /// The agent's Node API, `https://host[:port][/path]`.
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    url: String,
    #[schemars(length(min = 1, max = KEY_MAX))]
    accesskey: String,
    /// SHA-256 of the agent's certificate to pin: 64 hex digits, `:` allowed; null or empty:
    /// none.
    #[schemars(regex(pattern = FINGERPRINT_PATTERN))]
    fingerprint: Option<String>,
    /// Null or empty: the url's host.
    #[schemars(length(max = NAME_MAX), regex(pattern = nexuma_sdk::pattern::NO_CONTROL))]
    name: Option<String>,
}

/// A node to add, as `AddBody` gives it once checked.
struct NewNode {
    /// Normalised (`parse_url`).
    url: String,
    /// The host clients dial.
    address: String,
    key: String,
    pin: Option<String>,
    name: String,
}

impl AddBody {
    /// The body's fields checked and normalised; a node without a name takes its url's host.
    fn parse(self) -> Result<NewNode, ApiError> {
        let (url, address) = parse_url("url", &self.url)?;
        let key = self.accesskey.trim();
        if key.is_empty() || key.len() > KEY_MAX {
            return Err(ApiError::validation(
                "accesskey",
                format!("must be 1 to {KEY_MAX} characters long"),
            ));
        }
        let pin = parse_fingerprint(self.fingerprint.as_deref().unwrap_or(""))?;
        let name = match self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            Some(n) if n.chars().count() > NAME_MAX || n.chars().any(char::is_control) => {
                return Err(ApiError::validation(
                    "name",
                    format!("must be at most {NAME_MAX} characters, without control characters"),
                ))
            }
            Some(n) => n.to_string(),
            None => address.clone(),
        };
        Ok(NewNode {
            url,
            address,
            key: key.to_string(),
            pin,
            name,
        })
    }
}

impl NewNode {
    fn agent(&self) -> Agent<'_> {
        Agent {
            url: &self.url,
            key: &self.key,
            pin: self.pin.as_deref(),
        }
    }
}

/// `POST /nodes/add`: checked, its agent asked for its inbounds, stored, then started with every
/// user who may connect.
pub fn add(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: AddBody = req.json()?;
    let new = body.parse()?;
    if by_url(&Pool, &new.url)?.is_some() {
        return Err(node_exists());
    }
    let inbounds = new.agent().inbounds().map_err(|e| {
        ApiError::new(
            502,
            "node_unreachable",
            format!("the node agent at {} could not be used: {e}", new.url),
        )
    })?;
    let now = clock::now_ms();
    let node_id = id::new_v4();
    let tx = db::begin()?;
    insert(&tx, &node_id, &new, inbounds, now)?;
    // The access key is a secret: never in the audit log.
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "node.add",
            target_type: "node",
            target_id: &node_id,
            before: None,
            after: Some(serde_json::json!({
                "name": new.name,
                "url": new.url,
                "address": new.address,
            })),
        },
        now,
    )?;
    tx.commit()?;
    let (users, online) = start(&new.agent(), &node_id, now)?;
    log::info(
        "node added",
        &[
            ("nodeId", &node_id),
            ("url", &new.url),
            ("adminId", &admin.id),
            ("users", &users.to_string()),
            ("started", &online.to_string()),
        ],
    );
    let node = get(&Pool, &node_id)?;
    response::json(200, &node.view())
}

fn node_exists() -> ApiError {
    ApiError::conflict("node_exists", "a node with this url is already added")
}

/// The node's row, active and not yet online; 409 when another with its url got in first.
fn insert(
    tx: &Transaction,
    node_id: &str,
    new: &NewNode,
    inbounds: Vec<Value>,
    now: i64,
) -> Result<(), ApiError> {
    let inserted = tx.execute(
        "INSERT INTO manager_nodes (id, name, api_url, access_key, cert_sha256, address, status, online, \
         inbounds, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            node_id.into(),
            new.name.as_str().into(),
            new.url.as_str().into(),
            new.key.as_str().into(),
            new.pin.clone().into(),
            new.address.as_str().into(),
            "active".into(),
            false.into(),
            Value::Array(inbounds).to_string().into(),
            now.into(),
            now.into(),
        ],
    );
    match inserted {
        Err(e) if e.kind == db::ErrorKind::UniqueViolation => Err(node_exists()),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(()),
    }
}

/// Starts the new node's agent with everyone who may connect and records who is on it: how many
/// users, and whether it started. A failure is left to the watchdog.
fn start(agent: &Agent<'_>, node_id: &str, now: i64) -> Result<(usize, bool), ApiError> {
    let users = roster::agent_users(&Pool)?;
    let online = agent.start(&users).is_ok();
    for user in &users {
        roster::set_connected(&Pool, node_id, &user.name, online)?;
    }
    if online {
        Pool.execute(
            "UPDATE manager_nodes SET online = $1, agent_status = $2, last_seen_at = $3, updated_at = $3 \
             WHERE id = $4",
            &[true.into(), "Running".into(), now.into(), node_id.into()],
        )?;
    }
    Ok((users.len(), online))
}

pub fn get(ex: &impl Executor, node_id: &str) -> Result<Node, ApiError> {
    let rows = ex.query(
        &format!("SELECT {COLUMNS} FROM manager_nodes WHERE id = $1"),
        &[node_id.into()],
    )?;
    rows.first()
        .map(Node::from_row)
        .transpose()?
        .ok_or_else(|| ApiError::not_found("node_not_found", "no node with this id"))
}

/// `POST /nodes/del` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct DelBody {
    /// The url the node was added with.
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    url: String,
}

/// `POST /nodes/del`'s answer: the node forgotten.
#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    #[schemars(extend("format" = "uuid"))]
    id: String,
    url: String,
}

pub fn del(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: DelBody = req.json()?;
    let (url, _) = parse_url("url", &body.url)?;
    let node = by_url(&Pool, &url)?
        .ok_or_else(|| ApiError::not_found("node_not_found", "no node with this url"))?;
    // Best effort: a node that cannot be told to stop is forgotten all the same.
    let stopped = node.agent().stop().is_ok();
    let tx = db::begin()?;
    tx.execute(
        "DELETE FROM manager_nodes WHERE id = $1",
        &[node.id.as_str().into()],
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "node.delete",
            target_type: "node",
            target_id: &node.id,
            before: Some(serde_json::json!({ "name": node.name, "url": node.api_url })),
            after: None,
        },
        clock::now_ms(),
    )?;
    tx.commit()?;
    log::info(
        "node deleted",
        &[
            ("nodeId", &node.id),
            ("url", &node.api_url),
            ("adminId", &admin.id),
            ("stopped", &stopped.to_string()),
        ],
    );
    response::json(
        200,
        &Deleted {
            id: node.id,
            url: node.api_url,
        },
    )
}

pub fn list(_req: &Request) -> Result<Response, ApiError> {
    let nodes = all(&Pool)?;
    let counts = roster::count_per_node(&Pool)?;
    let items: Vec<Listed> = nodes
        .iter()
        .map(|n| Listed {
            node: n.view(),
            users: counts.get(&n.id).copied().unwrap_or(0),
        })
        .collect();
    response::json(200, &items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("url", " https://10.0.0.5:8443/ ").ok(),
            Some(("https://10.0.0.5:8443".into(), "10.0.0.5".into()))
        );
        assert_eq!(
            parse_url("url", "https://[::1]:8443").ok(),
            Some(("https://[::1]:8443".into(), "::1".into()))
        );
        for bad in ["http://x", "x", "https://", "https://u@x", "https://x?y"] {
            assert!(parse_url("url", bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_fingerprint(&"ab".repeat(32))
                .ok()
                .flatten()
                .map(|s| s.len()),
            Some(95)
        );
        assert!(parse_fingerprint("abc").is_err());
    }

    /// The derived schemas say what `add` and `del` take: the url and fingerprint patterns take
    /// what `parse_url` and `parse_fingerprint` take, the bounds are their constants; the answer's
    /// statuses are the table's.
    #[test]
    fn the_schemas_say_what_nodes_take() {
        let add = nexuma_sdk::schema_of::<AddBody>();
        assert_eq!(add["required"], serde_json::json!(["url", "accesskey"]));
        assert_eq!(add["properties"]["accesskey"]["maxLength"], KEY_MAX);
        assert_eq!(add["properties"]["name"]["maxLength"], NAME_MAX);
        assert_eq!(
            add["properties"]["name"]["pattern"],
            nexuma_sdk::pattern::NO_CONTROL
        );
        let pattern = |field: &str| {
            let text = add["properties"][field]["pattern"]
                .as_str()
                .expect("pattern");
            regex_lite::Regex::new(text).expect("regex")
        };
        let url = pattern("url");
        for raw in [
            "https://10.0.0.5:8443",
            "HTTPS://node.example/api/",
            "https://[::1]:8443",
            "https://x/a@b",
            "http://x",
            "https://",
            "https://:8443",
            "https://u@x",
            "https://x?y",
            "https://x/#y",
            "https://x y",
            "https://x\u{85}y",
        ] {
            assert_eq!(url.is_match(raw), parse_url("url", raw).is_ok(), "{raw:?}");
        }
        let fingerprint = pattern("fingerprint");
        let colons = "AB:".repeat(31) + "AB";
        for raw in [
            "",
            ":",
            &"ab".repeat(32),
            &colons,
            "abc",
            &"ab".repeat(33),
            "g",
        ] {
            let parsed = parse_fingerprint(raw).is_ok();
            assert_eq!(fingerprint.is_match(raw), parsed, "{raw:?}");
        }
        let shown = regex_lite::Regex::new(
            nexuma_sdk::answer_schema_of::<NodeView>()["properties"]["fingerprint"]["pattern"]
                .as_str()
                .expect("pattern"),
        )
        .expect("regex");
        let stored = parse_fingerprint(&"ab".repeat(32)).ok().flatten();
        assert!(shown.is_match(&stored.expect("stored")));

        let node = nexuma_sdk::answer_schema_of::<Vec<Listed>>();
        let item = &node["items"];
        assert_eq!(
            item["properties"]["status"]["enum"],
            serde_json::json!(STATUSES)
        );
        assert!(item["required"].to_string().contains("users"), "{item}");
        let migration = include_str!("../../../migrations/postgres/0002_manager.sql");
        let check = format!("CHECK (status IN ('{}'))", STATUSES.join("', '"));
        assert!(migration.contains(&check), "{check}");
    }
}
