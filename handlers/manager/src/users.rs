//! Manager users: `POST /users/new`, `POST /users/del`, `GET /users`.
//!
//! A manager user is a Core `users` row (role user, no email or password) with a row in
//! `subscription_links` whose UUID is the VPN credential; on every agent it is
//! `{name: <user id>, key: <link uuid>}`. `manager_users` records which users the Manager
//! created: only those may it delete, and only while billing has not taken them over.

use std::collections::HashMap;

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{account, clock, id, log, response, settings, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::agent::AgentUser;
use crate::nodes;

pub const NAME_MAX: usize = 100;

/// SQL condition on a `subscription_links l` row: the link grants access — a manager user's own
/// link, or a link of an active billing subscription (expired and cancelled ones never reach a
/// node).
pub const LIVE_LINK: &str = "(l.subscription_id IS NULL OR EXISTS (SELECT 1 FROM subscriptions s \
     WHERE s.id = l.subscription_id AND s.status = 'active'))";

/// Everyone who may connect (active, not blocked, with an enabled live link), one agent user
/// each.
pub fn agent_users(ex: &impl Executor) -> Result<Vec<AgentUser>, ApiError> {
    let rows = ex.query(
        &format!(
            "SELECT l.user_id, l.uuid FROM subscription_links l JOIN users u ON u.id = l.user_id \
             WHERE l.enabled = $1 AND u.status = $2 AND u.blocked = $3 AND {LIVE_LINK} \
             ORDER BY l.user_id, l.created_at, l.id"
        ),
        &[true.into(), "active".into(), false.into()],
    )?;
    let mut users: Vec<AgentUser> = Vec::new();
    for row in rows.iter() {
        let name = row.string("user_id")?;
        if users.last().map(|u| u.name == name).unwrap_or(false) {
            continue;
        }
        users.push(AgentUser {
            name,
            key: row.string("uuid")?,
        });
    }
    Ok(users)
}

/// Records whether `user_id` is on `node_id` (creating the row with zero traffic).
pub fn set_connected(
    ex: &impl Executor,
    node_id: &str,
    user_id: &str,
    connected: bool,
) -> Result<(), ApiError> {
    ex.execute(
        "INSERT INTO node_users (node_id, user_id, connected) VALUES ($1, $2, $3) \
         ON CONFLICT (node_id, user_id) DO UPDATE SET connected = excluded.connected",
        &[node_id.into(), user_id.into(), connected.into()],
    )?;
    Ok(())
}

/// Connected users per node id.
pub fn count_per_node(ex: &impl Executor) -> Result<HashMap<String, i64>, ApiError> {
    let rows = ex.query(
        "SELECT node_id, CAST(COUNT(*) AS BIGINT) AS n FROM node_users WHERE connected = $1 \
         GROUP BY node_id",
        &[true.into()],
    )?;
    rows.iter()
        .map(|r| Ok((r.string("node_id")?, r.i64("n")?)))
        .collect()
}

pub fn subscription_url(user_id: &str) -> String {
    format!("{}/subscription/{user_id}", settings::public_url())
}

/// `POST /users/new` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct NewBody {
    /// The user's name (trimmed), without control characters.
    #[schemars(length(min = 1, max = NAME_MAX), regex(pattern = nexuma_sdk::pattern::NOT_BLANK))]
    namesuggest: String,
}

/// `POST /users/new`'s answer.
#[derive(Serialize, JsonSchema)]
pub struct Created {
    #[schemars(extend("format" = "uuid"))]
    id: String,
    /// Its subscription's address (`GET /subscription/:id`).
    #[schemars(extend("format" = "uri"))]
    subscription: String,
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: NewBody = req.json()?;
    let name = body.namesuggest.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "namesuggest",
            format!("must be 1 to {NAME_MAX} characters, without control characters"),
        ));
    }
    let now = clock::now_ms();
    let user_id = id::new_v4();
    let link_uuid = id::new_v4();
    let tx = db::begin()?;
    tx.execute(
        "INSERT INTO users (id, email, password_hash, name, role, status, blocked, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            user_id.as_str().into(),
            None::<&str>.into(),
            None::<&str>.into(),
            name.into(),
            "user".into(),
            "active".into(),
            false.into(),
            now.into(),
            now.into(),
        ],
    )?;
    tx.execute(
        "INSERT INTO subscription_links (id, user_id, uuid, name, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            id::new_v4().into(),
            user_id.as_str().into(),
            link_uuid.as_str().into(),
            None::<&str>.into(),
            true.into(),
            now.into(),
            now.into(),
        ],
    )?;
    // Ownership: what this component made is what it may delete.
    tx.execute(
        "INSERT INTO manager_users (user_id, created_by, created_at) VALUES ($1, $2, $3)",
        &[
            user_id.as_str().into(),
            admin.id.as_str().into(),
            now.into(),
        ],
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "user.create",
            target_type: "user",
            target_id: &user_id,
            before: None,
            after: Some(json!({ "name": name })),
        },
        now,
    )?;
    tx.commit()?;

    // Onto every node that is up now; the others get it from the watchdog when they return.
    let user = [AgentUser {
        name: user_id.clone(),
        key: link_uuid,
    }];
    let mut reached = 0;
    let nodes = nodes::active(&Pool)?;
    for node in &nodes {
        let ok = node.online && node.agent().add_users(&user).is_ok();
        reached += usize::from(ok);
        set_connected(&Pool, &node.id, &user_id, ok)?;
    }
    log::info(
        "user created",
        &[
            ("userId", &user_id),
            ("adminId", &admin.id),
            ("nodes", &nodes.len().to_string()),
            ("nodesReached", &reached.to_string()),
        ],
    );
    response::json(
        200,
        &Created {
            subscription: subscription_url(&user_id),
            id: user_id,
        },
    )
}

