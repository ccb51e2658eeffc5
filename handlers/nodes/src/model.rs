//! A node as stored, how it reads, and its effective status.

use nexuma_sdk::db::{Executor, Row};
use nexuma_sdk::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xray::{Capabilities, InboundSpec};

pub const STATUSES: [&str; 4] = ["active", "disabled", "maintenance", "error"];
pub use xray::HEARTBEAT_STALE_MS;

pub const COLUMNS: &str = "id, name, address, status, inbounds, outbounds, rule_set_ids, routing, \
     revision, config_hash, applied_revision, sync_error, sync_at, last_heartbeat_at, \
     agent_status, agent_version, core_version, core_flavor, hostname, cpu_load, memory_load, \
     clients, last_error, last_error_kind, last_error_at, pending_ops, registered_at, created_at, \
     updated_at, core_capabilities";

/// Node-level routing: the domain strategy and rules that come before its rule sets'.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeRouting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_strategy: Option<String>,
    #[serde(default)]
    pub rules: Vec<Value>,
}

/// An operation an administrator asked the node's agent for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Op {
    pub id: String,
    pub kind: String,
    pub created_at: i64,
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
    fn inbounds_view(&self) -> Value {
        let views = self.inbounds.iter().map(|spec| {
            let mut view = json!(spec);
            if let Some(reason) = self.held_back(spec) {
                view["heldBack"] = json!({ "reason": reason });
            }
            view
        });
        Value::Array(views.collect())
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
    pub fn view(&self, now: i64) -> Value {
        let (effective, reason) = self.effective_status(now);
        json!({
            "id": self.id,
            "name": self.name,
            "address": self.address,
            "status": self.status,
            "effectiveStatus": effective,
            "statusReason": reason,
            "inbounds": self.inbounds_view(),
            "outbounds": self.outbounds,
            "ruleSetIds": self.rule_set_ids,
            "routing": self.routing,
            "revision": self.revision,
            "appliedRevision": self.applied_revision,
            "syncState": self.sync_state(),
            "syncError": self.sync_error,
            "syncAt": self.sync_at,
            "registered": self.registered_at.is_some(),
            "registeredAt": self.registered_at,
            "agent": {
                "status": self.agent_status,
                "version": self.agent_version,
                "coreVersion": self.core_version,
                "coreFlavor": self.core_flavor,
                "capabilities": self.core_capabilities,
                "hostname": self.hostname,
                "lastHeartbeatAt": self.last_heartbeat_at,
                "cpu": self.cpu_load,
                "memory": self.memory_load,
                "clients": self.clients,
            },
            "lastError": self.last_error.as_ref().map(|message| json!({
                "kind": self.last_error_kind,
                "message": message,
                "at": self.last_error_at,
            })),
            "pendingOps": self.pending_ops,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
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
