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
use nexuma_sdk::{
    clock, export_component, ApiError, AuthLevel, Component, Job, Request, Response, Route,
};
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
/// Counts the usage reports waiting in the inbox.
const USAGE_JOB: &str = "usage";
const USAGE_EVERY_MS: u64 = 1_000;
/// Clears what is only kept for a while: processed outbox rows and old report ids.
const HOUSEKEEPING_JOB: &str = "housekeeping";
const HOUSEKEEPING_EVERY_MS: u64 = 3_600_000;

struct Nodes;

fn admin(route: Route) -> Route {
    route.auth(AuthLevel::Admin)
}

fn node(route: Route) -> Route {
    route.auth(AuthLevel::Node)
}

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
    fn routes() -> Vec<Route> {
        vec![
            admin(Route::get("/admin/nodes"))
                .summary("Nodes with their effective status and sync state")
                .response_type::<Page<'static, NodeView>>()
                .query_type::<ListQuery>(),
            admin(Route::post("/admin/nodes"))
                .summary("Create a node: address, inbounds, outbounds, routing rule sets")
                .request_schema(admin::create_schema())
                .response_type::<NodeView>()
                .status(201),
            admin(Route::post("/admin/nodes/sync"))
                .summary("Count waiting usage reports and rebuild the configs of nodes touched by recent changes, now (both also run every second)")
                .response_type::<SyncReport>(),
            admin(Route::post("/admin/nodes/reality-keys"))
                .summary("A new REALITY X25519 key pair")
                .response_type::<KeyPair>(),
            admin(Route::get("/admin/nodes/:id").id_param("node"))
                .summary("One node")
                .response_type::<NodeView>(),
            admin(Route::patch("/admin/nodes/:id").id_param("node"))
                .summary("Change a node; node-facing edits move its revision")
                .request_type::<admin::Fields>()
                .response_type::<NodeView>(),
            admin(Route::delete("/admin/nodes/:id").id_param("node"))
                .summary("Delete a node and revoke its keys")
                .status(204),
            admin(Route::post("/admin/nodes/:id/registration-code").id_param("node"))
                .summary("A one-time registration code for the node's agent (shown once)")
                .request_type::<CodeBody>()
                .response_type::<Code>()
                .status(201),
            admin(Route::post("/admin/nodes/:id/revoke-keys").id_param("node"))
                .summary("Revoke every key of the node (its agent needs a new code)")
                .response_type::<Revoked>(),
            admin(Route::post("/admin/nodes/:id/restart-core").id_param("node"))
                .summary("Ask the agent to restart its core")
                .response_type::<Op>()
                .status(202),
            admin(Route::post("/admin/nodes/:id/resync").id_param("node"))
                .summary("Ask the agent to fetch and apply its config again")
                .response_type::<Op>()
                .status(202),
            admin(Route::get("/admin/nodes/:id/config").id_param("node"))
                .summary("The config the node gets for its latest revision")
                .response_type::<NodeConfig>(),
            admin(Route::get("/admin/nodes/:id/errors").id_param("node"))
                .summary("Errors the node's agent reported, newest first")
                .page_of::<NodeError>(),
            admin(Route::get("/admin/routing-rule-sets"))
                .summary("Routing rule sets")
                .page_of::<RuleSet>(),
            admin(Route::post("/admin/routing-rule-sets"))
                .summary("Create a routing rule set: rules, balancers, blocking options")
                .request_schema(routing::create_schema())
                .response_type::<RuleSet>()
                .status(201),
            admin(Route::get("/admin/routing-rule-sets/:id").id_param("rule set"))
                .summary("One routing rule set")
                .response_type::<RuleSet>(),
            admin(Route::patch("/admin/routing-rule-sets/:id").id_param("rule set"))
                .summary("Change a routing rule set; the nodes using it get new revisions")
                .request_type::<routing::Body>()
                .response_type::<RuleSet>(),
            admin(Route::delete("/admin/routing-rule-sets/:id").id_param("rule set"))
                .summary("Delete a routing rule set no node uses")
                .status(204),
            Route::post("/node/register")
                .summary("Node agent: a one-time code for a node id and key")
                .request_type::<RegisterBody>()
                .response_type::<Registered>()
                .status(201),
            node(Route::post("/node/heartbeat"))
                .summary("Node agent: state in, latest revision and operations out")
                .request_type::<HeartbeatBody>()
                .response_type::<HeartbeatAnswer>(),
            node(Route::get("/node/config/latest"))
                .summary("Node agent: the latest config (304 with If-None-Match of the same revision)")
                .response_type::<NodeConfig>(),
            node(Route::post("/node/config/applied"))
                .summary("Node agent: a revision applied, or why not")
                .request_type::<AppliedBody>()
                .status(204),
            node(Route::post("/node/usage"))
                .summary("Node agent: traffic per client (idempotent by reportId; counted within a second)")
                .request_type::<usage_report::UsageBody>()
                .response_type::<Acknowledged>(),
            node(Route::post("/node/outbound-usage"))
                .summary("Node agent: traffic per outbound (idempotent by reportId)")
                .request_type::<OutboundBody>()
                .response_type::<Acknowledged>(),
            node(Route::post("/node/session-events"))
                .summary("Node agent: clients that became active or idle")
                .request_type::<EventsBody>()
                .status(204),
            node(Route::post("/node/error"))
                .summary("Node agent: an error on the node")
                .request_type::<ErrorBody>()
                .status(204),
        ]
    }

    fn handle(req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.route.as_str()) {
            ("GET", "/admin/nodes") => admin::list(req),
            ("POST", "/admin/nodes") => admin::create(req),
            ("POST", "/admin/nodes/sync") => admin::sync(req),
            ("POST", "/admin/nodes/reality-keys") => admin::reality_keys(req),
            ("GET", "/admin/nodes/:id") => admin::get(req),
            ("PATCH", "/admin/nodes/:id") => admin::update(req),
            ("DELETE", "/admin/nodes/:id") => admin::delete(req),
            ("POST", "/admin/nodes/:id/registration-code") => admin::registration_code(req),
            ("POST", "/admin/nodes/:id/revoke-keys") => admin::revoke_keys(req),
            ("POST", "/admin/nodes/:id/restart-core") => admin::operation(req),
            ("POST", "/admin/nodes/:id/resync") => admin::operation(req),
            ("GET", "/admin/nodes/:id/config") => admin::config(req),
            ("GET", "/admin/nodes/:id/errors") => admin::errors(req),
            ("GET", "/admin/routing-rule-sets") => routing::list(req),
            ("POST", "/admin/routing-rule-sets") => routing::create(req),
            ("GET", "/admin/routing-rule-sets/:id") => routing::get(req),
            ("PATCH", "/admin/routing-rule-sets/:id") => routing::update(req),
            ("DELETE", "/admin/routing-rule-sets/:id") => routing::delete(req),
            ("POST", "/node/register") => private::register(req),
            ("POST", "/node/heartbeat") => private::heartbeat(req),
            ("GET", "/node/config/latest") => private::config(req),
            ("POST", "/node/config/applied") => private::applied(req),
            ("POST", "/node/usage") => usage::usage(req),
            ("POST", "/node/outbound-usage") => usage::outbound_usage(req),
            ("POST", "/node/session-events") => usage::session_events(req),
            ("POST", "/node/error") => private::error(req),
            _ => Err(req.unhandled()),
        }
    }

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
            USAGE_JOB => usage::apply_pending().map(|_| ()),
            HOUSEKEEPING_JOB => revisions::housekeeping(clock::now_ms()),
            _ => Err(ApiError::not_found(
                "unknown_job",
                format!("no job named {name}"),
            )),
        }
    }
}

export_component!(Nodes);
