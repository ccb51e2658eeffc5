//! The `usage` component over real HTTP, on both backends: users' traffic series in their time
//! zone (bucket edges, DST days, zero-filled days, filters, isolation between users), the
//! summaries, presence from session events, the admin's keyset-paged usage rows and outbound
//! series. Traffic goes in the way agents send it: `POST /node/usage` with `collectedAt` in the
//! past (the route places a report in any past hour), counted by `POST /admin/nodes/sync`.

mod common;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, NaiveDate};
use common::agent::{node_call, serving_xray};
use common::{exec_sql, query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};

/// 2026-03-29 (Europe/Berlin goes from +01:00 to +02:00 at 01:00 UTC).
const SPRING: &[(&str, i64)] = &[
    ("2026-03-28T22:00:00Z", 1),  // 23:00 CET, the 28th
    ("2026-03-28T23:00:00Z", 2),  // 00:00 CET, the 29th
    ("2026-03-29T01:00:00Z", 4),  // 03:00 CEST (link 2)
    ("2026-03-29T21:00:00Z", 8),  // 23:00 CEST, the 29th
    ("2026-03-29T22:00:00Z", 16), // 00:00 CEST, the 30th
];
/// 2026-10-25 (back from +02:00 to +01:00 at 01:00 UTC: 02:00 local twice).
const AUTUMN: &[(&str, i64)] = &[
    ("2026-10-24T22:00:00Z", 32),  // 00:00 CEST, the 25th
    ("2026-10-25T00:00:00Z", 64),  // 02:00 CEST
    ("2026-10-25T01:00:00Z", 128), // 02:00 CET
];

fn ms(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .timestamp_millis()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

fn utc_date(at: i64) -> NaiveDate {
    DateTime::from_timestamp_millis(at)
        .expect("a time")
        .date_naive()
}

struct User {
    token: String,
    id: String,
    /// (link id, subscription id) per subscription.
    links: Vec<(String, String)>,
}

struct World {
    core: Core,
    admin: String,
    node: String,
    key: String,
    ann: User,
    bob: User,
}

async fn link_of(core: &Core, uuid: &str) -> (String, String) {
    let row = query_texts(
        core,
        &format!(
            "SELECT id || ' ' || subscription_id FROM subscription_links WHERE uuid = '{uuid}'"
        ),
    )
    .await;
    let (link, sub) = row[0].split_once(' ').expect("link and subscription");
    (link.to_string(), sub.to_string())
}

async fn user(core: &Core, admin: &str, email: &str, subscriptions: usize) -> User {
    let (token, _, id) = core.register(email, "password-usage").await;
    let mut links = Vec::new();
    for _ in 0..subscriptions {
        let uuid = common::subscribe(core, admin, &id).await;
        links.push(link_of(core, &uuid).await);
    }
    User { token, id, links }
}

/// Sets how many days hourly rows are kept.
async fn keep_hours(core: &Core, admin: &str, days: i64) {
    let r = core
        .patch(
            "/admin/usage/settings",
            Some(admin),
            json!({ "hourlyRetentionDays": days }),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["hourlyRetentionDays"]),
        (200, &json!(days)),
        "{}",
        r.text
    );
}

/// A Core with a serving node, Ann (two subscriptions) and Bob (one).
async fn world(backend: Backend) -> World {
    let core = Core::start_with(
        backend,
        Options::default().components(&["auth", "billing", "nodes", "usage"]),
    )
    .await;
    let admin = core.admin_token().await;
    let r = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "fra", "address": "fra.example.com",
                    "inbounds": [ { "tag": "vless-in", "protocol": "vless", "port": 20001 } ] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let node = r.str("id");
    // The series below read hours of March 2026: keep hours for ten years (the retention test
    // sets its own), before any traffic comes.
    keep_hours(&core, &admin, 3660).await;
    let key = serving_xray(&core, &admin, &node).await;
    let ann = user(&core, &admin, "ann@example.com", 2).await;
    let bob = user(&core, &admin, "bob@example.com", 1).await;
    World {
        core,
        admin,
        node,
        key,
        ann,
        bob,
    }
}

impl World {
    /// One report collected at `at` with (link, up, down) entries, counted at once.
    async fn report(&self, at: i64, entries: &[(&str, i64, i64)]) {
        let clients: Vec<Value> = entries
            .iter()
            .map(|(link, up, down)| json!({ "name": link, "up": up, "down": down }))
            .collect();
        let body = json!({ "reportId": format!("r-{at}-{}", entries.len()),
                           "collectedAt": at, "clients": clients });
        let r = self.node_post("/node/usage", body).await;
        assert_eq!(
            (r.status, &r.body["duplicate"]),
            (200, &json!(false)),
            "{}",
            r.text
        );
        self.sync().await;
    }

