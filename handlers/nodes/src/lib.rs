//! `nodes`: the Core's nodes — administration (`/admin/nodes`, `/admin/routing-rule-sets`),
//! registration with one-time codes, the private `/node/*` API that agents in pull mode call
//! (docs/node-protocol.md), node config building with revisions, and traffic accounting.
//!
//! Tables: `migrations/*/0005_nodes.sql`. The revision pass reads the `node_changes` outbox that
//! billing, auth and this component write.

mod admin;
mod build;
mod model;
mod private;
mod revisions;
mod routing;
mod secrets;
mod usage;

use nexuma_sdk::response::Page;
use nexuma_sdk::{clock, export_component, ApiError, AuthLevel, Component, Endpoint, Job};
use serde_json::Value;

use crate::admin::{Code, CodeBody, KeyPair, ListQuery, NodeError, Revoked, SyncReport};
use crate::build::NodeConfig;
use crate::model::{NodeView, Op};
use crate::private::{
    AppliedBody, ErrorBody, HeartbeatAnswer, HeartbeatBody, RegisterBody, Registered,
};
use crate::routing::RuleSet;
use crate::usage::{Acknowledged, EventsBody, OutboundBody};

const REVISIONS_JOB: &str = "revisions";
const REVISIONS_EVERY_MS: u64 = 1_000;
/// Counts the usage reports waiting in the inbox (as many batches as a tick's budget allows).
const USAGE_JOB: &str = "usage";
const USAGE_EVERY_MS: u64 = 1_000;
/// Clears what is only kept for a while: processed outbox rows and old report ids.
const HOUSEKEEPING_JOB: &str = "housekeeping";
const HOUSEKEEPING_EVERY_MS: u64 = 3_600_000;

struct Nodes;

/// A body schema with `fields` required and not null: a create's, from the fields a change
/// may leave out (the handler refuses the create without them).
fn required(mut schema: Value, fields: &[&str]) -> Value {
    for field in fields {
        // `get_mut`, not indexing: indexing would add the keys it looks for, as nulls.
        let Some(property) = schema
            .get_mut("properties")
            .and_then(|p| p.get_mut(*field))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if let Some(Value::Array(types)) = property.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                let only = only.clone();
                property.insert("type".into(), only);
            }
        }
        if let Some(Value::Array(values)) = property.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
    }
    let mut list: Vec<Value> = schema["required"].as_array().cloned().unwrap_or_default();
    list.extend(fields.iter().map(|f| Value::from(*f)));
    schema["required"] = Value::Array(list);
    schema
}

