//! Generated from the route table (`GET /openapi.json` of a Core running every operator
//! component), on both backends:
//!
//! - the authorization matrix: every route × anonymous, user, other user, admin, demoted admin,
//!   blocked user, deleted user, node key and another node's key, each held to what its route's
//!   level allows — an account's current role and state count, not what its token says;
//! - bad input on every route's fields: a NUL in every string, integers out of range, `%00` in
//!   path parameters and query strings — always a 4xx with a JSON error, never a 5xx or a hang.
//!
//! Each test gathers every violation and fails once, listing them all.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::routes::{self, Cred, Fixtures, Level, Outcome, Route};
use common::{exec_sql, Backend, Core, Options};
use serde_json::{json, Value};

/// Requests in flight at once.
const PARALLEL: usize = 8;
/// No request may take longer than this.
const DEADLINE: Duration = Duration::from_secs(10);
/// An address nothing listens on: outbound fetches fail at once.
const DEAD_URL: &str = "http://127.0.0.1:9/";

async fn start(backend: Backend) -> Core {
    Core::start_with(
        backend,
        Options::default().components(&common::production_components()),
    )
    .await
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Caller {
    Anonymous,
    User,
    OtherUser,
    Admin,
    DemotedAdmin,
    BlockedUser,
    DeletedUser,
    NodeKey,
    OtherNodeKey,
}

impl Caller {
    fn name(self) -> &'static str {
        match self {
            Caller::Anonymous => "anonymous",
            Caller::User => "user",
            Caller::OtherUser => "other user",
            Caller::Admin => "admin",
            Caller::DemotedAdmin => "demoted admin",
            Caller::BlockedUser => "blocked user",
            Caller::DeletedUser => "deleted user",
            Caller::NodeKey => "node key",
            Caller::OtherNodeKey => "other node's key",
        }
    }
}

/// Everything the tests call routes with.
struct World {
    admin: String,
    user: String,
    other: String,
    demoted: String,
    blocked: String,
    deleted: String,
    node_a: String,
    key_a: String,
    key_b: String,
    /// An operation queued for node A only.
    op_a: String,
    fixtures: Fixtures,
}

impl World {
    fn cred(&self, caller: Caller) -> Cred {
        let bearer = |t: &str| Cred::Bearer(t.to_string());
        match caller {
            Caller::Anonymous => Cred::None,
            Caller::User => bearer(&self.user),
            Caller::OtherUser => bearer(&self.other),
            Caller::Admin => bearer(&self.admin),
            Caller::DemotedAdmin => bearer(&self.demoted),
            Caller::BlockedUser => bearer(&self.blocked),
            Caller::DeletedUser => bearer(&self.deleted),
            Caller::NodeKey => Cred::NodeKey(self.key_a.clone()),
            Caller::OtherNodeKey => Cred::NodeKey(self.key_b.clone()),
        }
    }
}

async fn created(core: &Core, token: &str, path: &str, body: Value) -> Value {
    let r = core.post(path, Some(token), body).await;
    assert!(
        r.status == 200 || r.status == 201 || r.status == 202,
        "{path}: {} {}",
        r.status,
        r.text
    );
    r.body
}

/// A node with one inbound tagged `tag`, registered with a one-time code: (id, key).
async fn registered_node(
    core: &Core,
    admin: &str,
    name: &str,
    tag: &str,
    port: u16,
) -> (String, String) {
    let node = created(
        core,
        admin,
        "/admin/nodes",
        json!({ "name": name, "address": format!("{name}.example.com"),
                "inbounds": [{ "tag": tag, "protocol": "vless", "port": port }] }),
    )
    .await;
    let id = node["id"].as_str().expect("node id").to_string();
    let code = created(
        core,
        admin,
        &format!("/admin/nodes/{id}/registration-code"),
        json!({}),
    )
    .await;
    let r = core
        .post(
            "/node/register",
            None,
            json!({ "protocol": 1, "code": code["code"], "hostname": name,
                    "agentVersion": "0.1.0", "coreVersion": "V2Ray 4.34.0", "coreFlavor": "v2ray" }),
        )
        .await;
    assert_eq!(r.status, 201, "register {name}: {}", r.text);
    (id, r.str("key"))
}

