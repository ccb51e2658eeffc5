//! The deep admin lists paged by keyset (`after` / `nextCursor`) while rows are inserted between
//! pages, on both backends: `/admin/subscriptions` and `/admin/logs` (newest first) and
//! `/admin/usage` (oldest first), each unfiltered and behind filters; refused cursors and
//! offsets. (`/admin/users` has its own, `users_cursor.rs`.)

mod common;

use std::collections::HashSet;

use common::{exec_sql, query_texts, Backend, Core, Options};
use serde_json::{json, Value};

/// An id that sorts by `n` within its `prefix` (UUID-shaped, as the lists' ids are).
fn id(prefix: &str, n: u32) -> String {
    format!("{prefix}-0000-4000-8000-{n:012}")
}

/// The sort key of a list item: its `createdAt` (or `time`) and id (or user, node and link).
fn key(item: &Value) -> (i64, String) {
    match item.get("createdAt") {
        Some(at) => (
            at.as_i64().expect("createdAt"),
            item["id"].as_str().expect("id").to_string(),
        ),
        None => (
            item["time"].as_i64().expect("time"),
            ["userId", "nodeId", "linkId"]
                .map(|k| item[k].as_str().expect("key column"))
                .join("/"),
        ),
    }
}

/// The id a test tells rows by: a row's `id`, or a traffic row's link.
fn id_of(item: &Value) -> String {
    item.get("id")
        .or_else(|| item.get("linkId"))
        .and_then(Value::as_str)
        .expect("id")
        .to_string()
}

/// Every page of `path` (its query included) read by `after`; after each page but the last,
/// `between(step, last item)` gives the SQL run before the next is read, and how many rows it
/// put before the cursor (said for the reader: a page's `offset` counts the rows the walk gave,
/// so rows passed do not move it).
async fn walk(
    core: &Core,
    admin: &str,
    path: &str,
    mut between: impl FnMut(u32, &Value) -> (Vec<String>, usize),
) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    let mut next = path.to_string();
    for step in 0u32.. {
        assert!(step < 100, "the pages of {path} never end");
        let page = core.get(&next, Some(admin)).await;
        assert_eq!(page.status, 200, "{next}: {}", page.text);
        if let Some(offset) = page.body.get("offset") {
            assert_eq!(
                offset,
                &json!(seen.len()),
                "offset counts the rows the walk gave before the page: {}",
                page.text
            );
        }
        let items = page.body["items"].as_array().expect("items").clone();
        seen.extend(items.iter().cloned());
        let Some(cursor) = page.body["nextCursor"].as_str() else {
            assert!(page.body["nextCursor"].is_null(), "{}", page.text);
            break;
        };
        let last = items.last().expect("a page with a next one is not empty");
        let (statements, _passed) = between(step, last);
        for sql in statements {
            exec_sql(core, &sql).await;
        }
        next = format!("{path}&after={cursor}");
    }
    seen
}

/// The pages' rows are in the list's order, none twice, and hold every row of `expected` (the
/// list before any page was read, in its order) in that order.
fn assert_once_in_order(seen: &[Value], expected: &[String], descending: bool) {
    let keys: Vec<(i64, String)> = seen.iter().map(key).collect();
    for pair in keys.windows(2) {
        let in_order = if descending {
            pair[0] > pair[1]
        } else {
            pair[0] < pair[1]
        };
        assert!(in_order, "out of order or twice: {pair:?} in {keys:?}");
    }
    let wanted: HashSet<&String> = expected.iter().collect();
    let old: Vec<String> = seen
        .iter()
        .map(id_of)
        .filter(|id| wanted.contains(id))
        .collect();
    assert_eq!(
        old, expected,
        "every row there before paging, once, in order"
    );
}

