//! Subscribers straight into PostgreSQL, set-based, for the parts that need thousands of them:
//! going through the API one by one would take longer than the measurement.

use anyhow::Context;
use sqlx::PgConnection;

/// A free tariff in the balances' currency (the only one the API takes) without time or traffic
/// limits, for every protocol and every node (the empty lists), with no external sources; its id.
pub async fn tariff(db: &mut PgConnection) -> anyhow::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO tariffs (id, name, price, currency, duration_months, traffic_limit_bytes, \
         protocols, node_ids, external_source_ids, active, created_at, updated_at) \
         VALUES ($1, 'bench', 0, 'RUB', NULL, NULL, '[]', '[]', '[]', TRUE, $2, $2)",
    )
    .bind(&id)
    .bind(now_ms())
    .execute(&mut *db)
    .await
    .context("cannot seed the tariff")?;
    Ok(id)
}

/// Clients `from` to `to` (inclusive, counted from 1): for each an active user, an active
/// subscription of `tariff` and an enabled link with a random UUID, in one statement; then
/// fresh planner statistics, as autovacuum would gather them on tables this size.
pub async fn clients(
    db: &mut PgConnection,
    tariff: &str,
    from: u64,
    to: u64,
) -> anyhow::Result<()> {
    insert_clients(db, tariff, from, to, None).await?;
    analyze(db).await
}

/// [`clients`] who can log in: user `i` has the email [`login_email`]`(i)` and the password
/// whose hash is `password_hash` (one argon2 hash for all: hashing a million passwords would
/// take hours, and a login costs the same whatever the salt). No `ANALYZE`: the caller runs
/// [`analyze`] once it has seeded what it needs.
pub async fn clients_with_login(
    db: &mut PgConnection,
    tariff: &str,
    from: u64,
    to: u64,
    password_hash: &str,
) -> anyhow::Result<()> {
    insert_clients(db, tariff, from, to, Some(password_hash)).await
}

/// The email of the `i`-th client seeded by [`clients_with_login`].
pub fn login_email(i: u64) -> String {
    format!("bench-{i}@example.com")
}

/// Fresh planner statistics, as autovacuum would gather them on tables this size.
pub async fn analyze(db: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::raw_sql("ANALYZE users, subscriptions, subscription_links, tariffs")
        .execute(&mut *db)
        .await
        .context("cannot ANALYZE the seeded tables")?;
    Ok(())
}

/// Access tokens for `ids` (users with the role `user`), signed with the bench Core's secret
/// the way the Core signs them (its own signer), in the same order.
pub fn access_tokens(ids: &[String]) -> anyhow::Result<Vec<String>> {
    use crate::settings::{JWT_REFRESH_SECRET, JWT_SECRET};
    let config = nexuma_host::config::Config::from_env(&[
        ("JWT_SECRET", JWT_SECRET),
        ("JWT_REFRESH_SECRET", JWT_REFRESH_SECRET),
    ])?;
    let secrets = nexuma_host::config::Secrets {
        access: JWT_SECRET.into(),
        refresh: JWT_REFRESH_SECRET.into(),
    };
    let tokens = nexuma_host::iface::tokens::Tokens::new(&config.tokens, &secrets);
    Ok(ids
        .iter()
        .map(|id| tokens.issue_access(id, "user").token)
        .collect())
}

/// The rows of [`clients`]; with `password_hash`, the [`login_email`] and that hash.
async fn insert_clients(
    db: &mut PgConnection,
    tariff: &str,
    from: u64,
    to: u64,
    password_hash: Option<&str>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (first, last) = (to_i64(from)?, to_i64(to)?);
    // Referenced before it is used, the CTE is computed once: each row's ids stay the same
    // in the three inserts. Foreign keys are checked at the end of the statement. The email
    // is `login_email`'s, written in SQL.
    sqlx::query(
        "WITH s AS MATERIALIZED ( \
           SELECT i, gen_random_uuid()::text AS user_id, gen_random_uuid()::text AS sub_id, \
                  gen_random_uuid()::text AS link_id, gen_random_uuid()::text AS link_uuid \
           FROM generate_series($1::bigint, $2::bigint) AS i \
         ), u AS ( \
           INSERT INTO users (id, email, password_hash, name, role, status, blocked, \
             created_at, updated_at) \
           SELECT user_id, CASE WHEN $5::text IS NULL THEN NULL \
                  ELSE 'bench-' || i || '@example.com' END, $5::text, \
                  'bench user ' || i, 'user', 'active', FALSE, $4, $4 FROM s \
         ), sub AS ( \
           INSERT INTO subscriptions (id, user_id, tariff_id, status, price, currency, \
             traffic_used_bytes, auto_renew, anchor_at, periods, period_start, renewals, \
             created_at, updated_at) \
           SELECT sub_id, user_id, $3, 'active', 0, 'RUB', 0, FALSE, $4, 1, $4, 0, $4, $4 \
           FROM s \
         ) \
         INSERT INTO subscription_links (id, user_id, uuid, enabled, subscription_id, \
           created_at, updated_at) \
         SELECT link_id, user_id, link_uuid, TRUE, sub_id, $4, $4 FROM s",
    )
    .bind(first)
    .bind(last)
    .bind(tariff)
    .bind(now_ms())
    .bind(password_hash)
    .execute(&mut *db)
    .await
    .with_context(|| format!("cannot seed clients {first} to {last}"))?;
    eprintln!(
        "   seeded clients {first} to {last} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn to_i64(n: u64) -> anyhow::Result<i64> {
    i64::try_from(n).with_context(|| format!("{n} does not fit a BIGINT"))
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
