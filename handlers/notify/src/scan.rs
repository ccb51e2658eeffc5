//! The `scan` job: events nothing writes when they happen, because they are the passing of
//! time — a subscription close to its end, a node's agent silent past its grace. Each event's key
//! names its occurrence (the expiry and the notice; the silence's last heartbeat), so a scan that
//! sees it again, on any replica, adds nothing.

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::notify::{self, format, names, Event};
use nexuma_sdk::{telegram, ApiError};
use xray::HEARTBEAT_STALE_MS;

const DAY_MS: i64 = 86_400_000;
/// Notices before the end: the earlier one, then the last.
const NOTICES: [(&str, i64, i64); 2] = [("3d", DAY_MS, 3 * DAY_MS), ("1d", 0, DAY_MS)];
/// Rows one scan handles per notice (the rest at the next scan).
const BATCH: i64 = 500;

/// One scan at `now`.
pub fn run(now: i64) -> Result<(), ApiError> {
    // Without a bot token nothing would be written: spare the queries.
    if !telegram::configured() {
        return Ok(());
    }
    for (label, from, to) in NOTICES {
        expiring(now, label, now + from, now + to)?;
    }
    silent_nodes(now)
}

/// Tells users whose subscription ends in `(from, to]` and who have not been told with notice
/// `label`. An auto-renewing one is told only when the balance would not cover the renewal.
fn expiring(now: i64, label: &str, from: i64, to: i64) -> Result<(), ApiError> {
    let rows = db::query(
        "SELECT s.id, s.user_id, s.expires_at, t.name FROM subscriptions s \
         JOIN tariffs t ON t.id = s.tariff_id JOIN users u ON u.id = s.user_id \
         WHERE s.status = 'active' AND s.expires_at > $1 AND s.expires_at <= $2 \
         AND u.telegram_id IS NOT NULL AND u.telegram_notifications \
         AND (NOT s.auto_renew OR COALESCE((SELECT b.amount FROM balances b \
              WHERE b.user_id = s.user_id), 0) < t.price) \
         AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.user_id = s.user_id \
              AND n.dedupe_key = $3 || s.id || ':' || CAST(s.expires_at AS TEXT) || $4) \
         ORDER BY s.expires_at LIMIT $5",
        &[
            from.into(),
            to.into(),
            format!("{}:", names::SUBSCRIPTION_EXPIRING).into(),
            format!(":{label}").into(),
            BATCH.into(),
        ],
    )?;
    for row in rows.iter() {
        let (id, end) = (row.str("id")?, row.i64("expires_at")?);
        // Rounded up to whole hours, so a notice a few minutes late still says "3 days".
        let left = (end - now + 3_599_999) / 3_600_000 * 3_600_000;
        let event = Event::new(names::SUBSCRIPTION_EXPIRING, format!("{id}:{end}:{label}"))
            .param("tariff", row.str("name")?)
            .param("expiresAt", format::moment(end))
            .param("timeLeft", format::span(left));
        notify::user(&Pool, row.str("user_id")?, &event, now)?;
    }
    Ok(())
}

/// Tells admins of active nodes whose agent has been silent past the heartbeat window plus the
/// operator's grace (what takes a node out of subscriptions), once per silence.
fn silent_nodes(now: i64) -> Result<(), ApiError> {
    let cutoff = now - HEARTBEAT_STALE_MS - grace_ms()?;
    let rows = db::query(
        "SELECT id, name, last_heartbeat_at FROM nodes WHERE status = 'active' \
         AND last_heartbeat_at IS NOT NULL AND last_heartbeat_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM notifications n \
              WHERE n.dedupe_key = $2 || nodes.id || ':' || CAST(nodes.last_heartbeat_at AS TEXT))",
        &[cutoff.into(), format!("{}:", names::NODE_SILENT).into()],
    )?;
    for row in rows.iter() {
        let last = row.i64("last_heartbeat_at")?;
        let event = Event::new(names::NODE_SILENT, format!("{}:{last}", row.str("id")?))
            .param("node", row.str("name")?)
            .param("lastSeen", format::moment(last));
        notify::admins(&Pool, &event, now)?;
    }
    Ok(())
}

/// The operator's grace for silent nodes (subscription settings' `silentNodeGraceSeconds`).
fn grace_ms() -> Result<i64, ApiError> {
    let seconds = db::setting(&Pool, xray::SUBSCRIPTION_SETTINGS)?
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(&raw).ok())
        .and_then(|v| v["silentNodeGraceSeconds"].as_i64())
        .unwrap_or(i64::from(xray::SILENT_NODE_GRACE_SECONDS));
    Ok(seconds.max(0) * 1000)
}
