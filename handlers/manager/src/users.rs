//! Manager users: `POST /users/new`, `POST /users/del`, `GET /users`.
//!
//! A manager user is a Core `users` row (role user, no email or password) with a row in
//! `subscription_links` whose UUID is the VPN credential; on every agent it is
//! `{name: <user id>, key: <link uuid>}`. `manager_users` records which users the Manager
//! created: only those may it delete, and only while billing has not taken them over.

use std::collections::HashMap;

use nexuma_sdk::db::{self, Executor, Pool, Transaction};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{account, clock, id, log, response, settings, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::agent::AgentUser;
use crate::nodes;
use crate::roster::set_connected;

pub const NAME_MAX: usize = 100;

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

/// `POST /users/new`: a Core user with one link, recorded as the Manager's, then put on every
/// node that is up.
pub fn create(req: &Request) -> Result<Response, ApiError> {
    let admin = req.caller()?;
    let body: NewBody = req.json()?;
    let name = checked_name(&body.namesuggest)?;
    let now = clock::now_ms();
    let user = AgentUser {
        name: id::new_v4(),
        key: id::new_v4(),
    };
    let tx = db::begin()?;
    insert(&tx, &user, name, &admin.id, now)?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "user.create",
            target_type: "user",
            target_id: &user.name,
            before: None,
            after: Some(json!({ "name": name })),
        },
        now,
    )?;
    tx.commit()?;
    let (nodes, reached) = add_to_nodes(&user)?;
    log::info(
        "user created",
        &[
            ("userId", &user.name),
            ("adminId", &admin.id),
            ("nodes", &nodes.to_string()),
            ("nodesReached", &reached.to_string()),
        ],
    );
    response::json(
        200,
        &Created {
            subscription: subscription_url(&user.name),
            id: user.name,
        },
    )
}

/// The suggested name, trimmed, when it is one.
fn checked_name(raw: &str) -> Result<&str, ApiError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "namesuggest",
            format!("must be 1 to {NAME_MAX} characters, without control characters"),
        ));
    }
    Ok(name)
}

/// The user's row, its link (`user.key` the UUID) and the Manager's ownership of it.
fn insert(
    tx: &Transaction,
    user: &AgentUser,
    name: &str,
    admin_id: &str,
    now: i64,
) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO users (id, email, password_hash, name, role, status, blocked, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            user.name.as_str().into(),
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
            user.name.as_str().into(),
            user.key.as_str().into(),
            None::<&str>.into(),
            true.into(),
            now.into(),
            now.into(),
        ],
    )?;
    // Ownership: what this component made is what it may delete.
    tx.execute(
        "INSERT INTO manager_users (user_id, created_by, created_at) VALUES ($1, $2, $3)",
        &[user.name.as_str().into(), admin_id.into(), now.into()],
    )?;
    Ok(())
}

/// Puts `user` onto every node that is up now (the others get it from the watchdog when they
/// return): the active nodes, and how many were reached.
fn add_to_nodes(user: &AgentUser) -> Result<(usize, usize), ApiError> {
    let mut reached = 0;
    let nodes = nodes::active(&Pool)?;
    for node in &nodes {
        let ok = node.online && node.agent().add_users(std::slice::from_ref(user)).is_ok();
        reached += usize::from(ok);
        set_connected(&Pool, &node.id, &user.name, ok)?;
    }
    Ok((nodes.len(), reached))
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

/// `POST /users/del`: a user the Manager created, while billing has not taken it over; off every
/// node that is up, then deleted.
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
    let keys = agent_keys(&body.id)?;
    let removed = remove_from_nodes(&keys)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    if !delete_row(&tx, &body.id)? {
        drop(tx);
        return Err(refusal_now(&body.id, &admin.id));
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

/// The user as agents know it: one agent user per link.
fn agent_keys(user_id: &str) -> Result<Vec<AgentUser>, ApiError> {
    let rows = Pool.query(
        "SELECT uuid FROM subscription_links WHERE user_id = $1",
        &[user_id.into()],
    )?;
    rows.iter()
        .map(|r| {
            Ok(AgentUser {
                name: user_id.to_string(),
                key: r.string("uuid")?,
            })
        })
        .collect()
}

/// Takes `keys` off every node that is up (one that is down gets the exact user list when it
/// returns): how many were reached.
fn remove_from_nodes(keys: &[AgentUser]) -> Result<usize, ApiError> {
    let mut removed = 0;
    for node in nodes::all(&Pool)? {
        if node.online && node.agent().del_users(keys).is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Deletes the user's row with the same checks again as part of the delete (billing may have
/// taken the user over since they were read): whether it was deleted.
fn delete_row(tx: &Transaction, user_id: &str) -> Result<bool, ApiError> {
    let deleted = tx.execute(
        &format!("DELETE FROM users WHERE id = $1 AND {DELETABLE}"),
        &[user_id.into()],
    )?;
    Ok(deleted > 0)
}

/// Why a user read as deletable was not deleted after all: 409 naming what changed.
fn refusal_now(user_id: &str, admin_id: &str) -> ApiError {
    match Target::load(&Pool, user_id) {
        Ok(Some(target)) => target
            .refusal(admin_id)
            .unwrap_or_else(|| ApiError::conflict("conflict", "the user changed; try again")),
        Ok(None) => user_not_found(),
        Err(err) => err,
    }
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