/// A 400 naming `field` (and its message, to look into).
async fn refused(core: &Core, admin: &str, path: &str, field: &str) -> String {
    let r = core.get(path, Some(admin)).await;
    assert_eq!(r.status, 400, "{path}: {}", r.text);
    assert_eq!(r.body["error"]["field"], json!(field), "{path}: {}", r.text);
    r.message().to_string()
}

/// Tampered and foreign cursors, `after` with an offset and offsets past the bound, on a list
/// route whose first page of `limit=1` has a next one.
async fn assert_refusals(core: &Core, admin: &str, route: &str) {
    let first = core.get(&format!("{route}?limit=1"), Some(admin)).await;
    let cursor = first.str("nextCursor");
    let changed_first = format!(
        "{}{}",
        if cursor.starts_with('X') { 'Y' } else { 'X' },
        &cursor[1..]
    );
    let halved = &cursor[..cursor.len() / 2];
    // A cursor of /admin/usage: another key's shape.
    let foreign = "W2ZhbHNlLGZhbHNlLDEsInUiLCJuIiwibCJd";
    for bad in [
        changed_first.as_str(),
        halved,
        "not-a-cursor",
        "e30",
        foreign,
    ] {
        refused(core, admin, &format!("{route}?after={bad}"), "after").await;
    }
    refused(
        core,
        admin,
        &format!("{route}?after={cursor}&offset=1"),
        "offset",
    )
    .await;
    let message = refused(core, admin, &format!("{route}?offset=10001"), "offset").await;
    assert!(
        message.contains("after"),
        "says to page by after: {message}"
    );
    let deepest = core
        .get(&format!("{route}?offset=10000"), Some(admin))
        .await;
    assert_eq!(deepest.status, 200, "{}", deepest.text);
    let next = core
        .get(&format!("{route}?after={cursor}"), Some(admin))
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
}

async fn tariff(core: &Core, admin: &str, name: &str) -> String {
    let t = core
        .post(
            "/admin/tariffs",
            Some(admin),
            json!({ "name": name, "price": 0, "currency": "RUB", "durationMonths": 1 }),
        )
        .await;
    assert_eq!(t.status, 201, "tariff: {}", t.text);
    t.str("id")
}

fn subscription_sql(id: &str, user: &str, tariff: &str, status: &str, at: i64) -> String {
    format!(
        "INSERT INTO subscriptions (id, user_id, tariff_id, status, price, currency, anchor_at, \
         period_start, created_at, updated_at) \
         VALUES ('{id}', '{user}', '{tariff}', '{status}', 0, 'RUB', {at}, {at}, {at}, {at})"
    )
}

const STATUSES: [&str; 3] = ["active", "expired", "cancelled"];

