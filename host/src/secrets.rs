//! The token secrets a Core signs with: the environment's, or — in development, when it sets
//! none — random ones generated at first start and kept in the database (`host_secrets`), so
//! replicas share them and restarts keep sessions. Never a constant in the source: a token
//! signed with a published secret would be an admin token on any Core that used it.

use crate::bindings::nexuma::core::db::Value;
use crate::config::{Config, Secrets};
use crate::iface::clock::now_ms;
use crate::iface::db::Database;

/// The secrets to sign with; generates and stores a missing one.
pub async fn resolve(config: &Config, db: &Database) -> Result<Secrets, sqlx::Error> {
    let access = match &config.jwt_secret {
        Some(s) => s.clone(),
        None => kept(db, "jwt_access").await?,
    };
    let refresh = match &config.jwt_refresh_secret {
        Some(s) => s.clone(),
        None => kept(db, "jwt_refresh").await?,
    };
    if config.jwt_secret.is_none() || config.jwt_refresh_secret.is_none() {
        tracing::warn!(
            "JWT_SECRET/JWT_REFRESH_SECRET not set: using secrets generated for this database \
             (development); set both, and NODE_ENV=production, before exposing this Core"
        );
    }
    Ok(Secrets { access, refresh })
}

/// The stored secret `name`; the first replica to ask creates it, the others read the winner's.
async fn kept(db: &Database, name: &str) -> Result<String, sqlx::Error> {
    let now = now_ms();
    db.execute(
        "INSERT INTO host_secrets (name, value, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO NOTHING",
        &[
            Value::Text(name.into()),
            Value::Text(random_secret()),
            Value::Int(now),
        ],
    )
    .await?;
    let rows = db
        .query(
            "SELECT value FROM host_secrets WHERE name = $1",
            &[Value::Text(name.into())],
        )
        .await?;
    match rows.rows.first().and_then(|r| r.first()) {
        Some(Value::Text(value)) => Ok(value.clone()),
        _ => Err(sqlx::Error::RowNotFound),
    }
}

/// 64 hex characters from the OS's random source (two v4 UUIDs: 244 random bits).
fn random_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
