//! A node as stored, how it reads, and its effective status.

use nexuma_sdk::db::{Executor, Row, Transaction};
use nexuma_sdk::{id, ApiError};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use xray::{Capabilities, InboundSpec};

use crate::admin::OP_KINDS;
use crate::routing::{self, DOMAIN_STRATEGIES, MAX_RULES};

pub const STATUSES: [&str; 4] = ["active", "disabled", "maintenance", "error"];
/// What [`Node::sync_state`] says.
pub const SYNC_STATES: [&str; 4] = ["synced", "pending", "failed", "never"];
pub use xray::HEARTBEAT_STALE_MS;

pub const COLUMNS: &str = "id, name, address, status, inbounds, outbounds, rule_set_ids, routing, \
     revision, config_hash, applied_revision, sync_error, sync_at, last_heartbeat_at, \
     agent_status, agent_version, core_version, core_flavor, hostname, cpu_load, memory_load, \
     clients, last_error, last_error_kind, last_error_at, pending_ops, registered_at, created_at, \
     updated_at, core_capabilities";

/// `schema` (of an optional string) takes one of `values`, or null.
pub fn one_of_or_null(schema: &mut schemars::Schema, values: &[&str]) {
    let mut all: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    all.push(Value::Null);
    schema.insert("enum".into(), Value::Array(all));
}

fn domain_strategy(schema: &mut schemars::Schema) {
    one_of_or_null(schema, &DOMAIN_STRATEGIES);
}

/// Node-level routing: the domain strategy and rules that come before its rule sets'.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRouting {
    /// Absent: AsIs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = domain_strategy)]
    pub domain_strategy: Option<String>,
    /// Before the rule sets' rules. Each goes to an outbound of the node (direct, block or one
    /// of its own) or to a balancer of one of its rule sets.
    #[serde(default)]
    #[schemars(with = "Vec<routing::Rule>", length(max = MAX_RULES))]
    pub rules: Vec<Value>,
}

/// An operation an administrator asked the node's agent for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Op {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    #[schemars(extend("enum" = OP_KINDS))]
    pub kind: String,
    /// Epoch milliseconds.
    pub created_at: i64,
}

/// An inbound as administrators see it.
#[derive(Serialize, Clone, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundView {
    #[serde(flatten)]
    pub spec: InboundSpec,
    /// Present when the inbound is kept from the node and from subscriptions: its core cannot
    /// run it, or has not said what it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_back: Option<HeldBack>,
}

#[derive(Serialize, Clone, Debug, JsonSchema)]
pub struct HeldBack {
    pub reason: String,
}

/// What the node's agent last said of itself.
#[derive(Serialize, Clone, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub status: Option<String>,
    pub version: Option<String>,
    pub core_version: Option<String>,
    pub core_flavor: Option<String>,
    /// What the node's core runs; null: not reported.
    pub capabilities: Option<Capabilities>,
    pub hostname: Option<String>,
    /// Epoch milliseconds.
    pub last_heartbeat_at: Option<i64>,
    /// Percent.
    pub cpu: Option<i64>,
    /// Percent.
    pub memory: Option<i64>,
    pub clients: Option<i64>,
}

/// The last error the agent reported.
#[derive(Serialize, Clone, Debug, JsonSchema)]
pub struct LastError {
    pub kind: Option<String>,
    pub message: String,
    /// Epoch milliseconds.
    pub at: Option<i64>,
}

/// A node as administrators see it (secrets withheld by the admin routes).
#[derive(Serialize, Clone, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub name: String,
    /// The host name or IP address clients connect to.
    pub address: String,
    #[schemars(extend("enum" = STATUSES))]
    pub status: String,
    /// An active node without a heartbeat for 60 s, or whose config was rejected, is in error.
    #[schemars(extend("enum" = STATUSES))]
    pub effective_status: String,
    pub status_reason: Option<String>,
    pub inbounds: Vec<InboundView>,
    /// Extra core outbounds; direct and block are built in.
    #[schemars(with = "Vec<routing::Outbound>")]
    pub outbounds: Vec<Value>,
    pub rule_set_ids: Vec<String>,
    pub routing: NodeRouting,
    pub revision: i64,
    pub applied_revision: Option<i64>,
    #[schemars(extend("enum" = SYNC_STATES))]
    pub sync_state: &'static str,
    pub sync_error: Option<String>,
    /// Epoch milliseconds.
    pub sync_at: Option<i64>,
    pub registered: bool,
    /// Epoch milliseconds.
    pub registered_at: Option<i64>,
    pub agent: AgentView,
    pub last_error: Option<LastError>,
    pub pending_ops: Vec<Op>,
    /// Links online on the node now (its session events; 0 while its agent is silent); in the
    /// list and one node's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_links: Option<i64>,
    /// Distinct users of those links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online_users: Option<i64>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