    async fn sync(&self) {
        let r = self
            .core
            .post("/admin/nodes/sync", Some(&self.admin), json!({}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    async fn node_post(&self, path: &str, body: Value) -> Reply {
        node_call(
            &self.core,
            reqwest::Method::POST,
            path,
            &self.key,
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let r = self.core.get(path, Some(token)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        r.body
    }

    /// Ann's DST figures (up = n, down = 10 n; link 2 at 03:00 CEST) and Bob's in the same hour.
    async fn dst_traffic(&self) {
        let (a1, a2) = (&self.ann.links[0].0, &self.ann.links[1].0);
        for (at, n) in SPRING.iter().chain(AUTUMN) {
            let link = if *n == 4 { a2 } else { a1 };
            let mut entries = vec![(link.as_str(), *n, 10 * n)];
            if *n == 4 {
                entries.push((self.bob.links[0].0.as_str(), 1000, 1000));
            }
            self.report(ms(at), &entries).await;
        }
    }
}

fn ups(buckets: &Value) -> Vec<i64> {
    buckets
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["up"].as_i64().expect("up"))
        .collect()
}

fn labels(buckets: &Value) -> Vec<String> {
    buckets
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["label"].as_str().expect("label").to_string())
        .collect()
}

/// `(status, field)` of a refused request.
async fn refused(core: &Core, path: &str, token: &str) -> (u16, String) {
    let r = core.get(path, Some(token)).await;
    let field = r.body["error"]["field"].as_str().unwrap_or("").to_string();
    (r.status, field)
}

both_backends!(series_follow_local_calendars, |backend| async move {
    let w = world(backend).await;
    w.dst_traffic().await;
    let (core, ann) = (&w.core, &w.ann.token);

    // Spring: 23 local hours; 02:00 does not exist, 03:00 is the third bucket.
    let day = w
        .get(
            "/me/traffic?from=2026-03-29&to=2026-03-29&tz=Europe/Berlin",
            ann,
        )
        .await;
    assert_eq!(day["granularity"], "hour");
    let spring = labels(&day["buckets"]);
    assert_eq!(spring.len(), 23);
    assert_eq!(spring[0], "2026-03-29T00:00+01:00");
    assert_eq!(spring[2], "2026-03-29T03:00+02:00");
    assert_eq!(spring[22], "2026-03-29T23:00+02:00");
    let mut want = vec![0; 23];
    (want[0], want[2], want[22]) = (2, 4, 8);
    assert_eq!(ups(&day["buckets"]), want);
    assert_eq!(day["total"], json!({ "up": 14, "down": 140 }));
    assert_eq!(day["from"], ms("2026-03-28T23:00:00Z"));

    // The same date in UTC cuts elsewhere: 01:00, 21:00 and 22:00 UTC are the 29th.
    let utc = w
        .get("/me/traffic?from=2026-03-29&to=2026-03-29", ann)
        .await;
    assert_eq!(utc["buckets"].as_array().unwrap().len(), 24);
    assert_eq!(utc["total"]["up"], 4 + 8 + 16);

    // Autumn: 25 hours, 02:00 twice, each with its own traffic.
    let autumn = w
        .get(
            "/me/traffic?from=2026-10-25&to=2026-10-25&tz=Europe/Berlin",
            ann,
        )
        .await;
    let names = labels(&autumn["buckets"]);
    assert_eq!(names.len(), 25);
    assert_eq!(
        (names[2].as_str(), names[3].as_str()),
        ("2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00")
    );
    assert_eq!(&ups(&autumn["buckets"])[..5], &[32, 0, 64, 128, 0]);

    // Longer than 48 hours: local days, every one present.
    let week = w
        .get(
            "/me/traffic?from=2026-03-26&to=2026-03-31&tz=Europe/Berlin",
            ann,
        )
        .await;
    assert_eq!(week["granularity"], "day");
    assert_eq!(
        labels(&week["buckets"]),
        [
            "2026-03-26",
            "2026-03-27",
            "2026-03-28",
            "2026-03-29",
            "2026-03-30",
            "2026-03-31"
        ]
    );
    assert_eq!(ups(&week["buckets"]), [0, 0, 1, 14, 16, 0]);
    // An RFC 3339 range of exactly 48 hours stays hourly.
    let hours = w
        .get(
            "/me/traffic?from=2026-03-28T22:00:00Z&to=2026-03-30T22:00:00Z",
            ann,
        )
        .await;
    assert_eq!(
        (
            hours["granularity"].as_str(),
            hours["buckets"].as_array().unwrap().len()
        ),
        (Some("hour"), 48)
    );
    assert_eq!(hours["total"]["up"], 1 + 2 + 4 + 8 + 16);

    // Filters: one link, one subscription; Bob's ids are not Ann's to read.
    let (a2, sub1) = (&w.ann.links[1].0, &w.ann.links[0].1);
    let range = "from=2026-03-26&to=2026-03-31&tz=Europe/Berlin";
    let link = w
        .get(&format!("/me/traffic?{range}&linkId={a2}"), ann)
        .await;
    assert_eq!(link["total"]["up"], 4);
    let sub = w
        .get(&format!("/me/traffic?{range}&subscriptionId={sub1}"), ann)
        .await;
    assert_eq!(sub["total"]["up"], 1 + 2 + 8 + 16);
    let (b_link, b_sub) = (&w.bob.links[0].0, &w.bob.links[0].1);
    for path in [
        format!("/me/traffic?{range}&linkId={b_link}"),
        format!("/me/traffic?{range}&subscriptionId={b_sub}"),
        format!("/me/traffic/daily?linkId={b_link}"),
        format!("/me/traffic/hourly-dist?subscriptionId={b_sub}"),
    ] {
        assert_eq!(core.get(&path, Some(ann)).await.status, 404, "{path}");
    }
    // Bob sees his own hour only, Ann never sees his bytes.
    let bob = w.get(&format!("/me/traffic?{range}"), &w.bob.token).await;
    assert_eq!(bob["total"], json!({ "up": 1000, "down": 1000 }));
    assert_eq!(
        w.get(&format!("/me/traffic?{range}"), ann).await["total"]["up"],
        31
    );

    // Daily rows and the hour-of-day spread over every day since March.
    let days = (utc_date(now_ms()) - NaiveDate::from_ymd_opt(2026, 3, 20).unwrap()).num_days();
    let daily = w
        .get(
            &format!("/me/traffic/daily?days={days}&tz=Europe/Berlin"),
            ann,
        )
        .await;
    let rows = daily["rows"].as_array().expect("rows");
    assert_eq!(rows.len() as i64, days);
    let on = |date: &str| {
        rows.iter()
            .find(|r| r["date"] == date)
            .map(|r| r["up"].clone())
    };
    assert_eq!(on("2026-03-29"), Some(json!(14)));
    assert_eq!(on("2026-10-25"), Some(json!(32 + 64 + 128)));
    assert_eq!(on("2026-03-27"), Some(json!(0)));
    let dist = w
        .get(
            &format!("/me/traffic/hourly-dist?days={days}&tz=Europe/Berlin"),
            ann,
        )
        .await;
    let spread = dist["hours"].as_array().expect("hours");
    assert_eq!(spread.len(), 24);
    let total_bytes = 11 * (1 + 2 + 4 + 8 + 16 + 32 + 64 + 128);
    for (hour, up) in [(0, 2 + 16 + 32), (2, 64 + 128), (3, 4), (23, 1 + 8), (1, 0)] {
        assert_eq!(spread[hour]["bytes"], 11 * up, "local hour {hour}");
        let share = spread[hour]["share"].as_f64().unwrap();
        assert!((share - (11 * up) as f64 / total_bytes as f64).abs() < 1e-9);
    }

    // Bad parameters name themselves.
    for (path, field) in [
        ("/me/traffic?period=fortnight", "period"),
        ("/me/traffic?tz=Mars/Olympus", "tz"),
        ("/me/traffic?from=yesterday", "from"),
        ("/me/traffic?from=2026-03-29&to=2026-03-28", "to"),
        ("/me/traffic?from=2025-01-01&to=2026-01-02", "to"),
        ("/me/traffic?to=2026-03-28", "from"),
        ("/me/traffic?period=day&from=2026-03-28", "period"),
        ("/me/traffic/daily?days=0", "days"),
        ("/me/traffic/daily?days=367", "days"),
        ("/me/traffic/hourly-dist?days=ten", "days"),
        ("/me/traffic/hourly-dist?tz=Europe/Nowhere", "tz"),
    ] {
        assert_eq!(
            refused(core, path, ann).await,
            (400, field.to_string()),
            "{path}"
        );
    }
});

both_backends!(
    today_is_zero_filled_around_new_traffic,
    |backend| async move {
        let w = world(backend).await;
        let at = now_ms();
        w.report(at, &[(&w.ann.links[0].0, 5, 50)]).await;
        let daily = w.get("/me/traffic/daily?days=3", &w.ann.token).await;
        let rows = daily["rows"].as_array().expect("rows").clone();
        assert_eq!(rows.len(), 3);
        let today = utc_date(at).to_string();
        for row in &rows {
            let want = if row["date"] == today.as_str() { 5 } else { 0 };
            assert_eq!(row["up"], want, "{row}");
        }
        let last = rows[2]["date"].as_str().unwrap();
        assert!(last == today || last == (utc_date(at) + Duration::days(1)).to_string());
        let day = w.get("/me/traffic?period=day", &w.ann.token).await;
        assert_eq!(
            (
                day["buckets"].as_array().unwrap().len(),
                &day["total"]["up"]
            ),
            (24, &json!(5))
        );
        let year = w
            .get("/me/traffic?period=year&tz=Asia/Kolkata", &w.ann.token)
            .await;
        assert_eq!(year["granularity"], "day");
        assert!([365, 366].contains(&year["buckets"].as_array().unwrap().len()));
        assert_eq!(year["total"]["up"], 5);
    }
);

both_backends!(summaries_and_presence, |backend| async move {
    let w = world(backend).await;
    let core = &w.core;
    w.dst_traffic().await;
    let (a1, a2, b1) = (&w.ann.links[0].0, &w.ann.links[1].0, &w.bob.links[0].0);
    let carol = user(core, &w.admin, "carol@example.com", 0).await;

    // Money, a cancelled subscription, a disabled link.
    let r = core
        .post(
            &format!("/admin/users/{}/balance/deposit", w.ann.id),
            Some(&w.admin),
            json!({ "amount": 500 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let b_sub = &w.bob.links[0].1;
    let r = core
        .post(
            &format!("/admin/subscriptions/{b_sub}/cancel"),
            Some(&w.admin),
            json!({ "refund": "none" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = core
        .patch(
            &format!("/admin/subscriptions/links/{a2}"),
            Some(&w.admin),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Presence: Ann's first link and Bob's online, Ann's second online then offline, on a node
    // whose agent has just spoken.
    common::agent::apply_latest(core, &w.key).await;
    let at = now_ms();
    let events = json!({ "events": [
        { "name": a1, "kind": "online", "at": at },
        { "name": b1, "kind": "online", "at": at },
        { "name": a2, "kind": "online", "at": at - 10 },
        { "name": a2, "kind": "offline", "at": at - 5 } ] });
    assert_eq!(
        w.node_post("/node/session-events", events).await.status,
        204
    );

    let me = w.get("/me/stats", &w.ann.token).await;
    assert_eq!(me["subscriptions"]["active"], 2);
    assert_eq!(me["subscriptions"]["cancelled"], 0);
    let first = me["subscriptions"]["activeDetails"]
        .as_array()
        .expect("active subscriptions")
        .iter()
        .find(|s| s["id"] == w.ann.links[0].1.as_str())
        .expect("the first subscription");
    assert_eq!(first["usedBytes"], 11 * (1 + 2 + 8 + 16 + 32 + 64 + 128));
    assert_eq!(
        (first["limitBytes"].clone(), first["leftBytes"].clone()),
        (Value::Null, Value::Null)
    );
    let days_left = first["daysLeft"]
        .as_i64()
        .expect("a monthly subscription ends");
    assert!((28..=31).contains(&days_left), "{days_left}");
    assert_eq!(me["balance"], json!({ "amount": 500, "currency": "RUB" }));
    assert_eq!(me["links"], json!({ "enabled": 1, "total": 2 }));
    assert_eq!(me["devicesOnline"], 1);
    let bob = w.get("/me/stats", &w.bob.token).await;
    assert_eq!(
        (
            &bob["subscriptions"]["active"],
            &bob["subscriptions"]["cancelled"]
        ),
        (&json!(0), &json!(1))
    );
    assert_eq!(bob["balance"]["amount"], 0);

    // Nodes count who is online; lastSeen follows presence.
    let node_path = format!("/admin/nodes/{}", w.node);
    let node = w.get(&node_path, &w.admin).await;
    assert_eq!(
        (&node["onlineLinks"], &node["onlineUsers"]),
        (&json!(2), &json!(2))
    );
    let listed = w.get("/admin/nodes", &w.admin).await;
    assert_eq!(listed["items"][0]["onlineLinks"], 2);
    let again = json!({ "events": [ { "name": a2, "kind": "online", "at": at + 1 } ] });
    assert_eq!(w.node_post("/node/session-events", again).await.status, 204);
    let node = w.get(&node_path, &w.admin).await;
    assert_eq!(
        (&node["onlineLinks"], &node["onlineUsers"]),
        (&json!(3), &json!(2))
    );
    let profile = w.get(&format!("/admin/users/{}", w.ann.id), &w.admin).await;
    assert_eq!(profile["lastSeenAt"], at + 1);
    assert_eq!(
        w.get(&format!("/admin/users/{}", carol.id), &w.admin).await["lastSeenAt"],
        Value::Null
    );

    let stats = w
        .get(&format!("/admin/users/{}/stats", w.ann.id), &w.admin)
        .await;
    assert_eq!(stats["devicesOnline"], 2);
    assert_eq!(stats["lastSeenAt"], at + 1);
    let details = stats["linkDetails"].as_array().expect("links");
    assert_eq!(details.len(), 2);
    assert!(details
        .iter()
        .all(|l| l["online"] == true && l["onlineNodes"] == json!([w.node])));
    assert_eq!(
        stats["traffic"]["last30Days"]["up"], 0,
        "the DST traffic is months old"
    );
    assert_eq!(
        core.get("/admin/users/nobody/stats", Some(&w.admin))
            .await
            .status,
        404
    );
    assert_eq!(
        core.get(
            &format!("/admin/users/{}/stats", w.ann.id),
            Some(&w.ann.token)
        )
        .await
        .status,
        403
    );

    // A silent node's last events are not "online now".
    exec_sql(
        core,
        &format!(
            "UPDATE nodes SET last_heartbeat_at = last_heartbeat_at - 120000 WHERE id = '{}'",
            w.node
        ),
    )
    .await;
    assert_eq!(w.get("/me/stats", &w.ann.token).await["devicesOnline"], 0);
    assert_eq!(w.get(&node_path, &w.admin).await["onlineLinks"], 0);

    // The user base.
    let r = core
        .patch(
            &format!("/admin/users/{}", carol.id),
            Some(&w.admin),
            json!({ "blocked": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let base = w.get("/admin/users/stats?days=366", &w.admin).await;
    assert_eq!(base["total"], 4, "the admin, Ann, Bob, Carol");
    assert_eq!(base["byStatus"]["active"], 4);
    assert_eq!(
        (&base["blocked"], &base["withActiveSubscription"]),
        (&json!(1), &json!(1))
    );
    let new: i64 = base["newUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["count"].as_i64().unwrap())
        .sum();
    assert_eq!(new, 4);
    let top = base["topUsers"].as_array().unwrap();
    assert_eq!(top[0]["userId"], w.ann.id.as_str());
    assert_eq!(top[0]["bytes"], 11 * 255);
    assert_eq!(top[1]["bytes"], 2000);
    let one = w.get("/admin/users/stats?days=366&limit=1", &w.admin).await;
    assert_eq!(one["topUsers"].as_array().unwrap().len(), 1);
    assert_eq!(
        refused(core, "/admin/users/stats?limit=101", &w.admin).await,
        (400, "limit".into())
    );
});

both_backends!(outbound_series_per_tag, |backend| async move {
    let w = world(backend).await;
    for (id, at, tags) in [
        (
            "o1",
            "2026-03-29T01:00:00Z",
            json!([ { "tag": "direct", "up": 10, "down": 20 },
                                               { "tag": "block", "up": 1, "down": 2 } ]),
        ),
        (
            "o2",
            "2026-03-29T05:00:00Z",
            json!([ { "tag": "direct", "up": 100, "down": 200 } ]),
        ),
    ] {
        let body = json!({ "reportId": id, "collectedAt": ms(at), "outbounds": tags });
        assert_eq!(w.node_post("/node/outbound-usage", body).await.status, 200);
    }
    let path = format!(
        "/admin/nodes/{}/outbound-usage?from=2026-03-29&to=2026-03-29",
        w.node
    );
    let hourly = w.get(&path, &w.admin).await;
    let tags = hourly["tags"].as_array().expect("tags");
    assert_eq!(tags.len(), 2);
    let direct = tags.iter().find(|t| t["tag"] == "direct").expect("direct");
    let points = direct["points"].as_array().unwrap();
    assert_eq!(points.len(), 24);
    assert_eq!(
        (&points[1]["up"], &points[5]["up"], &points[2]["up"]),
        (&json!(10), &json!(100), &json!(0))
    );
    assert_eq!(direct["total"], json!({ "up": 110, "down": 220 }));
    assert_eq!(hourly["total"]["up"], 111);
    let daily = w
        .get(&format!("{path}&granularity=day&tag=block"), &w.admin)
        .await;
    assert_eq!(daily["tags"].as_array().unwrap().len(), 1);
    assert_eq!(
        daily["tags"][0]["points"],
        json!([ { "time": ms("2026-03-29T00:00:00Z"), "up": 1, "down": 2 } ])
    );
    assert_eq!(
        w.core
            .get("/admin/nodes/nowhere/outbound-usage", Some(&w.admin))
            .await
            .status,
        404
    );
    assert_eq!(
        refused(&w.core, &format!("{path}&granularity=week"), &w.admin).await,
        (400, "granularity".into())
    );
    assert_eq!(
        refused(
            &w.core,
            &format!(
                "/admin/nodes/{}/outbound-usage?from=2026-01-01&to=2026-03-01",
                w.node
            ),
            &w.admin
        )
        .await,
        (400, "to".into()),
        "two months of hours is too many"
    );
});

/// Every page of `/admin/usage?{query}` with `limit`: the rows in order, and the totals.
async fn all_pages(w: &World, query: &str, limit: usize) -> (Vec<Value>, Value) {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    let mut totals = Value::Null;
    for _ in 0..100 {
        let after = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page = w
            .get(
                &format!("/admin/usage?{query}&limit={limit}{after}"),
                &w.admin,
            )
            .await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= limit);
        rows.extend(items.iter().cloned());
        if totals.is_null() {
            totals = page["totals"].clone();
        }
        assert_eq!(
            page["totals"], totals,
            "totals are the filter's, on every page"
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (rows, totals),
        }
    }
    panic!("paging did not end");
}

fn key(row: &Value) -> (i64, String, String, String) {
    (
        row["time"].as_i64().unwrap(),
        row["userId"].as_str().unwrap().into(),
        row["nodeId"].as_str().unwrap().into(),
        row["linkId"].as_str().unwrap().into(),
    )
}

/// The pages' rows: `expected` of them, none twice, in order, adding up to the totals.
fn check_pages(rows: &[Value], totals: &Value, descending: bool, expected: usize) {
    let keys: Vec<_> = rows.iter().map(key).collect();
    let unique: BTreeSet<_> = keys.iter().cloned().collect();
    assert_eq!(unique.len(), keys.len(), "no row twice");
    assert_eq!(keys.len(), expected, "no row lost");
    let mut sorted = keys.clone();
    sorted.sort();
    if descending {
        sorted.reverse();
    }
    assert_eq!(keys, sorted);
    let up: i64 = rows.iter().map(|r| r["up"].as_i64().unwrap()).sum();
    assert_eq!(up, totals["up"].as_i64().unwrap());
}

both_backends!(admin_usage_pages_every_row_once, |backend| async move {
    let w = world(backend).await;
    let (a1, a2, b1) = (&w.ann.links[0].0, &w.ann.links[1].0, &w.bob.links[0].0);
    // 20 hours over two UTC days, three links each: 60 rows.
    let start = ms("2026-03-28T14:00:00Z");
    for h in 0..20 {
        let at = start + h * 3_600_000;
        w.report(at, &[(a1, 1, 1), (a2, 10, 10), (b1, 100 + h, 100)])
            .await;
    }
    let range = "from=2026-03-28T00:00:00Z&to=2026-03-30T00:00:00Z";
    let (rows, totals) = all_pages(&w, range, 7).await;
    assert_eq!(totals["up"], 20 * 111 + (0..20).sum::<i64>());
    check_pages(&rows, &totals, false, 60);
    let (desc, desc_totals) = all_pages(&w, &format!("{range}&sort=time_desc"), 11).await;
    assert_eq!(desc_totals, totals);
    check_pages(&desc, &totals, true, 60);
    // A range that starts and ends inside days: its edge hours and its whole day add up.
    // 2026-03-28 20:00 to 2026-03-29 03:00 UTC holds hours 6..=12 of the 20 (7 of them).
    let edges = "from=2026-03-28T20:00:00Z&to=2026-03-29T03:00:00Z";
    let (rows, totals) = all_pages(&w, edges, 5).await;
    assert_eq!(totals["up"], 7 * 111 + (6..=12).sum::<i64>());
    check_pages(&rows, &totals, false, 21);
    let edges = "from=2026-03-28T23:00:00Z&to=2026-03-30T00:00:00Z";
    let (rows, totals) = all_pages(&w, edges, 8).await;
    assert_eq!(
        totals["up"],
        11 * 111 + (9..20).sum::<i64>(),
        "an hour, then a whole day"
    );
    check_pages(&rows, &totals, false, 33);

    // Filters.
    for (filter, n, up) in [
        (format!("userId={}", w.ann.id), 40, 20 * 11),
        (format!("linkId={a2}"), 20, 200),
        (
            format!("subscriptionId={}", w.bob.links[0].1),
            20,
            2000 + 190,
        ),
        (format!("nodeId={}", w.node), 60, 20 * 111 + 190),
        ("nodeId=elsewhere".to_string(), 0, 0),
    ] {
        let (rows, totals) = all_pages(&w, &format!("{range}&{filter}"), 9).await;
        assert_eq!(totals["up"].as_i64(), Some(up), "{filter}");
        check_pages(&rows, &totals, false, n);
    }
    // Daily rows: three links on two days, paged.
    let (days, day_totals) = all_pages(&w, &format!("{range}&granularity=day"), 4).await;
    check_pages(&days, &day_totals, false, 6);
    let ann_first_day = days
        .iter()
        .find(|r| r["linkId"] == a1.as_str() && r["time"] == ms("2026-03-28T00:00:00Z"))
        .expect("Ann's first day");
    assert_eq!(ann_first_day["up"], 10, "14:00 to 23:00");
    let (days_desc, _) = all_pages(&w, &format!("{range}&granularity=day&sort=time_desc"), 4).await;
    check_pages(&days_desc, &day_totals, true, 6);

    // A cursor belongs to its order; bad parameters name themselves.
    let first = w
        .get(&format!("/admin/usage?{range}&limit=5"), &w.admin)
        .await;
    let cursor = first["nextCursor"].as_str().expect("more pages");
    for (path, field) in [
        (
            format!("/admin/usage?{range}&sort=time_desc&cursor={cursor}"),
            "cursor",
        ),
        (format!("/admin/usage?{range}&cursor=zz"), "cursor"),
        ("/admin/usage?limit=1001".to_string(), "limit"),
        ("/admin/usage?granularity=minute".to_string(), "granularity"),
        ("/admin/usage?sort=bytes".to_string(), "sort"),
        (
            "/admin/usage?from=2024-01-01&to=2026-01-01".to_string(),
            "to",
        ),
    ] {
        assert_eq!(
            refused(&w.core, &path, &w.admin).await,
            (400, field.to_string()),
            "{path}"
        );
    }
    assert_eq!(
        w.core.get("/admin/usage", Some(&w.ann.token)).await.status,
        403
    );
});

#[tokio::test]
async fn routes_are_documented_with_their_query() {
    let core = Core::start_with(
        Backend::Embedded,
        Options::default().components(&["auth", "usage"]),
    )
    .await;
    let doc = core.get("/openapi.json", None).await.body;
    let names = |path: &str| -> Vec<String> {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has parameters"))
            .iter()
            .filter(|p| p["in"] == "query")
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    for name in ["period", "from", "to", "tz", "subscriptionId", "linkId"] {
        assert!(names("/me/traffic").contains(&name.to_string()), "{name}");
    }
    for name in ["cursor", "limit", "granularity", "sort", "userId", "nodeId"] {
        assert!(names("/admin/usage").contains(&name.to_string()), "{name}");
    }
    assert!(doc["paths"]["/me/stats"]["get"]["responses"]["200"].is_object());
}

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Days back from today (UTC) the retention test sends traffic for: before the 90 days' cutoff
/// (150 to 91), its first kept day (90), and after it.
const BACK: [i64; 9] = [150, 120, 92, 91, 90, 89, 60, 30, 1];

/// Every route reading traffic, as (path, token): the same answers before a rollup (read from
/// hours while they are all kept) and after it (old days from the daily rows).
fn series_paths(w: &World, today: i64) -> Vec<(String, String)> {
    let date = |back: i64| utc_date(today - back * DAY_MS).to_string();
    let (old, last, recent) = (date(150), date(1), date(30));
    let (ann, bob, admin) = (&w.ann.token, &w.bob.token, &w.admin);
    let (a1, a2) = (&w.ann.links[0], &w.ann.links[1]);
    let range = format!("from={old}&to={last}");
    [
        (format!("/me/traffic?{range}"), ann),
        (format!("/me/traffic?{range}&linkId={}", a2.0), ann),
        (format!("/me/traffic?{range}&subscriptionId={}", a1.1), ann),
        (format!("/me/traffic?{range}"), bob),
        ("/me/traffic?period=year".to_string(), ann),
        ("/me/traffic/daily?days=200".to_string(), ann),
        (format!("/me/traffic?from={recent}&to={recent}"), ann),
        ("/me/traffic/hourly-dist?days=30".to_string(), ann),
        (
            format!("/me/traffic?from={recent}&to={last}&tz=Europe/Berlin"),
            ann,
        ),
        ("/admin/users/stats?days=200".to_string(), admin),
        (format!("/admin/users/{}/stats", w.ann.id), admin),
        (
            format!(
                "/admin/nodes/{}/outbound-usage?{range}&granularity=day",
                w.node
            ),
            admin,
        ),
        (
            format!(
                "/admin/nodes/{}/outbound-usage?from={recent}&to={recent}",
                w.node
            ),
            admin,
        ),
    ]
    .into_iter()
    .map(|(path, token)| (path, token.clone()))
    .collect()
}

/// `/admin/usage` queries whose every page and totals must read the same.
fn listing_queries(w: &World, today: i64) -> Vec<String> {
    let date = |back: i64| utc_date(today - back * DAY_MS).to_string();
    let (old, last, recent) = (date(150), date(1), date(30));
    vec![
        format!("from={old}&to={last}&granularity=day"),
        format!("from={old}&to={last}&granularity=day&userId={}", w.bob.id),
        format!("from={recent}&to={last}"),
    ]
}

/// Each series' answer, and each listing's rows and totals.
async fn read_all(w: &World, today: i64) -> Vec<Value> {
    let mut out = Vec::new();
    let user_stats = format!("/admin/users/{}/stats", w.ann.id);
    for (path, token) in series_paths(w, today) {
        let mut body = w.get(&path, &token).await;
        // A user's stats say who is online and since when: only the traffic is compared.
        if path == user_stats {
            body = body["traffic"].clone();
        }
        out.push(json!({ "path": path, "body": body }));
    }
    for query in listing_queries(w, today) {
        let (rows, totals) = all_pages(w, &query, 7).await;
        out.push(json!({ "query": query, "rows": rows, "totals": totals }));
    }
    out
}

async fn count(core: &Core, sql: &str) -> i64 {
    query_texts(core, &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {sql}")).await[0]
        .parse()
        .expect("a count")
}

async fn rollup(w: &World) -> Value {
    let r = w
        .core
        .post("/admin/usage/rollup", Some(&w.admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

both_backends!(rollups_keep_the_sums_exact, |backend| async move {
    let w = world(backend).await;
    let today = now_ms() / DAY_MS * DAY_MS;
    let cutoff = today - 90 * DAY_MS;
    let (a1, a2, b1) = (&w.ann.links[0].0, &w.ann.links[1].0, &w.bob.links[0].0);
    // Through the agents' routes: client traffic at 00, 05 and 23 UTC of each day (23:00 UTC
    // is the next day in Berlin), outbound traffic at 05.
    let mut ann_up = 0;
    for back in BACK {
        let day = today - back * DAY_MS;
        for hour in [0, 5, 23] {
            let up = back * 1000 + hour;
            let mut clients = vec![json!({ "name": a1, "up": up, "down": 2 * up })];
            ann_up += up;
            if hour == 5 {
                clients.push(json!({ "name": a2, "up": 7, "down": 9 }));
                ann_up += 7;
            }
            if hour == 23 {
                clients.push(json!({ "name": b1, "up": back, "down": 1 }));
            }
            let body = json!({ "reportId": format!("ret-{back}-{hour}"),
                               "collectedAt": day + hour * HOUR_MS, "clients": clients });
            assert_eq!(w.node_post("/node/usage", body).await.status, 200);
        }
        let body = json!({ "reportId": format!("ob-{back}"), "collectedAt": day + 5 * HOUR_MS,
                           "outbounds": [ { "tag": "direct", "up": back, "down": 2 * back } ] });
        assert_eq!(w.node_post("/node/outbound-usage", body).await.status, 200);
    }
    w.sync().await;
    // The Node Manager's hours: one past the retention, one within.
    exec_sql(
        &w.core,
        "INSERT INTO manager_nodes (id, name, api_url, access_key, address, created_at, updated_at) \
         VALUES ('mgr-1', 'm', 'https://m.example:9', 'k', 'm.example', 0, 0)",
    )
    .await;
    for back in [150, 1] {
        exec_sql(
            &w.core,
            &format!(
                "INSERT INTO usage_hourly (user_id, node_id, hour, incoming, outcoming) \
                 VALUES ('{}', 'mgr-1', {}, 1, 1)",
                w.ann.id,
                today - back * DAY_MS
            ),
        )
        .await;
    }

    // Before: every hour is kept (ten years), so the old days are read from hours.
    let before = read_all(&w, today).await;
    assert_eq!(
        before[0]["body"]["total"]["up"],
        json!(ann_up),
        "every hour sent is read"
    );
    let kept_rows = count(&w.core, &format!("traffic_hourly WHERE hour >= {cutoff}")).await;
    assert!(count(&w.core, &format!("traffic_hourly WHERE hour < {cutoff}")).await > 0);

    keep_hours(&w.core, &w.admin, 90).await;
    let pass = rollup(&w).await;
    assert_eq!(pass["hourlyKeptFrom"], json!(cutoff), "{pass}");
    assert_eq!(pass["done"], json!(true), "{pass}");
    // 4 days past the retention: Ann's 3 + 1 hours and Bob's 1 a day; 1 outbound hour a day.
    // (The `rollup` job ticks every minute: when a tick came first, this pass found nothing.)
    let deleted = [
        &pass["trafficHourly"],
        &pass["outboundTrafficHourly"],
        &pass["usageHourly"],
    ];
    assert!(
        deleted == [&json!(4 * 5), &json!(4), &json!(1)] || deleted == [&json!(0); 3],
        "{pass}"
    );
    for table in ["traffic_hourly", "outbound_traffic_hourly", "usage_hourly"] {
        let left = count(&w.core, &format!("{table} WHERE hour < {cutoff}")).await;
        assert_eq!(left, 0, "{table} keeps no hour past the retention");
    }
    assert_eq!(
        count(&w.core, &format!("traffic_hourly WHERE hour >= {cutoff}")).await,
        kept_rows,
        "kept hours stay"
    );
    assert_eq!(count(&w.core, "usage_hourly").await, 1);

    // After: the same answers, old days from the daily rows.
    let after = read_all(&w, today).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "the same answer after the rollup");
    }

    // Hours no longer kept are refused, never summed smaller; so are old local days that are
    // not UTC days.
    let date = |back: i64| utc_date(today - back * DAY_MS).to_string();
    let old = date(120);
    let node = &w.node;
    for (path, token, field) in [
        (
            format!("/me/traffic?from={old}&to={old}"),
            &w.ann.token,
            "from",
        ),
        (
            format!("/me/traffic?from={old}&to={}&tz=Europe/Berlin", date(1)),
            &w.ann.token,
            "tz",
        ),
        (
            "/me/traffic/daily?days=200&tz=Europe/Berlin".to_string(),
            &w.ann.token,
            "tz",
        ),
        (
            "/me/traffic/hourly-dist?days=200".to_string(),
            &w.ann.token,
            "days",
        ),
        (
            format!("/admin/usage?from={old}&to={old}"),
            &w.admin,
            "from",
        ),
        (
            "/admin/users/stats?days=200&tz=Europe/Berlin".to_string(),
            &w.admin,
            "tz",
        ),
        (
            format!("/admin/nodes/{node}/outbound-usage?from={old}&to={old}"),
            &w.admin,
            "from",
        ),
    ] {
        let r = w.core.get(&path, Some(token)).await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (400, Some(field)),
            "{path}: {}",
            r.text
        );
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("kept for 90 days"), "{path}: {message}");
    }

    // A second pass changes nothing.
    let again = rollup(&w).await;
    assert_eq!(
        again,
        json!({ "hourlyKeptFrom": cutoff, "trafficHourly": 0, "outboundTrafficHourly": 0,
                "usageHourly": 0, "done": true })
    );
    assert_eq!(read_all(&w, today).await, after);

    // Keeping hours longer again does not bring back the hours that went.
    keep_hours(&w.core, &w.admin, 3660).await;
    let settings = w.get("/admin/usage/settings", &w.admin).await;
    assert_eq!(settings["hourlyKeptFrom"], json!(cutoff));
    assert_eq!(
        refused(
            &w.core,
            &format!("/me/traffic?from={old}&to={old}"),
            &w.ann.token
        )
        .await,
        (400, "from".into())
    );
    assert_eq!(read_all(&w, today).await, after);
    let r = w
        .core
        .patch(
            "/admin/usage/settings",
            Some(&w.admin),
            json!({ "hourlyRetentionDays": 7 }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (400, Some("hourlyRetentionDays"))
    );
});

/// `SUM(up) SUM(down)` of `table`'s rows matching `filter`, as text.
async fn sums(core: &Core, table: &str, filter: &str) -> String {
    query_texts(
        core,
        &format!(
            "SELECT CAST(COALESCE(SUM(up), 0) AS TEXT) || ' ' || CAST(COALESCE(SUM(down), 0) AS TEXT) \
             FROM {table} WHERE {filter}"
        ),
    )
    .await
    .remove(0)
}

async fn used(w: &World, subscription: &str) -> i64 {
    w.get(&format!("/admin/subscriptions/{subscription}"), &w.admin)
        .await["trafficUsedBytes"]
        .as_i64()
        .expect("used bytes")
}

both_backends!(
    a_nodes_big_report_and_small_ones_count_exactly_and_go_with_their_user,
    |backend| async move {
        let w = world(backend).await;
        let hour = now_ms() / HOUR_MS * HOUR_MS - HOUR_MS;
        let (a1, a2, b1) = (&w.ann.links[0], &w.ann.links[1], &w.bob.links[0]);
        // A node's big report (its node and hour shared by the counting statements: 1,200
        // clients, most of them links the Core no longer knows) and small reports of the same
        // and the hour before, which are counted with every node's and hour's entries mixed.
        let mut big: Vec<Value> = (0..1_200)
            .map(|i| json!({ "name": format!("gone-{i:04}"), "up": 1, "down": 1 }))
            .collect();
        big.push(json!({ "name": a1.0, "up": 100, "down": 200 }));
        big.push(json!({ "name": b1.0, "up": 5, "down": 6 }));
        let reports = [
            (hour, big),
            (
                hour - HOUR_MS,
                vec![
                    json!({ "name": a1.0, "up": 1, "down": 2 }),
                    json!({ "name": a2.0, "up": 3, "down": 4 }),
                ],
            ),
            (hour, vec![json!({ "name": b1.0, "up": 7, "down": 8 })]),
        ];
        for (i, (at, clients)) in reports.into_iter().enumerate() {
            let body =
                json!({ "reportId": format!("mix-{i}"), "collectedAt": at, "clients": clients });
            assert_eq!(w.node_post("/node/usage", body).await.status, 200);
        }
        w.sync().await;

        assert_eq!(used(&w, &a1.1).await, 303);
        assert_eq!(used(&w, &a2.1).await, 7);
        assert_eq!(used(&w, &b1.1).await, 26);
        let (ann, bob) = (&w.ann.id, &w.bob.id);
        let of = |user: &str, at: i64| format!("user_id = '{user}' AND hour = {at}");
        assert_eq!(
            sums(&w.core, "traffic_hourly", &of(ann, hour)).await,
            "100 200"
        );
        assert_eq!(
            sums(&w.core, "traffic_hourly", &of(ann, hour - HOUR_MS)).await,
            "4 6"
        );
        assert_eq!(
            sums(&w.core, "traffic_hourly", &of(bob, hour)).await,
            "12 14"
        );
        let all = |user: &str| format!("user_id = '{user}'");
        assert_eq!(sums(&w.core, "traffic_daily", &all(ann)).await, "104 206");
        assert_eq!(sums(&w.core, "traffic_daily", &all(bob)).await, "12 14");
        assert_eq!(
            count(&w.core, "traffic_hourly WHERE link_id LIKE 'gone-%'").await,
            0
        );

        // A user's traffic goes with the user (PostgreSQL: a trigger; SQLite: the foreign key).
        exec_sql(&w.core, &format!("DELETE FROM users WHERE id = '{bob}'")).await;
        for table in ["traffic_hourly", "traffic_daily"] {
            assert_eq!(
                count(&w.core, &format!("{table} WHERE user_id = '{bob}'")).await,
                0
            );
            assert!(count(&w.core, &format!("{table} WHERE user_id = '{ann}'")).await > 0);
        }
    }
);
