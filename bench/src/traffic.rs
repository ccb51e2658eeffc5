//! Traffic reads (issue 16): a user's month (`GET /me/traffic?period=month`) and the operator's
//! day of every user (`GET /admin/usage`, first page) over 10,000 users with 90 days of hourly
//! traffic each, on PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use http::Method;
use serde_json::Value;
use sqlx::PgConnection;

use crate::child::{Backend, Core, Setup};
use crate::load::{self, Plan, Target, Varied, Vary};
use crate::memory::Rss;
use crate::report::Section;
use crate::seed;
use crate::settings::Settings;

pub const USERS: u64 = 10_000;
pub const DAYS: i64 = 90;
/// The nodes the traffic is spread over (a user's link always on the same one).
pub const NODES: u64 = 10;
/// Connections of each load run: a few dashboards at once, not a flood that would measure
/// queueing on a small machine.
pub const CONNECTIONS: usize = 4;
/// Rows on the first page of `/admin/usage`.
pub const PAGE: u32 = 100;

const COMPONENTS: [&str; 4] = ["auth", "billing", "nodes", "usage"];
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct TrafficRun {
    /// Hourly rows seeded, and how long seeding took.
    pub rows: u64,
    pub seeded_in: Duration,
    pub month: load::Outcome,
    pub admin_day: load::Outcome,
    /// The Core's memory once both routes were loaded.
    pub rss: Option<Rss>,
}

pub async fn run(settings: &Settings, backend: Backend) -> Section<TrafficRun> {
    match measure(settings, &backend).await {
        Ok(run) => Section::Done(run),
        Err(e) => {
            eprintln!("   failed: {e:#}");
            Section::Failed(format!("{e:#}"))
        }
    }
}

async fn measure(settings: &Settings, backend: &Backend) -> anyhow::Result<TrafficRun> {
    let setup = Setup {
        components: &COMPONENTS,
        env: Vec::new(),
    };
    let core = Core::start(settings, backend, &setup).await?;
    let result = seed_and_load(settings, &core).await.map(|run| TrafficRun {
        rss: Rss::of(&core),
        ..run
    });
    core.stop().await;
    result
}

async fn seed_and_load(settings: &Settings, core: &Core) -> anyhow::Result<TrafficRun> {
    let admin = core.admin_token(settings).await?;
    let mut db = core.connect_database("traffic").await?;
    let started = std::time::Instant::now();
    let tariff = seed::tariff(&mut db).await?;
    seed::clients(&mut db, &tariff, 1, USERS).await?;
    let now = seed::now_ms();
    let rows = hourly_traffic(&mut db, now).await?;
    let seeded_in = started.elapsed();
    let users = users(&mut db).await?;
    check_month(core, &mut db, &users[0]).await?;
    let day = day_before(now);
    check_admin_day(core, &mut db, &admin, day).await?;
    let plan = Plan {
        warmup: settings.warmup,
        measure: settings.measure,
        connections: CONNECTIONS,
    };
    eprintln!(
        "   GET /me/traffic?period=month, {} users in turn",
        users.len()
    );
    let tokens = Arc::new(users.into_iter().map(|u| u.token).collect::<Vec<_>>());
    let month = load::run(&month_target(core, tokens), &plan).await?;
    load::print_outcome(&month);
    eprintln!("   GET /admin/usage (one day, every user, first page of {PAGE})");
    let admin_day = load::run(&core.target(&admin_day_path(day), Some(&admin)), &plan).await?;
    load::print_outcome(&admin_day);
    Ok(TrafficRun {
        rows,
        seeded_in,
        month,
        admin_day,
        rss: None,
    })
}

/// The start of the UTC day before the one `now` is in: a whole day of every user's traffic.
fn day_before(now: i64) -> i64 {
    now - now.rem_euclid(DAY_MS) - DAY_MS
}

