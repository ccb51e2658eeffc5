//! Shared records of what happened, written inside the transaction of the change they describe:
//! the audit log (`audit_log`: who did what, when, from which address, before/after) and the
//! outbox of node-facing changes (`node_changes`: what a node config builder must react to).
//! Both tables belong to the Core's schema (`migrations/*`); any component writes them.

use crate::db::Executor;
use crate::{id, ApiError, Request};

/// One audit entry about to be written.
pub struct Entry<'a> {
    /// What was done, e.g. `tariff.update` or `balance.deposit`.
    pub action: &'a str,
    /// The kind of thing it was done to, e.g. `tariff`.
    pub target_type: &'a str,
    /// The id of the thing it was done to.
    pub target_id: &'a str,
    /// The thing before the change (none for a creation).
    pub before: Option<serde_json::Value>,
    /// The thing after the change (none for a deletion).
    pub after: Option<serde_json::Value>,
}

/// Who did it: a caller from an address, or the Core itself (a background job).
pub struct Actor<'a> {
    /// The account that acted; none for the Core itself.
    pub id: Option<&'a str>,
    /// The address it acted from; none for the Core itself.
    pub ip: Option<&'a str>,
}

impl<'a> Actor<'a> {
    /// The request's caller from its address.
    pub fn of(req: &'a Request) -> Self {
        Actor {
            id: req.caller.as_ref().map(|c| c.id.as_str()),
            ip: Some(req.remote_addr.as_str()),
        }
    }

    /// The Core's own jobs: no actor, no address.
    pub const SYSTEM: Actor<'static> = Actor { id: None, ip: None };
}

/// Writes `entry` as done by `actor`.
pub fn audit(
    db: &impl Executor,
    actor: &Actor<'_>,
    entry: Entry<'_>,
    now: i64,
) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, ip, before, after, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            id::new_v4().into(),
            actor.id.into(),
            entry.action.into(),
            entry.target_type.into(),
            entry.target_id.into(),
            actor.ip.into(),
            entry.before.map(|v| v.to_string()).into(),
            entry.after.map(|v| v.to_string()).into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// Writes an audit entry for an admin's request: `action` on `target_type` `target_id`.
#[allow(clippy::too_many_arguments)]
pub fn audit_request(
    db: &impl Executor,
    req: &Request,
    target_type: &str,
    action: &str,
    target_id: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: i64,
) -> Result<(), ApiError> {
    audit(
        db,
        &Actor::of(req),
        Entry {
            action,
            target_type,
            target_id,
            before,
            after,
        },
        now,
    )
}

/// One node-facing change. `kind` is one of: `link.created`, `link.enabled`, `link.disabled`,
/// `link.reset` (detail: old and new UUID), `link.reconfigured`, `link.deleted` (detail: UUID),
/// `subscription.activated`, `subscription.expired`, `subscription.cancelled`,
/// `subscription.reactivated`, `tariff.permissions`, `user.access` (a user's status or block
/// flag changed), `node.config` (one node's own configuration changed).
#[derive(Default)]
pub struct Change<'a> {
    /// What changed: one of the kinds above.
    pub kind: &'a str,
    /// The user whose access it touches, if one.
    pub user_id: Option<&'a str>,
    /// The subscription it touches, if one.
    pub subscription_id: Option<&'a str>,
    /// The subscription link it touches, if one.
    pub link_id: Option<&'a str>,
    /// The tariff it touches, if one.
    pub tariff_id: Option<&'a str>,
    /// The node it touches, if one.
    pub node_id: Option<&'a str>,
    /// What a node needs beyond the ids, e.g. a link's old and new UUID.
    pub detail: Option<serde_json::Value>,
}

/// Writes `change` to the `node_changes` outbox. What nodes serve is what subscriptions show, so
/// the content epoch moves too (after the commit).
pub fn node_change(db: &impl Executor, change: Change<'_>, now: i64) -> Result<(), ApiError> {
    db.content_changed();
    db.execute(
        "INSERT INTO node_changes (kind, user_id, subscription_id, link_id, tariff_id, node_id, \
         detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            change.kind.into(),
            change.user_id.into(),
            change.subscription_id.into(),
            change.link_id.into(),
            change.tariff_id.into(),
            change.node_id.into(),
            change.detail.map(|d| d.to_string()).into(),
            now.into(),
        ],
    )?;
    Ok(())
}
