//! `nexuma admin create`: the first administrator, made from the command line.

use anyhow::{bail, Context};

use crate::account::Accounts;
use crate::bindings::nexuma::core::db::Value;
use crate::iface::clock::now_ms;
use crate::iface::passwords;

/// Creates an active admin, or promotes an existing account with the same email and sets its
/// password. Returns a line for the operator.
pub async fn create(
    accounts: &Accounts<'_>,
    email: &str,
    password: &str,
    name: Option<&str>,
) -> anyhow::Result<String> {
    let email = email.trim().to_lowercase();
    let looks_like_email = email
        .split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
    if !looks_like_email {
        bail!("--email {email:?} is not an email address");
    }
    if password.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    let db = accounts.db;
    let hash = passwords::hash(password.to_string()).await?;
    let now = now_ms();
    let existing = db
        .query(
            "SELECT id FROM users WHERE email = $1",
            &[Value::Text(email.clone())],
        )
        .await
        .context("looking up the account")?;
    if let Some(Value::Text(id)) = existing.rows.first().and_then(|r| r.first()) {
        db.execute(
            "UPDATE users SET role = 'admin', status = 'active', blocked = $1, password_hash = $2, updated_at = $3 WHERE id = $4",
            &[Value::Boolean(false), Value::Text(hash), Value::Int(now), Value::Text(id.clone())],
        )
        .await
        .context("promoting the account")?;
        // A running Core may hold a copy of the old standing (a user, or blocked).
        if let Err(e) = accounts.changed(id).await {
            tracing::warn!(error = %e, "could not signal the change to running Cores; it takes effect within 10 minutes");
        }
        return Ok(format!(
            "existing account {email} ({id}) is now an active admin with the new password"
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    db.execute(
        "INSERT INTO users (id, email, password_hash, name, role, status, blocked, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'admin', 'active', $5, $6, $6)",
        &[
            Value::Text(id.clone()),
            Value::Text(email.clone()),
            Value::Text(hash),
            name.map_or(Value::Null, |n| Value::Text(n.to_string())),
            Value::Boolean(false),
            Value::Int(now),
        ],
    )
    .await
    .context("creating the account")?;
    Ok(format!("admin {email} created ({id})"))
}