fn admin_day_path(day: i64) -> String {
    format!(
        "/admin/usage?from={}&to={}&limit={PAGE}",
        rfc3339(day),
        rfc3339(day + DAY_MS)
    )
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn month_target(core: &Core, tokens: Arc<Vec<String>>) -> Target {
    let count = tokens.len() as u64;
    Target {
        vary: Some(Vary::new(move |n| Varied {
            path: "/me/traffic?period=month".into(),
            user_agent: None,
            // In range: `count` is the list's length and not zero (checked by the caller).
            bearer: Some(tokens[(n % count) as usize].clone()),
        })),
        ..core.target("/me/traffic?period=month", None)
    }
}

/// Every link's traffic for each of the last [`DAYS`] days' hours, written a day at a time in
/// time order (as the usage job writes it, hour after hour) with the table's keys and indexes
/// set aside and built again afterwards (as a restore would: row by row into three indexes
/// and a foreign key, 21.6 million rows take over half an hour here), then rolled up into
/// `traffic_daily` as the usage job keeps it, and `VACUUM ANALYZE`, as autovacuum would leave
/// tables this size. The row count.
async fn hourly_traffic(db: &mut PgConnection, now: i64) -> anyhow::Result<u64> {
    let first_hour = now - now.rem_euclid(HOUR_MS) - (DAYS * 24 - 1) * HOUR_MS;
    let aside = SetAside::take(db, "traffic_hourly").await?;
    let mut rows = 0u64;
    for day in 0..DAYS {
        let from = first_hour + day * DAY_MS;
        let done = sqlx::query(
            "INSERT INTO traffic_hourly (hour, user_id, node_id, link_id, up, down) \
             SELECT h, l.user_id, 'bench-node-' || (abs(hashtext(l.id)) % $3), l.id, \
                    (random() * 5e7)::bigint, (random() * 5e8)::bigint \
             FROM generate_series($1::bigint, $2::bigint, 3600000) AS h \
             CROSS JOIN subscription_links l",
        )
        .bind(from)
        .bind(from + DAY_MS - HOUR_MS)
        .bind(NODES as i32)
        .execute(&mut *db)
        .await
        .with_context(|| format!("cannot seed day {day} of traffic"))?;
        rows += done.rows_affected();
        if day % 30 == 29 {
            eprintln!("   seeded {} days of traffic ({rows} rows)", day + 1);
        }
    }
    aside.restore(db).await?;
    sqlx::query(
        "INSERT INTO traffic_daily (day, user_id, node_id, link_id, up, down) \
         SELECT hour - hour % 86400000, user_id, node_id, link_id, SUM(up), SUM(down) \
         FROM traffic_hourly GROUP BY hour - hour % 86400000, user_id, node_id, link_id",
    )
    .execute(&mut *db)
    .await
    .context("cannot roll the traffic up into days")?;
    sqlx::raw_sql("VACUUM ANALYZE traffic_hourly, traffic_daily")
        .execute(&mut *db)
        .await
        .context("cannot VACUUM ANALYZE the traffic tables")?;
    Ok(rows)
}

/// A table's primary and foreign keys and other indexes, dropped for a bulk load and created
/// again, from the catalog's own definitions, once it is done.
struct SetAside {
    table: String,
    /// (name, definition), the primary key first.
    constraints: Vec<(String, String)>,
    /// `CREATE INDEX` statements.
    indexes: Vec<String>,
}

impl SetAside {
    async fn take(db: &mut PgConnection, table: &str) -> anyhow::Result<SetAside> {
        let constraints: Vec<(String, String)> = sqlx::query_as(
            "SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = $1::regclass AND contype IN ('p', 'f') ORDER BY contype DESC",
        )
        .bind(table)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("cannot read the keys of {table}"))?;
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes \
             WHERE schemaname = current_schema() AND tablename = $1 AND indexname NOT IN \
             (SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass)",
        )
        .bind(table)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("cannot read the indexes of {table}"))?;
        for (name, _) in &indexes {
            exec(db, &format!("DROP INDEX \"{name}\"")).await?;
        }
        for (name, _) in constraints.iter().rev() {
            exec(
                db,
                &format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\""),
            )
            .await?;
        }
        Ok(SetAside {
            table: table.to_string(),
            constraints,
            indexes: indexes.into_iter().map(|(_, def)| def).collect(),
        })
    }

    async fn restore(self, db: &mut PgConnection) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        for (name, definition) in &self.constraints {
            let sql = format!(
                "ALTER TABLE {} ADD CONSTRAINT \"{name}\" {definition}",
                self.table
            );
            exec(db, &sql).await?;
        }
        for definition in &self.indexes {
            exec(db, definition).await?;
        }
        eprintln!(
            "   built the keys and indexes of {} in {:.1} s",
            self.table,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

async fn exec(db: &mut PgConnection, sql: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(sql)
        .execute(&mut *db)
        .await
        .with_context(|| format!("cannot run {sql}"))?;
    Ok(())
}

/// A seeded user and an access token for them.
struct User {
    id: String,
    token: String,
}

/// An access token per seeded user ([`seed::access_tokens`]), in random order.
async fn users(db: &mut PgConnection) -> anyhow::Result<Vec<User>> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'user' ORDER BY random()")
            .fetch_all(&mut *db)
            .await
            .context("cannot read the seeded users")?;
    ensure!(!ids.is_empty(), "no users were seeded");
    let tokens = seed::access_tokens(&ids)?;
    Ok(ids
        .into_iter()
        .zip(tokens)
        .map(|(id, token)| User { id, token })
        .collect())
}