impl NodeView {
    pub fn json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub address: String,
    pub status: String,
    pub inbounds: Vec<InboundSpec>,
    pub outbounds: Vec<Value>,
    pub rule_set_ids: Vec<String>,
    pub routing: NodeRouting,
    pub revision: i64,
    pub config_hash: Option<String>,
    pub applied_revision: Option<i64>,
    pub sync_error: Option<String>,
    pub sync_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    pub agent_status: Option<String>,
    pub agent_version: Option<String>,
    pub core_version: Option<String>,
    pub core_flavor: Option<String>,
    pub hostname: Option<String>,
    pub cpu_load: Option<i64>,
    pub memory_load: Option<i64>,
    pub clients: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_kind: Option<String>,
    pub last_error_at: Option<i64>,
    pub pending_ops: Vec<Op>,
    pub registered_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// What the node's core runs, as its agent last reported it; `None`: not reported.
    pub core_capabilities: Option<Capabilities>,
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row<'_>, column: &str) -> Result<T, ApiError> {
    serde_json::from_str(row.str(column)?)
        .map_err(|e| ApiError::internal(format!("nodes.{column}: {e}")))
}

impl Node {
    /// A new node: active, nothing configured, never registered.
    pub fn new(id: String, now: i64) -> Node {
        Node {
            id,
            name: String::new(),
            address: String::new(),
            status: "active".into(),
            inbounds: Vec::new(),
            outbounds: Vec::new(),
            rule_set_ids: Vec::new(),
            routing: NodeRouting::default(),
            revision: 0,
            config_hash: None,
            applied_revision: None,
            sync_error: None,
            sync_at: None,
            last_heartbeat_at: None,
            agent_status: None,
            agent_version: None,
            core_version: None,
            core_flavor: None,
            hostname: None,
            cpu_load: None,
            memory_load: None,
            clients: None,
            last_error: None,
            last_error_kind: None,
            last_error_at: None,
            pending_ops: Vec::new(),
            registered_at: None,
            created_at: now,
            updated_at: now,
            core_capabilities: None,
        }
    }

    pub fn from_row(row: Row<'_>) -> Result<Node, ApiError> {
        Ok(Node {
            id: row.string("id")?,
            name: row.string("name")?,
            address: row.string("address")?,
            status: row.string("status")?,
            inbounds: json_column(&row, "inbounds")?,
            outbounds: json_column(&row, "outbounds")?,
            rule_set_ids: json_column(&row, "rule_set_ids")?,
            routing: json_column(&row, "routing")?,
            revision: row.i64("revision")?,
            config_hash: row.opt_string("config_hash")?,
            applied_revision: row.opt_i64("applied_revision")?,
            sync_error: row.opt_string("sync_error")?,
            sync_at: row.opt_i64("sync_at")?,
            last_heartbeat_at: row.opt_i64("last_heartbeat_at")?,
            agent_status: row.opt_string("agent_status")?,
            agent_version: row.opt_string("agent_version")?,
            core_version: row.opt_string("core_version")?,
            core_flavor: row.opt_string("core_flavor")?,
            hostname: row.opt_string("hostname")?,
            cpu_load: row.opt_i64("cpu_load")?,
            memory_load: row.opt_i64("memory_load")?,
            clients: row.opt_i64("clients")?,
            last_error: row.opt_string("last_error")?,
            last_error_kind: row.opt_string("last_error_kind")?,
            last_error_at: row.opt_i64("last_error_at")?,
            pending_ops: json_column(&row, "pending_ops")?,
            registered_at: row.opt_i64("registered_at")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
            core_capabilities: row
                .opt_str("core_capabilities")?
                .and_then(|raw| serde_json::from_str(raw).ok()),
        })
    }

    /// Why `spec` is kept from the node and from exports (its core cannot run it, or has not
    /// said what it runs), or `None` when it goes out.
    pub fn held_back(&self, spec: &InboundSpec) -> Option<String> {
        xray::hold_back_reason(
            spec,
            self.core_capabilities.as_ref(),
            self.core_version.as_deref(),
        )
    }

    /// The inbounds that go to the node and to exports.
    pub fn live_inbounds(&self) -> impl Iterator<Item = &InboundSpec> {
        self.inbounds
            .iter()
            .filter(|spec| self.held_back(spec).is_none())
    }