both_backends!(subscriptions_page_by_cursor, |backend| async move {
    let core = Core::start_with(backend, Options::default().components(&["auth", "billing"])).await;
    let admin = core.admin_token().await;
    let (_, _, ann) = core.register("ann@example.com", "password-ann").await;
    let (_, _, bob) = core.register("bob@example.com", "password-bob").await;
    let (month, year) = (
        tariff(&core, &admin, "Month").await,
        tariff(&core, &admin, "Year").await,
    );
    // Three to a millisecond, so the id decides the order within one.
    for n in 1..=14u32 {
        let user = if n % 2 == 0 { &ann } else { &bob };
        let plan = if n % 3 == 0 { &month } else { &year };
        let at = 1_000 + i64::from(n / 3) * 10;
        let sql = subscription_sql(&id("50000000", n), user, plan, STATUSES[n as usize % 3], at);
        exec_sql(&core, &sql).await;
    }
    let expected = |filter: &str| {
        let sql =
            format!("SELECT id FROM subscriptions {filter} ORDER BY created_at DESC, id DESC");
        let core = &core;
        async move { query_texts(core, &sql).await }
    };

    // Between pages: one tied with the page's last row but before it (passed: never shown),
    // one tied after it and one older than all (still to come), one newer than all (passed).
    let all = expected("").await;
    let (ann2, month2) = (ann.clone(), month.clone());
    let seen = walk(
        &core,
        &admin,
        "/admin/subscriptions?limit=3",
        |step, last| {
            if step >= 4 {
                return (Vec::new(), 0);
            }
            let (at, _) = key(last);
            let sql = |prefix: &str, at: i64| {
                subscription_sql(&id(prefix, step), &ann2, &month2, "active", at)
            };
            let sql_down = |prefix: &str, at: i64| {
                subscription_sql(&id(prefix, 99 - step), &ann2, &month2, "active", at)
            };
            (
                vec![
                    sql("ffffffff", at),
                    // Ids falling step by step: a tie with an earlier one's is still ahead.
                    sql_down("00000000", at),
                    sql("00000001", 1),
                    sql("fffffffe", 4_000_000_000_000),
                ],
                2,
            )
        },
    )
    .await;
    assert_once_in_order(&seen, &all, true);
    let ids: HashSet<String> = seen.iter().map(id_of).collect();
    for step in 0..4 {
        assert!(ids.contains(&id("00000000", 99 - step)) && ids.contains(&id("00000001", step)));
        assert!(!ids.contains(&id("ffffffff", step)) && !ids.contains(&id("fffffffe", step)));
    }

    // Filters hold on every page; rows of another user or status inserted meanwhile stay out.
    let theirs = expected(&format!("WHERE user_id = '{ann}' AND status = 'active'")).await;
    assert!(theirs.len() >= 4, "{theirs:?}");
    let (bob2, year2) = (bob.clone(), year.clone());
    let seen = walk(
        &core,
        &admin,
        &format!("/admin/subscriptions?limit=2&userId={ann}&status=active"),
        |step, last| {
            let (at, _) = key(last);
            let sql = |prefix: &str, user: &str, status: &str, at: i64| {
                subscription_sql(&id(prefix, 100 + step), user, &year2, status, at)
            };
            let ann = ann.as_str();
            (
                vec![
                    sql("00000002", ann, "active", at - 1),
                    sql("00000003", &bob2, "active", at - 1),
                    sql("00000004", ann, "expired", at - 1),
                ],
                0,
            )
        },
    )
    .await;
    assert_once_in_order(&seen, &theirs, true);
    for item in &seen {
        assert_eq!(
            (&item["userId"], &item["status"]),
            (&json!(ann), &json!("active")),
            "{item}"
        );
    }
    assert!(
        seen.iter().any(|s| id_of(s).starts_with("00000002")),
        "rows added ahead are read"
    );

    assert_refusals(&core, &admin, "/admin/subscriptions").await;
});

fn log_sql(id: &str, actor: &str, action: &str, at: i64) -> String {
    format!(
        "INSERT INTO audit_log (id, actor_id, action, target_type, target_id, created_at) \
         VALUES ('{id}', '{actor}', '{action}', 'tariff', 't-1', {at})"
    )
}