/// `POST /users/del` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
pub struct DelBody {
    /// The id `POST /users/new` answered (anything else is not found).
    id: String,
}

/// `POST /users/del`'s answer: the user deleted.
#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    #[schemars(extend("format" = "uuid"))]
    id: String,
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: DelBody = req.json()?;
    if !id::is_uuid(&body.id) {
        return Err(user_not_found());
    }
    let target = Target::load(&Pool, &body.id)?.ok_or_else(user_not_found)?;
    if let Some(refusal) = target.refusal(&admin.id) {
        return Err(refusal);
    }
    let rows = Pool.query(
        "SELECT uuid FROM subscription_links WHERE user_id = $1",
        &[body.id.as_str().into()],
    )?;
    let keys: Vec<AgentUser> = rows
        .iter()
        .map(|r| {
            Ok(AgentUser {
                name: body.id.clone(),
                key: r.string("uuid")?,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    // Off every node that is up; one that is down gets the exact user list when it returns.
    let mut removed = 0;
    for node in nodes::all(&Pool)? {
        if node.online && node.agent().del_users(&keys).is_ok() {
            removed += 1;
        }
    }
    let now = clock::now_ms();
    let tx = db::begin()?;
    // The same checks again as part of the delete: billing may have taken the user over since.
    let deleted = tx.execute(
        &format!("DELETE FROM users WHERE id = $1 AND {DELETABLE}"),
        &[body.id.as_str().into()],
    )?;
    if deleted == 0 {
        drop(tx);
        let target = Target::load(&Pool, &body.id)?.ok_or_else(user_not_found)?;
        return Err(target
            .refusal(&admin.id)
            .unwrap_or_else(|| ApiError::conflict("conflict", "the user changed; try again")));
    }
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "user.delete",
            target_type: "user",
            target_id: &body.id,
            before: Some(json!({ "links": keys.len() })),
            after: None,
        },
        now,
    )?;
    tx.commit()?;
    // The host drops the deleted account's tokens on their next use.
    account::changed(&body.id);
    log::info(
        "user deleted",
        &[
            ("userId", &body.id),
            ("adminId", &admin.id),
            ("nodesReached", &removed.to_string()),
        ],
    );
    response::json(200, &Deleted { id: body.id })
}

fn user_not_found() -> ApiError {
    ApiError::not_found("user_not_found", "no user with this id")
}

/// SQL condition on a `users` row the Manager may delete: one it created, that billing has not
/// taken over (no subscriptions, no money moved).
const DELETABLE: &str = "EXISTS (SELECT 1 FROM manager_users m WHERE m.user_id = users.id) \
     AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.user_id = users.id) \
     AND NOT EXISTS (SELECT 1 FROM balance_ledger b WHERE b.user_id = users.id)";

/// What decides whether `POST /users/del` may delete a user.
struct Target {
    id: String,
    /// Created by the Manager (`POST /users/new`).
    managed: bool,
    /// Billing subscriptions and balance movements: the account is a customer now.
    subscriptions: i64,
    movements: i64,
}

impl Target {
    fn load(ex: &impl Executor, id: &str) -> Result<Option<Target>, ApiError> {
        let rows = ex.query(
            "SELECT u.id, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM manager_users m WHERE m.user_id = u.id) AS managed, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM subscriptions s WHERE s.user_id = u.id) AS subscriptions, \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM balance_ledger b WHERE b.user_id = u.id) AS movements \
             FROM users u WHERE u.id = $1",
            &[id.into()],
        )?;
        rows.first()
            .map(|r| {
                Ok(Target {
                    id: r.string("id")?,
                    managed: r.i64("managed")? > 0,
                    subscriptions: r.i64("subscriptions")?,
                    movements: r.i64("movements")?,
                })
            })
            .transpose()
    }

    /// Why the Manager must not delete this user, if it must not: 409 naming the reason.
    fn refusal(&self, caller_id: &str) -> Option<ApiError> {
        if self.id == caller_id {
            return Some(ApiError::conflict(
                "cannot_delete_self",
                "this is your own account; the Node Manager deletes only the VPN users it created",
            ));
        }
        if !self.managed {
            return Some(ApiError::conflict(
                "not_a_manager_user",
                format!(
                    "user {} was not created by the Node Manager (POST /users/new); \
                     it is not deleted here",
                    self.id
                ),
            ));
        }
        if self.subscriptions > 0 || self.movements > 0 {
            return Some(ApiError::conflict(
                "user_has_billing",
                format!(
                    "user {} has {} subscription(s) and {} balance transaction(s) in billing; \
                     it is a customer now and is not deleted here",
                    self.id, self.subscriptions, self.movements
                ),
            ));
        }
        None
    }
}

/// A user with traffic per node (KiB) and totals (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserTraffic {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub name: Option<String>,
    /// Its subscription's address.
    #[schemars(extend("format" = "uri"))]
    pub subscription: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    pub nodes: Vec<NodeTraffic>,
    /// KiB sent by the user, on every node.
    pub total_incoming: i64,
    /// KiB sent to the user, on every node.
    pub total_outcoming: i64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeTraffic {
    #[schemars(extend("format" = "uuid"))]
    pub node_id: String,
    /// The node's name.
    pub node: String,
    pub connected: bool,
    /// KiB sent by the user.
    pub incoming: i64,
    /// KiB sent to the user.
    pub outcoming: i64,
}

/// Every manager user (those with a link), oldest first, with their traffic.
pub fn with_traffic(ex: &impl Executor) -> Result<Vec<UserTraffic>, ApiError> {
    let rows = ex.query(
        "SELECT u.id, u.name, u.created_at FROM users u WHERE EXISTS \
         (SELECT 1 FROM subscription_links l WHERE l.user_id = u.id) ORDER BY u.created_at, u.id",
        &[],
    )?;
    let mut users: Vec<UserTraffic> = rows
        .iter()
        .map(|r| {
            let id = r.string("id")?;
            Ok(UserTraffic {
                subscription: subscription_url(&id),
                id,
                name: r.opt_string("name")?,
                created_at: r.i64("created_at")?,
                nodes: Vec::new(),
                total_incoming: 0,
                total_outcoming: 0,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let index: HashMap<String, usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.clone(), i))
        .collect();
    let rows = ex.query(
        "SELECT nu.user_id, nu.node_id, n.name, nu.connected, nu.total_incoming, \
         nu.total_outcoming FROM node_users nu JOIN manager_nodes n ON n.id = nu.node_id \
         ORDER BY n.name, n.created_at",
        &[],
    )?;
    for r in rows.iter() {
        let Some(&i) = index.get(r.str("user_id")?) else {
            continue;
        };
        let t = NodeTraffic {
            node_id: r.string("node_id")?,
            node: r.string("name")?,
            connected: r.bool("connected")?,
            incoming: r.i64("total_incoming")?,
            outcoming: r.i64("total_outcoming")?,
        };
        users[i].total_incoming += t.incoming;
        users[i].total_outcoming += t.outcoming;
        users[i].nodes.push(t);
    }
    Ok(users)
}

pub fn list(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &with_traffic(&Pool)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(managed: bool, subscriptions: i64, movements: i64) -> Target {
        Target {
            id: "u-1".into(),
            managed,
            subscriptions,
            movements,
        }
    }

    fn code(t: &Target, caller: &str) -> Option<String> {
        t.refusal(caller)
            .map(|e| format!("{} {}", e.status, e.code))
    }

    /// The derived schemas say what the user routes take and answer: the name's bounds are the
    /// check's; a user's name may be null, its traffic figures are always there.
    #[test]
    fn the_schemas_say_what_users_take() {
        let new = nexuma_sdk::schema_of::<NewBody>();
        assert_eq!(new["required"], json!(["namesuggest"]));
        let name = &new["properties"]["namesuggest"];
        assert_eq!(
            (&name["minLength"], &name["maxLength"]),
            (&json!(1), &json!(NAME_MAX))
        );
        assert_eq!(name["pattern"], nexuma_sdk::pattern::NOT_BLANK);
        let listed = nexuma_sdk::answer_schema_of::<Vec<UserTraffic>>();
        let user = &listed["items"];
        assert_eq!(
            user["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(user["required"].as_array().map(Vec::len), Some(7), "{user}");
        let node = &user["properties"]["nodes"]["items"];
        assert_eq!(node["required"].as_array().map(Vec::len), Some(5), "{node}");
    }

    #[test]
    fn deletes_only_its_own_users_before_billing_takes_them() {
        assert_eq!(code(&target(true, 0, 0), "admin"), None);
        assert_eq!(
            code(&target(false, 0, 0), "admin").as_deref(),
            Some("409 not_a_manager_user")
        );
        assert_eq!(
            code(&target(true, 1, 0), "admin").as_deref(),
            Some("409 user_has_billing")
        );
        assert_eq!(
            code(&target(true, 0, 2), "admin").as_deref(),
            Some("409 user_has_billing")
        );
        assert_eq!(
            code(&target(false, 0, 0), "u-1").as_deref(),
            Some("409 cannot_delete_self")
        );
    }
}