    /// The inbounds as administrators see them: each held back one with `heldBack.reason`.
    fn inbounds_view(&self) -> Vec<InboundView> {
        let view = |spec: &InboundSpec| InboundView {
            spec: spec.clone(),
            held_back: self.held_back(spec).map(|reason| HeldBack { reason }),
        };
        self.inbounds.iter().map(view).collect()
    }

    /// The status the node really has: the stored one, except that an active node counts as in
    /// error while its agent is silent or its config was rejected. With the reason.
    pub fn effective_status(&self, now: i64) -> (&str, Option<String>) {
        if self.status != "active" {
            return (&self.status, None);
        }
        match self.last_heartbeat_at {
            None => ("error", Some("the agent has never connected".into())),
            Some(at) if now - at > HEARTBEAT_STALE_MS => (
                "error",
                Some(format!("no heartbeat for {} s", (now - at) / 1000)),
            ),
            _ => match (&self.sync_error, self.applied_revision) {
                (Some(error), applied) if applied != Some(self.revision) => {
                    ("error", Some(format!("config not applied: {error}")))
                }
                _ => ("active", None),
            },
        }
    }

    /// `synced`, `pending` (a newer revision is waiting), `failed` or `never` (no agent yet).
    pub fn sync_state(&self) -> &'static str {
        match (self.applied_revision, &self.sync_error) {
            (Some(applied), _) if applied == self.revision => "synced",
            (_, Some(_)) => "failed",
            (None, None) if self.registered_at.is_none() => "never",
            _ => "pending",
        }
    }

    /// What administrators see.
    pub fn view(&self, now: i64) -> NodeView {
        let (effective, reason) = self.effective_status(now);
        NodeView {
            id: self.id.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
            status: self.status.clone(),
            effective_status: effective.to_string(),
            status_reason: reason,
            inbounds: self.inbounds_view(),
            outbounds: self.outbounds.clone(),
            rule_set_ids: self.rule_set_ids.clone(),
            routing: self.routing.clone(),
            revision: self.revision,
            applied_revision: self.applied_revision,
            sync_state: self.sync_state(),
            sync_error: self.sync_error.clone(),
            sync_at: self.sync_at,
            registered: self.registered_at.is_some(),
            registered_at: self.registered_at,
            agent: AgentView {
                status: self.agent_status.clone(),
                version: self.agent_version.clone(),
                core_version: self.core_version.clone(),
                core_flavor: self.core_flavor.clone(),
                capabilities: self.core_capabilities.clone(),
                hostname: self.hostname.clone(),
                last_heartbeat_at: self.last_heartbeat_at,
                cpu: self.cpu_load,
                memory: self.memory_load,
                clients: self.clients,
            },
            last_error: self.last_error.as_ref().map(|message| LastError {
                kind: self.last_error_kind.clone(),
                message: message.clone(),
                at: self.last_error_at,
            }),
            pending_ops: self.pending_ops.clone(),
            online_links: None,
            online_users: None,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

pub fn load(db: &impl Executor, id: &str) -> Result<Node, ApiError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM nodes WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(Node::from_row)
    .transpose()?
    .ok_or_else(|| ApiError::not_found("node_not_found", format!("no node with id {id}")))
}

pub fn all(db: &impl Executor) -> Result<Vec<Node>, ApiError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM nodes ORDER BY created_at, id"),
        &[],
    )?
    .iter()
    .map(Node::from_row)
    .collect()
}

/// JSON text of a value for a TEXT column.
pub fn text(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Errors kept per node.
const ERRORS_KEPT: i64 = 100;

/// Stores an error of the node, shows it on the node and keeps only the newest ones; nothing
/// when the node is gone.
pub fn keep_error(
    tx: &Transaction,
    node: &str,
    kind: &str,
    message: &str,
    at: i64,
    now: i64,
) -> Result<(), ApiError> {
    let shown = tx.execute(
        "UPDATE nodes SET last_error = $2, last_error_kind = $3, last_error_at = $4 WHERE id = $1",
        &[node.into(), message.into(), kind.into(), at.into()],
    )?;
    if shown == 0 {
        // The node was deleted meanwhile (a config pass that read it before): there is nothing
        // to show the error on, and its list went with it.
        return Ok(());
    }
    tx.execute(
        "INSERT INTO node_errors (id, node_id, kind, message, at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            id::new_v4().into(),
            node.into(),
            kind.into(),
            message.into(),
            at.into(),
            now.into(),
        ],
    )?;
    tx.execute(
        "DELETE FROM node_errors WHERE node_id = $1 AND id NOT IN \
         (SELECT id FROM node_errors WHERE node_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
        &[node.into(), ERRORS_KEPT.into()],
    )?;
    Ok(())
}