impl Component for Nodes {
    const ROUTES: &'static [Endpoint] = &[
        Endpoint::get("/admin/nodes", admin::list)
            .auth(AuthLevel::Admin)
            .summary("Nodes with their effective status and sync state")
            .doc(|route| {
                route
                    .response_type::<Page<'static, NodeView>>()
                    .query_type::<ListQuery>()
            }),
        Endpoint::post("/admin/nodes", admin::create)
            .auth(AuthLevel::Admin)
            .summary("Create a node: address, inbounds, outbounds, routing rule sets")
            .doc(|route| {
                route
                    .request_schema(admin::create_schema())
                    .response_type::<NodeView>()
                    .status(201)
            }),
        Endpoint::post("/admin/nodes/sync", admin::sync)
            .auth(AuthLevel::Admin)
            .summary("Count waiting usage reports and rebuild the configs of nodes touched by recent changes, now (both also run every second)")
            .doc(|route| route.response_type::<SyncReport>()),
        Endpoint::post("/admin/nodes/reality-keys", admin::reality_keys)
            .auth(AuthLevel::Admin)
            .summary("A new REALITY X25519 key pair")
            .doc(|route| route.response_type::<KeyPair>()),
        Endpoint::get("/admin/nodes/:id", admin::get)
            .auth(AuthLevel::Admin)
            .summary("One node")
            .doc(|route| route.id_param("node").response_type::<NodeView>()),
        Endpoint::patch("/admin/nodes/:id", admin::update)
            .auth(AuthLevel::Admin)
            .summary("Change a node; node-facing edits move its revision")
            .doc(|route| {
                route
                    .id_param("node")
                    .request_type::<admin::Fields>()
                    .response_type::<NodeView>()
            }),
        Endpoint::delete("/admin/nodes/:id", admin::delete)
            .auth(AuthLevel::Admin)
            .summary("Delete a node and revoke its keys")
            .doc(|route| route.id_param("node").status(204)),
        Endpoint::post("/admin/nodes/:id/registration-code", admin::registration_code)
            .auth(AuthLevel::Admin)
            .summary("A one-time registration code for the node's agent (shown once)")
            .doc(|route| {
                route
                    .id_param("node")
                    .request_type::<CodeBody>()
                    .response_type::<Code>()
                    .status(201)
            }),
        Endpoint::post("/admin/nodes/:id/revoke-keys", admin::revoke_keys)
            .auth(AuthLevel::Admin)
            .summary("Revoke every key of the node (its agent needs a new code)")
            .doc(|route| route.id_param("node").response_type::<Revoked>()),
        Endpoint::post("/admin/nodes/:id/restart-core", admin::operation)
            .auth(AuthLevel::Admin)
            .summary("Ask the agent to restart its core")
            .doc(|route| route.id_param("node").response_type::<Op>().status(202)),
        Endpoint::post("/admin/nodes/:id/resync", admin::operation)
            .auth(AuthLevel::Admin)
            .summary("Ask the agent to fetch and apply its config again")
            .doc(|route| route.id_param("node").response_type::<Op>().status(202)),
        Endpoint::get("/admin/nodes/:id/config", admin::config)
            .auth(AuthLevel::Admin)
            .summary("The config the node gets for its latest revision")
            .doc(|route| route.id_param("node").response_type::<NodeConfig>()),
        Endpoint::get("/admin/nodes/:id/errors", admin::errors)
            .auth(AuthLevel::Admin)
            .summary("Errors the node's agent reported, newest first")
            .doc(|route| route.id_param("node").page_of::<NodeError>()),
        Endpoint::get("/admin/routing-rule-sets", routing::list)
            .auth(AuthLevel::Admin)
            .summary("Routing rule sets")
            .doc(|route| route.page_of::<RuleSet>()),
        Endpoint::post("/admin/routing-rule-sets", routing::create)
            .auth(AuthLevel::Admin)
            .summary("Create a routing rule set: rules, balancers, blocking options")
            .doc(|route| {
                route
                    .request_schema(routing::create_schema())
                    .response_type::<RuleSet>()
                    .status(201)
            }),
        Endpoint::get("/admin/routing-rule-sets/:id", routing::get)
            .auth(AuthLevel::Admin)
            .summary("One routing rule set")
            .doc(|route| route.id_param("rule set").response_type::<RuleSet>()),
        Endpoint::patch("/admin/routing-rule-sets/:id", routing::update)
            .auth(AuthLevel::Admin)
            .summary("Change a routing rule set; the nodes using it get new revisions")
            .doc(|route| {
                route
                    .id_param("rule set")
                    .request_type::<routing::Body>()
                    .response_type::<RuleSet>()
            }),
        Endpoint::delete("/admin/routing-rule-sets/:id", routing::delete)
            .auth(AuthLevel::Admin)
            .summary("Delete a routing rule set no node uses")
            .doc(|route| route.id_param("rule set").status(204)),
        Endpoint::post("/node/register", private::register)
            .summary("Node agent: a one-time code for a node id and key")
            .doc(|route| {
                route
                    .request_type::<RegisterBody>()
                    .response_type::<Registered>()
                    .status(201)
            }),
        Endpoint::post("/node/heartbeat", private::heartbeat)
            .auth(AuthLevel::Node)
            .summary("Node agent: state in, latest revision and operations out")
            .doc(|route| route.request_type::<HeartbeatBody>().response_type::<HeartbeatAnswer>()),
        Endpoint::get("/node/config/latest", private::config)
            .auth(AuthLevel::Node)
            .summary("Node agent: the latest config (304 with If-None-Match of the same revision)")
            .doc(|route| route.response_type::<NodeConfig>()),
        Endpoint::post("/node/config/applied", private::applied)
            .auth(AuthLevel::Node)
            .summary("Node agent: a revision applied, or why not")
            .doc(|route| route.request_type::<AppliedBody>().status(204)),
        Endpoint::post("/node/usage", usage::usage)
            .auth(AuthLevel::Node)
            .summary("Node agent: traffic per client (idempotent by reportId; counted within a second)")
            .doc(|route| {
                route
                    .request_type::<usage_report::UsageBody>()
                    .response_type::<Acknowledged>()
            }),
        Endpoint::post("/node/outbound-usage", usage::outbound_usage)
            .auth(AuthLevel::Node)
            .summary("Node agent: traffic per outbound (idempotent by reportId)")
            .doc(|route| route.request_type::<OutboundBody>().response_type::<Acknowledged>()),
        Endpoint::post("/node/session-events", usage::session_events)
            .auth(AuthLevel::Node)
            .summary("Node agent: clients that became active or idle")
            .doc(|route| route.request_type::<EventsBody>().status(204)),
        Endpoint::post("/node/error", private::error)
            .auth(AuthLevel::Node)
            .summary("Node agent: an error on the node")
            .doc(|route| route.request_type::<ErrorBody>().status(204)),
    ];

    fn jobs() -> Vec<Job> {
        vec![
            Job::every(REVISIONS_JOB, REVISIONS_EVERY_MS),
            Job::every(USAGE_JOB, USAGE_EVERY_MS),
            Job::every(HOUSEKEEPING_JOB, HOUSEKEEPING_EVERY_MS),
        ]
    }

    fn run_job(name: &str) -> Result<(), ApiError> {
        match name {
            REVISIONS_JOB => revisions::sync(clock::now_ms()).map(|_| ()),
            USAGE_JOB => usage::drain().map(|_| ()),
            HOUSEKEEPING_JOB => revisions::housekeeping(clock::now_ms()),
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

export_component!(Nodes);