/// The fixtures, and the callers in their states: the demoted admin logged in (and used its
/// token) while still an admin, the blocked user was blocked after it did, and the deleted
/// user's row is gone.
async fn world(core: &Core) -> World {
    let admin = core.admin_token().await;
    let (user, _, user_id) = core.register("user@example.com", "password-user").await;
    let (other, _, _) = core.register("other@example.com", "password-other").await;
    let (blocked, _, blocked_id) = core
        .register("blocked@example.com", "password-blocked")
        .await;
    let (deleted, _, deleted_id) = core
        .register("deleted@example.com", "password-deleted")
        .await;
    let out = core.run_cli(&[
        "admin",
        "create",
        "--email",
        "demoted@example.com",
        "--password",
        "demoted-password-1",
    ]);
    assert!(
        out.status.success(),
        "admin create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let demoted = core
        .login("demoted@example.com", "demoted-password-1")
        .await;
    let r = core.get("/me", Some(&demoted)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let demoted_id = r.str("id");

    // Resources: a tariff, the user's subscription with its link, two registered nodes, a
    // routing rule set, an external source, a Node Manager user.
    let tariff = created(
        core,
        &admin,
        "/admin/tariffs",
        json!({ "name": "Plan", "price": 0, "currency": "RUB", "durationMonths": 1 }),
    )
    .await["id"]
        .as_str()
        .expect("tariff id")
        .to_string();
    let sub = created(
        core,
        &admin,
        "/admin/subscriptions",
        json!({ "userId": user_id, "tariffId": tariff }),
    )
    .await;
    let sub_id = sub["id"].as_str().expect("subscription id").to_string();
    let link_id = sub["links"][0]["id"].as_str().expect("link id").to_string();
    let link_uuid = sub["links"][0]["uuid"]
        .as_str()
        .expect("link uuid")
        .to_string();
    let (node_a, key_a) = registered_node(core, &admin, "node-a", "a-in", 20001).await;
    let (_, key_b) = registered_node(core, &admin, "node-b", "b-in", 20002).await;
    let op_a = created(
        core,
        &admin,
        &format!("/admin/nodes/{node_a}/restart-core"),
        json!({}),
    )
    .await["id"]
        .as_str()
        .expect("op id")
        .to_string();
    let rule_set = created(
        core,
        &admin,
        "/admin/routing-rule-sets",
        json!({ "name": "Rules" }),
    )
    .await["id"]
        .as_str()
        .expect("rule set id")
        .to_string();
    let source = created(
        core,
        &admin,
        "/admin/external-subscriptions",
        json!({ "name": "Partner", "url": DEAD_URL }),
    )
    .await["id"]
        .as_str()
        .expect("source id")
        .to_string();
    let manager_user = created(core, &admin, "/users/new", json!({ "namesuggest": "vpn" })).await
        ["id"]
        .as_str()
        .expect("manager user id")
        .to_string();

    // Tokens used while the accounts were in good standing (so nothing may stay cached).
    let r = core.get("/me", Some(&blocked)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = core.get("/admin/users", Some(&demoted)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Then the accounts change under them, by another admin.
    let r = core
        .patch(
            &format!("/admin/users/{blocked_id}"),
            Some(&admin),
            json!({ "blocked": true }),
        )
        .await;
    assert_eq!(r.status, 200, "block: {}", r.text);
    let r = core
        .patch(
            &format!("/admin/users/{demoted_id}"),
            Some(&admin),
            json!({ "role": "user" }),
        )
        .await;
    assert_eq!(r.status, 200, "demote: {}", r.text);
    // No route deletes a registered account (the Node Manager's `/users/del` is for its own
    // users, which have no password), so the row goes with SQL. The token was never used, so
    // no cache anywhere can know the account.
    exec_sql(
        core,
        &format!("DELETE FROM users WHERE id = '{deleted_id}'"),
    )
    .await;

    let mut fixtures = Fixtures::default();
    fixtures.param(Some("users"), "id", &user_id);
    fixtures.param(Some("tariffs"), "id", &tariff);
    fixtures.owned_param(Some("subscriptions"), "id", &sub_id);
    fixtures.owned_param(Some("links"), "id", &link_id);
    fixtures.param(Some("nodes"), "id", &node_a);
    fixtures.param(Some("routing-rule-sets"), "id", &rule_set);
    fixtures.param(Some("external-subscriptions"), "id", &source);
    fixtures.owned_param(Some("sub"), "uuid", &link_uuid);
    fixtures.param(None, "format", "v2ray");
    fixtures.param(Some("subscription"), "id", &manager_user);
    fixtures.field("userId", &user_id);
    fixtures.field("tariffId", &tariff);
    fixtures.field("subscriptionId", &sub_id);
    fixtures.field("currency", "RUB");
    fixtures.field("url", DEAD_URL);
    // `POST /users/del {id}`: the Node Manager's own user.
    fixtures.field("id", &manager_user);

    World {
        admin,
        user,
        other,
        demoted,
        blocked,
        deleted,
        node_a,
        key_a,
        key_b,
        op_a,
        fixtures,
    }
}

/// The served routes; checks that every operator component's routes are there and that each
/// route's documented level agrees with its security requirement.
async fn route_table(core: &Core, violations: &mut Vec<String>) -> Vec<Route> {
    let table = routes::table(core).await;
    for probe in [
        "/auth/login",
        "/admin/users/:id",
        "/nodes",
        "/admin/tariffs/:id",
        "/node/heartbeat",
        "/sub/:uuid",
    ] {
        assert!(
            table.iter().any(|r| r.pattern == probe),
            "{probe} is not in /openapi.json: {:?}",
            table.iter().map(Route::label).collect::<Vec<_>>()
        );
    }
    for route in &table {
        // `/metrics` has a gate of its own (`METRICS_TOKEN`), not an auth level.
        let host_route = route.pattern == "/metrics";
        if !route.level_documented && !host_route {
            violations.push(format!(
                "{}: no x-nexuma-auth in /openapi.json (level derived: {:?})",
                route.label(),
                route.level
            ));
        }
        let has = |scheme: &str| route.security.iter().any(|s| s == scheme);
        let agrees = match route.level {
            Level::Public => route.security.is_empty(),
            Level::User | Level::Admin => has("bearerAuth"),
            Level::Node => has("nodeKey"),
        };
        if !agrees {
            violations.push(format!(
                "{}: x-nexuma-auth {:?} but security {:?}",
                route.label(),
                route.level,
                route.security
            ));
        }
    }
    table
}

// ---------------------------------------------------------------------------------------------
// The authorization matrix

/// What a caller must get on a route.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Status(u16),
    /// Let through: 2xx or 4xx, but not 401 or 403 (nor a 5xx other than an upstream's 502/504).
    Allowed,
    /// Never refused for the credential it carries (see `judge`), and no 5xx.
    Public,
}

fn expect(level: Level, caller: Caller, owned_params: bool) -> Expect {
    use Caller::*;
    match level {
        Level::Public => Expect::Public,
        Level::User => match caller {
            Anonymous | NodeKey | OtherNodeKey | DeletedUser => Expect::Status(401),
            BlockedUser => Expect::Status(403),
            OtherUser if owned_params => Expect::Status(404),
            User | OtherUser | Admin | DemotedAdmin => Expect::Allowed,
        },
        Level::Admin => match caller {
            Anonymous | NodeKey | OtherNodeKey | DeletedUser => Expect::Status(401),
            User | OtherUser | DemotedAdmin | BlockedUser => Expect::Status(403),
            Admin => Expect::Allowed,
        },
        Level::Node => match caller {
            NodeKey | OtherNodeKey => Expect::Allowed,
            _ => Expect::Status(401),
        },
    }
}

/// Why `got` breaks `expect`, if it does.
fn judge(expect: Expect, got: &Outcome, anonymous: Option<&Outcome>) -> Option<String> {
    let Some(status) = got.status else {
        return Some("no answer".into());
    };
    match expect {
        Expect::Status(want) if status != want => Some(format!("expected {want}")),
        Expect::Status(_) => None,
        Expect::Allowed if status == 401 || status == 403 => {
            Some("expected to be let through (not 401/403)".into())
        }
        // 502 and 504 say an upstream (a Node Manager agent, an external source) failed,
        // which is no matter of who calls.
        Expect::Allowed if status >= 500 && status != 502 && status != 504 => {
            Some("expected 2xx or 4xx".into())
        }
        Expect::Allowed => None,
        Expect::Public if status >= 500 => Some("a public route answered 5xx".into()),
        // Anonymous carries nothing to refuse. A token on a public route may change what the
        // component answers (the monitoring page is for admins), but the host never refuses
        // it: a refusal is the host's JSON error where anonymous got something else.
        Expect::Public if anonymous.is_some() && (status == 401 || status == 403) => {
            let host_refusal = matches!(
                got.body["error"]["code"].as_str(),
                Some(
                    "unauthorized"
                        | "invalid_token"
                        | "token_expired"
                        | "forbidden"
                        | "invalid_node_key"
                        | "account_blocked"
                        | "account_inactive"
                        | "account_deleted"
                )
            );
            let same_as_anonymous = anonymous.and_then(|a| a.status) == Some(status);
            (host_refusal && !same_as_anonymous)
                .then(|| "a public route refused the caller's credential".into())
        }
        Expect::Public => None,
    }
}

/// Another node's key acts as its own node only: it neither sees node A's config or pending
/// operations nor writes node A's state.
async fn node_isolation(core: &Core, w: &World, violations: &mut Vec<String>) {
    let client = routes::client(DEADLINE);
    let a = Cred::NodeKey(w.key_a.clone());
    let b = Cred::NodeKey(w.key_b.clone());
    let config_a = routes::call(&client, &core.base, "GET", "/node/config/latest", &a, None).await;
    let config_b = routes::call(&client, &core.base, "GET", "/node/config/latest", &b, None).await;
    if !config_a.text.contains("a-in") {
        violations.push(format!(
            "setup: GET /node/config/latest with node A's key lacks A's inbound: {}",
            config_a.show()
        ));
    }
    if config_b.text.contains("a-in") {
        violations.push(
            "GET /node/config/latest × other node's key: answered node A's config (inbound a-in)"
                .into(),
        );
    }
    let heartbeat = |version: &str| {
        json!({ "protocol": 1, "status": "Running", "agentVersion": version,
                "coreVersion": "V2Ray 4.34.0", "coreFlavor": "v2ray", "appliedRevision": null,
                "load": { "cpu": 1, "memory": 1 }, "clients": 0, "doneOps": [] })
    };
    let marker = "other-node-marker";
    let hb_b = routes::call(
        &client,
        &core.base,
        "POST",
        "/node/heartbeat",
        &b,
        Some(&heartbeat(marker)),
    )
    .await;
    if hb_b.text.contains(&w.op_a) {
        violations.push(format!(
            "POST /node/heartbeat × other node's key: handed out node A's operation {}",
            w.op_a
        ));
    }
    let hb_a = routes::call(
        &client,
        &core.base,
        "POST",
        "/node/heartbeat",
        &a,
        Some(&heartbeat("0.1.0")),
    )
    .await;
    if hb_a.status != Some(200) || !hb_a.text.contains(&w.op_a) {
        violations.push(format!(
            "setup: POST /node/heartbeat with node A's key should hand out A's operation: {}",
            hb_a.show()
        ));
    }
    let node = core
        .get(&format!("/admin/nodes/{}", w.node_a), Some(&w.admin))
        .await;
    if node.body["agent"]["version"] == marker {
        violations
            .push("POST /node/heartbeat × other node's key: wrote node A's agent state".into());
    }
}

both_backends!(authorization_matrix, |backend| async move {
    let core = start(backend).await;
    let w = world(&core).await;
    let mut violations = Vec::new();
    let table = route_table(&core, &mut violations).await;
    node_isolation(&core, &w, &mut violations).await;

    // Callers that must not change anything first (another user before the owner, so its 404
    // is about ownership, not a resource already gone), then the owner, then the demoted admin
    // (which acted as an admin while the host trusted the token's role), then the admin, whose
    // deletions come last.
    let phases: [&[Caller]; 4] = [
        &[
            Caller::Anonymous,
            Caller::NodeKey,
            Caller::OtherNodeKey,
            Caller::OtherUser,
            Caller::DeletedUser,
            Caller::BlockedUser,
        ],
        &[Caller::User],
        &[Caller::DemotedAdmin],
        &[Caller::Admin],
    ];
    let client = routes::client(DEADLINE);
    let mut results: HashMap<(usize, Caller), (Outcome, bool)> = HashMap::new();
    for phase in phases {
        let mut jobs = Vec::new();
        let mut keys = Vec::new();
        for (i, route) in table.iter().enumerate() {
            for &caller in phase {
                let (path, owned) = w.fixtures.fill(&route.pattern, None);
                let body = route
                    .request_schema
                    .as_ref()
                    .map(|s| routes::sample(s, "", &w.fixtures));
                let (client, base, method, cred) = (
                    client.clone(),
                    core.base.clone(),
                    route.method.clone(),
                    w.cred(caller),
                );
                keys.push((i, caller, owned));
                jobs.push(async move {
                    routes::call(&client, &base, &method, &path, &cred, body.as_ref()).await
                });
            }
        }
        for ((i, caller, owned), outcome) in
            keys.into_iter().zip(routes::bounded(PARALLEL, jobs).await)
        {
            results.insert((i, caller), (outcome, owned));
        }
    }

    let mut checked = 0;
    for (i, route) in table.iter().enumerate() {
        let anonymous = results.get(&(i, Caller::Anonymous)).map(|(o, _)| o);
        for phase in phases {
            for &caller in phase {
                let (outcome, owned) = &results[&(i, caller)];
                checked += 1;
                let want = expect(route.level, caller, *owned);
                let baseline = anonymous.filter(|_| caller != Caller::Anonymous);
                if let Some(why) = judge(want, outcome, baseline) {
                    violations.push(format!(
                        "{} [{:?}] × {}: got {} — {why}",
                        route.label(),
                        route.level,
                        caller.name(),
                        outcome.show()
                    ));
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} route × caller pairs");
    assert!(
        violations.is_empty(),
        "{backend:?}: {} of {checked} route × caller checks failed:\n{}\nThe Core's warnings and errors:\n{}",
        violations.len(),
        violations.join("\n"),
        complaints(&core.log())
    );
});

/// The last warning and error lines of a Core's log: what a 5xx in the matrix came from.
fn complaints(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// NUL and out-of-range numbers

/// One bad request: where it goes, as whom, with what.
struct Case {
    what: String,
    method: String,
    path: String,
    caller: Caller,
    level: Level,
    body: Option<Value>,
}

/// Who sends a route's bad input: the admin, anonymous too on public routes, node A's key on
/// node routes.
fn senders(level: Level) -> Vec<Caller> {
    match level {
        Level::Public => vec![Caller::Anonymous, Caller::Admin],
        Level::User | Level::Admin => vec![Caller::Admin],
        Level::Node => vec![Caller::NodeKey],
    }
}

/// The cases in three batches run one after the other: what changes nothing (or fails before
/// it could), then queries on routes that may change something today, deletions last.
fn cases(table: &[Route], fixtures: &Fixtures) -> [Vec<Case>; 3] {
    // What changes nothing, what may change something, deletions.
    let mut batches: [Vec<Case>; 3] = Default::default();
    for route in table {
        let (path, _) = fixtures.fill(&route.pattern, None);
        let plain_body = route
            .request_schema
            .as_ref()
            .map(|s| routes::sample(s, "", fixtures));
        let add = |list: &mut Vec<Case>, what: String, path: String, body: Option<Value>| {
            for caller in senders(route.level) {
                list.push(Case {
                    what: what.clone(),
                    method: route.method.clone(),
                    path: path.clone(),
                    caller,
                    level: route.level,
                    body: body.clone(),
                });
            }
        };
        // Every field of the body.
        if let Some(schema) = &route.request_schema {
            for field in routes::fields(schema) {
                let values = match field.kind {
                    "string" => vec![("NUL".to_string(), routes::with_nul(&field, fixtures))],
                    // A node's figures are kept within range, never refused, so a wrong clock
                    // or counter loses no heartbeat or usage (docs/node-protocol.md).
                    _ if route.level == Level::Node => Vec::new(),
                    _ => routes::out_of_range(&field),
                };
                for (label, value) in values {
                    let body = routes::body_with(schema, &field, value, fixtures);
                    add(
                        &mut batches[0],
                        format!("body {} = {label}", field.label()),
                        path.clone(),
                        Some(body),
                    );
                }
            }
        }
        // Every path parameter.
        for param in &route.params {
            let (poisoned, _) = fixtures.fill(&route.pattern, Some((param, "%00")));
            add(
                &mut batches[0],
                format!("path :{param} + %00"),
                poisoned,
                plain_body.clone(),
            );
        }
        // Queries go in the batch of what the route may change.
        let query_batch = if route.method == "GET" || route.level == Level::Node {
            0
        } else if route.method == "DELETE" {
            2
        } else {
            1
        };
        // Values each declared query parameter's schema rules out.
        for (name, schema) in &route.query {
            for (label, value) in routes::bad_query_values(schema) {
                let encoded: String =
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                let list = &mut batches[query_batch];
                add(
                    list,
                    format!("query {name} = {label}"),
                    format!("{path}?{name}={encoded}"),
                    plain_body.clone(),
                );
            }
        }
        // The query: the parameters the document declares or the summary names, else one no
        // route reads.
        let mut names = routes::query_names(&route.summary);
        for (name, _) in &route.query {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            names.push("q".into());
        }
        for name in names {
            let list = &mut batches[query_batch];
            add(
                list,
                format!("query {name}=x%00y"),
                format!("{path}?{name}=x%00y"),
                plain_body.clone(),
            );
        }
    }
    batches
}

fn judge_bad_input(case: &Case, got: &Outcome) -> Option<String> {
    let Some(status) = got.status else {
        return Some(format!("no answer within {DEADLINE:?}"));
    };
    if status >= 500 {
        return Some("a server error".into());
    }
    if status < 400 {
        return Some("accepted".into());
    }
    if case.level != Level::Public && (status == 401 || status == 403) {
        return Some("the authorised caller was refused".into());
    }
    // A HEAD answer has no body to carry the error (HTTP); its status says it.
    if case.method != "HEAD" && !got.is_json_error() {
        return Some(format!(
            "no JSON error body: {}",
            got.text.chars().take(120).collect::<String>()
        ));
    }
    None
}

both_backends!(nul_and_out_of_range_input, |backend| async move {
    let core = start(backend).await;
    let w = world(&core).await;
    let mut violations = Vec::new();
    let table = route_table(&core, &mut violations).await;
    let batches = cases(&table, &w.fixtures);
    let total: usize = batches.iter().map(Vec::len).sum();
    assert!(total > 200, "only {total} cases");
    let client = routes::client(DEADLINE);
    for batch in batches {
        let jobs: Vec<_> =
            batch
                .iter()
                .map(|case| {
                    let (client, base, method, path, cred, body) = (
                        client.clone(),
                        core.base.clone(),
                        case.method.clone(),
                        case.path.clone(),
                        w.cred(case.caller),
                        case.body.clone(),
                    );
                    async move {
                        routes::call(&client, &base, &method, &path, &cred, body.as_ref()).await
                    }
                })
                .collect();
        let outcomes = routes::bounded(PARALLEL, jobs).await;
        for (case, got) in batch.iter().zip(&outcomes) {
            if let Some(why) = judge_bad_input(case, got) {
                violations.push(format!(
                    "{} {} ({}) × {}: got {} — {why}",
                    case.method,
                    case.path.replace('\u{0}', "\\0"),
                    case.what,
                    case.caller.name(),
                    got.show()
                ));
            }
        }
    }
    // The admin's own token must have survived its own requests, or later refusals mean little.
    let r = core.get("/admin/users", Some(&w.admin)).await;
    if r.status != 200 {
        violations.push(format!(
            "after the run the admin's token gets {} on GET /admin/users (results after it \
             lost access are unreliable)",
            r.status
        ));
    }
    assert!(
        violations.is_empty(),
        "{backend:?}: {} of {total} bad-input cases failed:\n{}",
        violations.len(),
        violations.join("\n")
    );
});