both_backends!(logs_page_by_cursor, |backend| async move {
    let core = Core::start_with(backend, Options::default().components(&["auth", "billing"])).await;
    let admin = core.admin_token().await;
    for n in 1..=15u32 {
        let actor = if n % 2 == 0 { "actor-a" } else { "actor-b" };
        let action = if n % 3 == 0 {
            "tariff.update"
        } else {
            "tariff.create"
        };
        let sql = log_sql(
            &id("10000000", n),
            actor,
            action,
            1_000 + i64::from(n / 3) * 10,
        );
        exec_sql(&core, &sql).await;
    }
    let all = query_texts(
        &core,
        "SELECT id FROM audit_log ORDER BY created_at DESC, id DESC",
    )
    .await;
    assert!(all.len() >= 15, "{all:?}");

    let seen = walk(&core, &admin, "/admin/logs?limit=4", |step, last| {
        if step >= 3 {
            return (Vec::new(), 0);
        }
        let (at, _) = key(last);
        let sql =
            |prefix: &str, at: i64| log_sql(&id(prefix, step), "actor-a", "tariff.create", at);
        let sql_down =
            |prefix: &str, at: i64| log_sql(&id(prefix, 99 - step), "actor-a", "tariff.create", at);
        (
            vec![
                sql("ffffffff", at),
                // Ids falling step by step: a tie with an earlier one's is still ahead.
                sql_down("00000000", at),
                sql("00000001", 1),
                sql("fffffffe", 4_000_000_000_000),
            ],
            2,
        )
    })
    .await;
    assert_once_in_order(&seen, &all, true);
    let ids: HashSet<String> = seen.iter().map(id_of).collect();
    for step in 0..3 {
        assert!(ids.contains(&id("00000000", 99 - step)) && ids.contains(&id("00000001", step)));
        assert!(!ids.contains(&id("ffffffff", step)) && !ids.contains(&id("fffffffe", step)));
    }

    // An actor's and an action's entries since a time, while other actors' and actions'
    // entries land between the rows read.
    let theirs = query_texts(
        &core,
        "SELECT id FROM audit_log WHERE actor_id = 'actor-a' AND action = 'tariff.create' \
         AND created_at >= 1000 ORDER BY created_at DESC, id DESC",
    )
    .await;
    assert!(theirs.len() >= 4, "{theirs:?}");
    let path = "/admin/logs?limit=2&actorId=actor-a&action=tariff.create&since=1000";
    let seen = walk(&core, &admin, path, |step, last| {
        let (at, _) = key(last);
        let sql = |prefix: &str, actor: &str, action: &str| {
            log_sql(&id(prefix, 100 + step), actor, action, at - 1)
        };
        let statements = vec![
            sql("00000002", "actor-a", "tariff.create"),
            sql("00000003", "actor-b", "tariff.create"),
            sql("00000004", "actor-a", "tariff.update"),
        ];
        (statements, 0)
    })
    .await;
    assert!(seen.len() > 2, "more than one page");
    assert_once_in_order(&seen, &theirs, true);
    for item in &seen {
        assert_eq!(
            (&item["actorId"], &item["action"]),
            (&json!("actor-a"), &json!("tariff.create")),
            "{item}"
        );
        assert!(item["createdAt"].as_i64() >= Some(1000), "{item}");
    }
    assert_refusals(&core, &admin, "/admin/logs").await;
});

/// 2026-01-01T00:00:00Z in epoch milliseconds.
const DAY: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;

fn traffic_sql(hour: i64, user: &str, node: &str, link: &str) -> String {
    format!(
        "INSERT INTO traffic_hourly (hour, user_id, node_id, link_id, up, down) \
         VALUES ({hour}, '{user}', '{node}', '{link}', 1, 2)"
    )
}