async fn get_json(core: &Core, path: &str, bearer: &str) -> anyhow::Result<Value> {
    let (status, body) = load::once(
        &core.target(path, Some(bearer)),
        Method::GET,
        None,
        CALL_TIMEOUT,
    )
    .await?;
    ensure!(
        status.is_success(),
        "GET {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).with_context(|| format!("GET {path}: not JSON"))
}

/// One user's month as the API gives it: a day per bucket, adding up to what the table holds
/// for that user over the answer's span.
async fn check_month(core: &Core, db: &mut PgConnection, user: &User) -> anyhow::Result<()> {
    let answer = get_json(core, "/me/traffic?period=month", &user.token).await?;
    let buckets = answer["buckets"]
        .as_array()
        .context("/me/traffic: no buckets")?;
    ensure!(
        (28..=31).contains(&buckets.len()) && answer["granularity"] == "day",
        "/me/traffic?period=month: {} {} buckets, not a month of days",
        buckets.len(),
        answer["granularity"]
    );
    let (from, to) = (answer["from"].as_i64(), answer["to"].as_i64());
    let (from, to) = from.zip(to).context("/me/traffic: no from/to")?;
    let (up, down): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(SUM(up), 0) AS BIGINT), CAST(COALESCE(SUM(down), 0) AS BIGINT) \
         FROM traffic_hourly WHERE user_id = $1 AND hour >= $2 AND hour < $3",
    )
    .bind(&user.id)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *db)
    .await
    .context("cannot sum the user's month")?;
    ensure!(up > 0, "the seeded month holds no traffic for the user");
    ensure!(
        answer["total"]["up"].as_i64() == Some(up)
            && answer["total"]["down"].as_i64() == Some(down),
        "/me/traffic?period=month: total {} differs from the table's up {up} down {down}",
        answer["total"]
    );
    Ok(())
}

/// The first page of the day holds [`PAGE`] rows of that day, and the totals are every user's
/// traffic of the day as the table has it.
async fn check_admin_day(
    core: &Core,
    db: &mut PgConnection,
    admin: &str,
    day: i64,
) -> anyhow::Result<()> {
    let path = admin_day_path(day);
    let answer = get_json(core, &path, admin).await?;
    let items = answer["items"]
        .as_array()
        .context("/admin/usage: no items")?;
    ensure!(
        items.len() == PAGE as usize,
        "{path}: {} rows on the first page",
        items.len()
    );
    let (up, down): (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(up) AS BIGINT), CAST(SUM(down) AS BIGINT) FROM traffic_hourly \
         WHERE hour >= $1 AND hour < $2",
    )
    .bind(day)
    .bind(day + DAY_MS)
    .fetch_one(&mut *db)
    .await
    .context("cannot sum the day")?;
    ensure!(
        answer["totals"]["up"].as_i64() == Some(up)
            && answer["totals"]["down"].as_i64() == Some(down),
        "{path}: totals {} differ from the table's up {up} down {down}",
        answer["totals"]
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_days_print_as_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2026-12-06 is day 20,793 since the epoch.
        assert_eq!(rfc3339(20_793 * DAY_MS), "2026-12-06T00:00:00Z");
        assert_eq!(
            rfc3339(day_before(20_793 * DAY_MS + 5)),
            "2026-12-05T00:00:00Z"
        );
    }
}