both_backends!(usage_pages_by_after, |backend| async move {
    let core = Core::start_with(backend, Options::default().components(&["auth", "usage"])).await;
    let admin = core.admin_token().await;
    // The hours below are of January 2026: keep hours long enough to read them.
    let kept = core
        .patch(
            "/admin/usage/settings",
            Some(&admin),
            json!({ "hourlyRetentionDays": 3660 }),
        )
        .await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    let (_, _, ann) = core.register("ann@example.com", "password-ann").await;
    let (_, _, bob) = core.register("bob@example.com", "password-bob").await;
    // Two nodes and two links per hour and user, so ties on the hour are decided by the rest.
    for h in 0..6 {
        for user in [&ann, &bob] {
            for (node, link) in [("n-1", "l-1"), ("n-2", "l-2")] {
                let sql = traffic_sql(DAY + h * HOUR, user, node, &format!("{link}-{user}"));
                exec_sql(&core, &sql).await;
            }
        }
    }
    let range = "from=2026-01-01&to=2026-01-01";
    let filters = [
        (String::new(), "1 = 1".to_string()),
        (format!("&userId={ann}"), format!("user_id = '{ann}'")),
        ("&nodeId=n-2".to_string(), "node_id = 'n-2'".to_string()),
    ];
    for (round, (filter, condition)) in filters.iter().enumerate() {
        let expected = query_texts(
            &core,
            &format!(
                "SELECT CAST(hour AS TEXT) || '/' || user_id || '/' || node_id || '/' || link_id \
                 FROM traffic_hourly WHERE {condition} AND hour >= {DAY} AND hour < {} \
                 ORDER BY hour, user_id, node_id, link_id",
                DAY + 24 * HOUR
            ),
        )
        .await;
        assert!(expected.len() >= 6, "{expected:?}");
        let (ann2, bob2) = (ann.clone(), bob.clone());
        let seen = walk(
            &core,
            &admin,
            &format!("/admin/usage?{range}{filter}&limit=3"),
            |step, last| {
                let (time, _) = key(last);
                let link = |name: &str| format!("{name}-{round}-{step}");
                (
                    vec![
                        // Behind the cursor (an earlier hour): never shown.
                        traffic_sql(time - HOUR, &ann2, "n-2", &link("behind")),
                        // Ahead of it (a later hour), for both users: the filter decides.
                        traffic_sql(DAY + 23 * HOUR, &ann2, "n-2", &link("ahead")),
                        traffic_sql(DAY + 23 * HOUR, &bob2, "n-1", &link("other")),
                    ],
                    0,
                )
            },
        )
        .await;
        let keys: Vec<String> = seen
            .iter()
            .map(|row| {
                let (time, rest) = key(row);
                format!("{time}/{rest}")
            })
            .collect();
        for pair in seen.windows(2) {
            assert!(key(&pair[0]) < key(&pair[1]), "in order, once: {keys:?}");
        }
        let wanted: HashSet<&String> = expected.iter().collect();
        let old: Vec<&String> = keys.iter().filter(|k| wanted.contains(k)).collect();
        assert_eq!(old, expected.iter().collect::<Vec<_>>(), "{filter}");
        let behind = format!("behind-{round}-");
        assert!(keys.iter().all(|k| !k.contains(&behind)), "{keys:?}");
        assert!(
            keys.iter().any(|k| k.contains(&format!("ahead-{round}-"))),
            "rows added ahead are read: {keys:?}"
        );
        if round == 1 {
            assert!(seen.iter().all(|r| r["userId"] == json!(ann)), "{keys:?}");
        }
        if round == 2 {
            assert!(seen.iter().all(|r| r["nodeId"] == "n-2"), "{keys:?}");
        }
    }

    // `after` is the same cursor as `cursor`; a tampered one names the parameter it came in.
    let first = core
        .get(&format!("/admin/usage?{range}&limit=1"), Some(&admin))
        .await;
    let cursor = first.str("nextCursor");
    let by_after = core
        .get(
            &format!("/admin/usage?{range}&limit=1&after={cursor}"),
            Some(&admin),
        )
        .await;
    let by_cursor = core
        .get(
            &format!("/admin/usage?{range}&limit=1&cursor={cursor}"),
            Some(&admin),
        )
        .await;
    assert_eq!(by_after.status, 200, "{}", by_after.text);
    assert_eq!(by_after.body["items"], by_cursor.body["items"]);
    let halved = &cursor[..cursor.len() / 2];
    refused(
        &core,
        &admin,
        &format!("/admin/usage?{range}&after={halved}"),
        "after",
    )
    .await;
    refused(
        &core,
        &admin,
        &format!("/admin/usage?{range}&cursor={halved}"),
        "cursor",
    )
    .await;
    refused(
        &core,
        &admin,
        &format!("/admin/usage?{range}&after={cursor}&sort=time_desc"),
        "after",
    )
    .await;
    refused(
        &core,
        &admin,
        &format!("/admin/usage?{range}&after={cursor}&cursor={cursor}"),
        "after",
    )
    .await;
});
