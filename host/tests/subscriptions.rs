//! Subscriptions and links of the `billing` component over real HTTP, on both backends:
//! purchases, renewals, expiry by time and traffic, cancellation with refunds, links, isolation
//! between users, and ticks that run at once.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Months};
use common::{count_status, exec_sql, post_at_once, query_texts, Backend, Core, Options, Reply};
use serde_json::{json, Value};

async fn start(backend: Backend) -> Core {
    Core::start_with(backend, Options::default().components(&["auth", "billing"])).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

/// `at` plus calendar months (UTC), the way a subscription counts them.
fn plus_months(at: i64, months: u32) -> i64 {
    DateTime::from_timestamp_millis(at)
        .and_then(|t| t.checked_add_months(Months::new(months)))
        .expect("date")
        .timestamp_millis()
}

async fn tariff(core: &Core, admin: &str, body: Value) -> String {
    let mut full = json!({ "name": "Plan", "price": 1000, "currency": "RUB", "durationMonths": 1 });
    for (k, v) in body.as_object().expect("object") {
        full[k] = v.clone();
    }
    let r = core.post("/admin/tariffs", Some(admin), full).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

async fn deposit(core: &Core, admin: &str, user: &str, amount: i64) {
    let r = core
        .post(
            &format!("/admin/users/{user}/balance/deposit"),
            Some(admin),
            json!({ "amount": amount }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn balance(core: &Core, token: &str) -> i64 {
    let r = core.get("/me/balance", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["amount"].as_i64().expect("amount")
}

async fn ledger(core: &Core, token: &str) -> Vec<Value> {
    let r = core
        .get("/me/balance/transactions?limit=200", Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["items"].as_array().expect("items").clone()
}

async fn buy(core: &Core, token: &str, tariff: &str, auto_renew: bool) -> Reply {
    core.post(
        "/me/subscriptions",
        Some(token),
        json!({ "tariffId": tariff, "autoRenew": auto_renew }),
    )
    .await
}

async fn bought(core: &Core, token: &str, tariff: &str, auto_renew: bool) -> Value {
    let r = buy(core, token, tariff, auto_renew).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// A purchase of a tariff the user already has running, asked for as such.
async fn bought_again(core: &Core, token: &str, tariff: &str, auto_renew: bool) -> Value {
    let r = core
        .post(
            "/me/subscriptions",
            Some(token),
            json!({ "tariffId": tariff, "autoRenew": auto_renew, "allowDuplicate": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn subscription(core: &Core, admin: &str, id: &str) -> Value {
    let r = core
        .get(&format!("/admin/subscriptions/{id}"), Some(admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn tick(core: &Core, admin: &str) -> Value {
    let r = core
        .post("/admin/subscriptions/tick", Some(admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn sql(core: &Core, statement: String) {
    exec_sql(core, &statement).await
}

/// Kinds of the node-facing changes recorded for a subscription, oldest first.
async fn node_changes(core: &Core, subscription: &str) -> Vec<String> {
    query_texts(
        core,
        &format!(
            "SELECT kind FROM node_changes WHERE subscription_id = '{subscription}' ORDER BY seq"
        ),
    )
    .await
}

fn kinds(entries: &[Value], kind: &str) -> Vec<Value> {
    entries
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn delete(core: &Core, path: &str, token: &str) -> Reply {
    core.send(reqwest::Method::DELETE, path, Some(token), None)
        .await
}

both_backends!(buying_with_enough_and_too_little, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    let basic = tariff(&core, &admin, json!({ "name": "Basic", "price": 1000 })).await;

    let short = buy(&core, &ann, &basic, false).await;
    assert_eq!((short.status, short.code()), (402, "insufficient_funds"));
    assert!(
        short.message().contains("1000") && short.message().contains("Basic"),
        "{}",
        short.message()
    );
    let mine = core.get("/me/subscriptions", Some(&ann)).await;
    assert_eq!(mine.body["total"], 0, "a refused purchase leaves nothing");

    deposit(&core, &admin, &ann_id, 2500).await;
    let before = now_ms();
    let sub = bought(&core, &ann, &basic, false).await;
    let id = sub["id"].as_str().expect("id").to_string();
    assert_eq!(sub["status"], "active");
    assert_eq!(sub["tariffName"], "Basic");
    assert_eq!(sub["price"], 1000);
    assert_eq!(sub["trafficUsedBytes"], 0);
    let created = sub["createdAt"].as_i64().unwrap();
    assert!(created >= before);
    assert_eq!(sub["expiresAt"].as_i64(), Some(plus_months(created, 1)));
    let links = sub["links"].as_array().expect("links");
    assert_eq!(links.len(), 1, "a new subscription comes with a link");
    let uuid = links[0]["uuid"].as_str().unwrap();
    assert!(links[0]["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/sub/{uuid}")));
    assert_eq!(balance(&core, &ann).await, 1500);
    let charges = kinds(&ledger(&core, &ann).await, "charge");
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0]["amount"], -1000);
    assert_eq!(charges[0]["subscriptionId"], id.as_str());
    assert_eq!(sub["chargeId"], charges[0]["id"]);
    assert_eq!(
        node_changes(&core, &id).await,
        vec!["subscription.activated"]
    );

    // A retried purchase is answered with the first one and charges once (a second Basic is
    // asked for as such).
    let keyed = |key: &'static str, tariff: String| {
        let req = core
            .client
            .post(core.url("/me/subscriptions"))
            .bearer_auth(&ann)
            .header("idempotency-key", key)
            .json(&json!({ "tariffId": tariff, "allowDuplicate": true }));
        async move { Reply::from(req.send().await.expect("request")).await }
    };
    let first = keyed("buy-1", basic.clone()).await;
    let again = keyed("buy-1", basic.clone()).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(balance(&core, &ann).await, 500);
    let other = tariff(&core, &admin, json!({ "name": "Other", "price": 1 })).await;
    let clash = keyed("buy-1", other.clone()).await;
    assert_eq!((clash.status, clash.code()), (409, "idempotency_conflict"));
    assert_eq!(
        core.get("/me/subscriptions", Some(&ann)).await.body["total"],
        2
    );

    // What cannot be bought.
    let r = core
        .patch(
            &format!("/admin/tariffs/{other}"),
            Some(&admin),
            json!({ "active": false }),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = buy(&core, &ann, &other, false).await;
    assert_eq!((r.status, r.code()), (409, "tariff_inactive"));
    // A tariff in another currency is refused when made (billing.rs); one from before that
    // check still cannot be bought.
    let usd = tariff(&core, &admin, json!({ "name": "Dollars", "price": 5 })).await;
    sql(
        &core,
        format!("UPDATE tariffs SET currency = 'USD' WHERE id = '{usd}'"),
    )
    .await;
    let r = buy(&core, &ann, &usd, false).await;
    assert_eq!((r.status, r.code()), (409, "currency_mismatch"));
    let r = buy(&core, &ann, "no-such-tariff", false).await;
    assert_eq!((r.status, r.code()), (404, "tariff_not_found"));
    let r = core.post("/me/subscriptions", Some(&ann), json!({})).await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));
    assert!(r.message().contains("tariffId"), "{}", r.message());
    assert_eq!(
        balance(&core, &ann).await,
        500,
        "no refused purchase took money"
    );

    // A tariff in use is retired, never deleted.
    let r = delete(&core, &format!("/admin/tariffs/{basic}"), &admin).await;
    assert_eq!((r.status, r.code()), (409, "tariff_in_use"), "{}", r.text);
    assert_eq!(
        core.get(&format!("/admin/tariffs/{basic}"), Some(&admin))
            .await
            .status,
        200
    );
    let unused = tariff(&core, &admin, json!({ "name": "Unused" })).await;
    let r = delete(&core, &format!("/admin/tariffs/{unused}"), &admin).await;
    assert_eq!(r.status, 204);

    let logs = core
        .get(
            &format!("/admin/logs?action=subscription.purchase&actorId={ann_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(logs.body["total"], 2, "{}", logs.text);
    assert_eq!(
        logs.body["items"][1]["after"]["transaction"]["amount"],
        -1000
    );
});

both_backends!(renewal_with_and_without_funds, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let monthly = tariff(
        &core,
        &admin,
        json!({ "price": 500, "trafficLimitBytes": 1000000 }),
    )
    .await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    let (bob, _, bob_id) = core.register("bob@example.com", "password-bob").await;
    let (cid, _, cid_id) = core.register("cid@example.com", "password-cid").await;
    deposit(&core, &admin, &ann_id, 1000).await;
    deposit(&core, &admin, &bob_id, 500).await;
    deposit(&core, &admin, &cid_id, 1000).await;
    let a = bought(&core, &ann, &monthly, true).await;
    let b = bought(&core, &bob, &monthly, true).await;
    let c = bought(&core, &cid, &monthly, false).await;

    // Their month is over (and Ann used some traffic); the scheduler takes it from here.
    let past = now_ms() - 1000;
    sql(
        &core,
        format!("UPDATE subscriptions SET expires_at = {past}, traffic_used_bytes = 123"),
    )
    .await;
    let ids = [&a, &b, &c].map(|s| s["id"].as_str().unwrap().to_string());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut settled = 0;
        for id in &ids {
            let s = subscription(&core, &admin, id).await;
            if s["status"] != "active" || s["renewals"] == 1 {
                settled += 1;
            }
        }
        if settled == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lifecycle job did not settle them:\n{}",
            core.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let renewed = subscription(&core, &admin, &ids[0]).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(renewed["renewals"], 1);
    assert_eq!(
        renewed["trafficUsedBytes"], 0,
        "a new period, a new allowance"
    );
    let created = renewed["createdAt"].as_i64().unwrap();
    assert_eq!(
        renewed["expiresAt"].as_i64(),
        Some(plus_months(created, 2)),
        "two whole months from activation"
    );
    assert_eq!(balance(&core, &ann).await, 0);
    let renewals = kinds(&ledger(&core, &ann).await, "renewal");
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0]["amount"], -500);
    assert_eq!(renewals[0]["subscriptionId"], ids[0].as_str());
    assert_eq!(renewed["chargeId"], renewals[0]["id"]);
    assert_eq!(
        node_changes(&core, &ids[0]).await,
        vec!["subscription.activated"]
    );

    let broke = subscription(&core, &admin, &ids[1]).await;
    assert_eq!(broke["status"], "expired");
    assert_eq!(broke["statusReason"], "insufficient_funds");
    assert!(kinds(&ledger(&core, &bob).await, "renewal").is_empty());
    assert_eq!(balance(&core, &bob).await, 0);
    assert_eq!(
        node_changes(&core, &ids[1]).await,
        vec!["subscription.activated", "subscription.expired"]
    );

    let ended = subscription(&core, &admin, &ids[2]).await;
    assert_eq!(ended["status"], "expired");
    assert_eq!(ended["statusReason"], "time");
    assert_eq!(balance(&core, &cid).await, 500, "no auto-renew, no charge");

    // Expired stays expired: no later tick charges again.
    let report = tick(&core, &admin).await;
    assert_eq!(report["due"], 0, "{report}");
    let logs = core
        .get("/admin/logs?action=subscription.renew", Some(&admin))
        .await;
    assert_eq!(logs.body["total"], 1);
    assert_eq!(
        logs.body["items"][0]["actorId"],
        Value::Null,
        "the Core renewed it"
    );
    // Auto-renew is the user's to switch, on an active subscription only.
    let path = format!("/me/subscriptions/{}/auto-renew", ids[0]);
    let off = core
        .patch(&path, Some(&ann), json!({ "autoRenew": false }))
        .await;
    assert_eq!(
        (off.status, off.body["autoRenew"].as_bool()),
        (200, Some(false))
    );
    let toggled = core
        .send(reqwest::Method::PATCH, &path, Some(&ann), None)
        .await;
    assert_eq!(toggled.body["autoRenew"], true, "an empty body toggles");
    let r = core
        .patch(
            &format!("/me/subscriptions/{}/auto-renew", ids[1]),
            Some(&bob),
            json!({ "autoRenew": true }),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "subscription_not_active"));
});

both_backends!(
    indefinite_tariffs_and_traffic_limits,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        deposit(&core, &admin, &ann_id, 10_000).await;
        let forever = tariff(
            &core,
            &admin,
            json!({ "durationMonths": null, "price": 100 }),
        )
        .await;
        let metered = tariff(
            &core,
            &admin,
            json!({ "durationMonths": null, "trafficLimitBytes": 1000, "price": 100 }),
        )
        .await;
        let monthly_metered = tariff(
            &core,
            &admin,
            json!({ "trafficLimitBytes": 1000, "price": 100 }),
        )
        .await;

        let f = bought(&core, &ann, &forever, false).await;
        assert_eq!(f["expiresAt"], Value::Null);
        let m = bought(&core, &ann, &metered, false).await;
        let mm = bought(&core, &ann, &monthly_metered, true).await;
        let renewing = bought_again(&core, &ann, &metered, true).await;
        let [f, m, mm, renewing] =
            [&f, &m, &mm, &renewing].map(|s| s["id"].as_str().unwrap().to_string());

        // Decades old and never expired by time; nothing is due.
        sql(
        &core,
        format!("UPDATE subscriptions SET anchor_at = 0, period_start = 0, created_at = 0 WHERE id = '{f}'"),
    )
    .await;
        sql(
            &core,
            format!("UPDATE subscriptions SET traffic_used_bytes = 999 WHERE id = '{m}'"),
        )
        .await;
        let report = tick(&core, &admin).await;
        assert_eq!(report["due"], 0, "{report}");
        assert_eq!(subscription(&core, &admin, &f).await["status"], "active");
        assert_eq!(subscription(&core, &admin, &m).await["status"], "active");

        // At the limit: the indefinite one expires, so does the monthly one (auto-renew or not);
        // the auto-renewing indefinite one buys a new allowance.
        sql(
        &core,
        format!(
            "UPDATE subscriptions SET traffic_used_bytes = 1000 WHERE id IN ('{m}', '{mm}', '{renewing}')"
        ),
    )
    .await;
        let balance_before = balance(&core, &ann).await;
        tick(&core, &admin).await;
        let ended = subscription(&core, &admin, &m).await;
        assert_eq!(
            (ended["status"].as_str(), ended["statusReason"].as_str()),
            (Some("expired"), Some("traffic_limit"))
        );
        let ended = subscription(&core, &admin, &mm).await;
        assert_eq!(
            (ended["status"].as_str(), ended["statusReason"].as_str()),
            (Some("expired"), Some("traffic_limit"))
        );
        let again = subscription(&core, &admin, &renewing).await;
        assert_eq!(again["status"], "active");
        assert_eq!(again["trafficUsedBytes"], 0);
        assert_eq!(again["renewals"], 1);
        assert_eq!(again["expiresAt"], Value::Null);
        assert_eq!(
            balance(&core, &ann).await,
            balance_before - 100,
            "one renewal charged"
        );
        assert_eq!(subscription(&core, &admin, &f).await["status"], "active");
        assert_eq!(
            node_changes(&core, &m).await,
            vec!["subscription.activated", "subscription.expired"]
        );
    }
);

both_backends!(cancellation_and_refunds, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    deposit(&core, &admin, &ann_id, 10_000).await;
    let plan = tariff(&core, &admin, json!({ "price": 3000 })).await;

    // Half of the period is left: prorata gives back half.
    let a = bought(&core, &ann, &plan, false).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let now = now_ms();
    let ten_days = 10 * 24 * 3600 * 1000_i64;
    sql(
        &core,
        format!(
            "UPDATE subscriptions SET period_start = {}, expires_at = {} WHERE id = '{a}'",
            now - ten_days,
            now + ten_days
        ),
    )
    .await;
    let r = core
        .post(
            &format!("/admin/subscriptions/{a}/cancel"),
            Some(&admin),
            json!({ "refund": "prorata", "reason": "moved away" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["subscription"]["status"], "cancelled");
    assert_eq!(r.body["subscription"]["statusReason"], "admin");
    let refund = &r.body["refund"];
    assert_eq!(refund["kind"], "refund");
    let amount = refund["amount"].as_i64().unwrap();
    assert!((1499..=1500).contains(&amount), "prorata refund {amount}");
    assert_eq!(refund["reason"], "moved away");
    assert_eq!(refund["subscriptionId"], a.as_str());
    assert_eq!(balance(&core, &ann).await, 7000 + amount);
    assert_eq!(
        node_changes(&core, &a).await,
        vec!["subscription.activated", "subscription.cancelled"]
    );
    let r = core
        .post(
            &format!("/admin/subscriptions/{a}/cancel"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "subscription_not_active"));

    // A refund can never exceed what its transaction took.
    let charges = kinds(&ledger(&core, &ann).await, "charge");
    let charge_id = charges[0]["id"].as_str().unwrap().to_string();
    let r = core
        .post(
            &format!("/admin/users/{ann_id}/balance/refund"),
            Some(&admin),
            json!({ "transactionId": charge_id, "amount": 3000 - amount + 1 }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "refund_exceeds"), "{}", r.text);

    // A user's own cancellation follows the operator's rule: none by default.
    let b = bought(&core, &ann, &plan, true).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = balance(&core, &ann).await;
    let r = core
        .post(
            &format!("/me/subscriptions/{b}/cancel"),
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["refund"], Value::Null);
    assert_eq!(r.body["subscription"]["statusReason"], "user");
    assert_eq!(r.body["subscription"]["autoRenew"], false);
    assert_eq!(balance(&core, &ann).await, before);

    let settings = core.get("/admin/billing/settings", Some(&admin)).await;
    assert_eq!(settings.body, json!({ "userCancelRefund": "none" }));
    let r = core
        .patch(
            "/admin/billing/settings",
            Some(&admin),
            json!({ "userCancelRefund": "all" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));
    let r = core
        .patch(
            "/admin/billing/settings",
            Some(&admin),
            json!({ "userCancelRefund": "full" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // An admin refunded part of the charge already: full gives back only the rest.
    let c = bought(&core, &ann, &plan, false).await;
    let c_charge = c["chargeId"].as_str().unwrap().to_string();
    let c = c["id"].as_str().unwrap().to_string();
    let r = core
        .post(
            &format!("/admin/users/{ann_id}/balance/refund"),
            Some(&admin),
            json!({ "transactionId": c_charge, "amount": 1000 }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let before = balance(&core, &ann).await;
    let r = core
        .post(
            &format!("/me/subscriptions/{c}/cancel"),
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["refund"]["amount"], 2000);
    assert_eq!(r.body["refund"]["reversesId"], c_charge.as_str());
    assert_eq!(balance(&core, &ann).await, before + 2000);

    let r = core
        .post(
            &format!("/admin/subscriptions/{c}/cancel"),
            Some(&admin),
            json!({ "refund": "some" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));
    let sum: i64 = ledger(&core, &ann)
        .await
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        sum,
        balance(&core, &ann).await,
        "the ledger sums to the balance"
    );
    let logs = core
        .get("/admin/logs?action=subscription.cancel", Some(&admin))
        .await;
    assert_eq!(logs.body["total"], 3);
});

both_backends!(concurrent_purchases_never_overdraw, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    deposit(&core, &admin, &ann_id, 1000).await;
    let plan = tariff(&core, &admin, json!({ "price": 100 })).await;

    let replies = post_at_once(
        &[&core],
        "/me/subscriptions",
        &ann,
        json!({ "tariffId": plan, "allowDuplicate": true }),
        50,
    )
    .await;
    let (ok, short) = (count_status(&replies, 201), count_status(&replies, 402));
    assert_eq!(ok + short, 50, "only 201 or 402");
    assert_eq!((ok, short), (10, 40));
    assert_eq!(balance(&core, &ann).await, 0);
    let mine = core.get("/me/subscriptions?limit=200", Some(&ann)).await;
    assert_eq!(mine.body["total"], 10);
    let entries = ledger(&core, &ann).await;
    assert_eq!(kinds(&entries, "charge").len(), 10);
    let sum: i64 = entries.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0);
    // Newest first, in the order they happened.
    let after: Vec<i64> = entries
        .iter()
        .map(|t| t["balanceAfter"].as_i64().unwrap())
        .collect();
    assert_eq!(
        after,
        vec![0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    );
});

both_backends!(
    users_cannot_reach_each_others_subscriptions,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        let (bob, _, _) = core.register("bob@example.com", "password-bob").await;
        deposit(&core, &admin, &ann_id, 5000).await;
        let plan = tariff(&core, &admin, json!({})).await;
        let sub = bought(&core, &ann, &plan, false).await;
        let id = sub["id"].as_str().unwrap().to_string();
        let link = sub["links"][0]["id"].as_str().unwrap().to_string();
        let uuid = sub["links"][0]["uuid"].as_str().unwrap().to_string();

        for r in [
            core.patch(
                &format!("/me/subscriptions/{id}/auto-renew"),
                Some(&bob),
                json!({ "autoRenew": true }),
            )
            .await,
            core.post(
                &format!("/me/subscriptions/{id}/cancel"),
                Some(&bob),
                json!({}),
            )
            .await,
            core.post(
                &format!("/me/subscriptions/{id}/reset"),
                Some(&bob),
                json!({}),
            )
            .await,
            core.post(
                &format!("/me/subscriptions/{link}/reset"),
                Some(&bob),
                json!({}),
            )
            .await,
            core.patch(
                &format!("/me/subscriptions/links/{link}"),
                Some(&bob),
                json!({ "enabled": false }),
            )
            .await,
            delete(&core, &format!("/me/subscriptions/links/{link}"), &bob).await,
            core.post("/me/links", Some(&bob), json!({ "subscriptionId": id }))
                .await,
        ] {
            assert_eq!(r.status, 404, "{}", r.text);
        }
        assert_eq!(
            core.get("/me/subscriptions", Some(&bob)).await.body["total"],
            0
        );
        assert_eq!(core.get("/me/links", Some(&bob)).await.body["total"], 0);
        let r = core
            .get(&format!("/admin/subscriptions/{id}"), Some(&bob))
            .await;
        assert_eq!(r.status, 403);

        let after = subscription(&core, &admin, &id).await;
        assert_eq!(after["status"], "active");
        assert_eq!(after["autoRenew"], false);
        assert_eq!(after["links"][0]["uuid"], uuid.as_str());
        assert_eq!(after["links"][0]["enabled"], true);
    }
);

both_backends!(links_lifecycle, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    let r = core.post("/me/links", Some(&ann), json!({})).await;
    assert_eq!((r.status, r.code()), (409, "no_active_subscription"));
    deposit(&core, &admin, &ann_id, 5000).await;
    let plan = tariff(&core, &admin, json!({ "protocols": ["vless", "trojan"] })).await;
    let sub = bought(&core, &ann, &plan, false).await;
    let id = sub["id"].as_str().unwrap().to_string();
    let first = sub["links"][0].clone();

    let phone = core
        .post(
            "/me/links",
            Some(&ann),
            json!({ "name": " Phone ", "protocols": ["vless"] }),
        )
        .await;
    assert_eq!(phone.status, 201, "{}", phone.text);
    assert_eq!(phone.body["name"], "Phone");
    assert_eq!(phone.body["protocols"], json!(["vless"]));
    assert_eq!(phone.body["nodeIds"], Value::Null);
    assert_eq!(phone.body["subscriptionId"], id.as_str());
    let phone_id = phone.str("id");
    let list = core.get("/me/links", Some(&ann)).await;
    assert_eq!(list.body["total"], 2);

    for (body, field) in [
        (json!({ "protocols": ["wireguard"] }), "protocols"),
        (json!({ "name": "x".repeat(101) }), "name"),
        (json!({ "enabled": "no" }), "enabled"),
        (json!({ "nodeIds": [""] }), "nodeIds"),
    ] {
        let r = core
            .patch(
                &format!("/me/subscriptions/links/{phone_id}"),
                Some(&ann),
                body,
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.message().contains(field), "{field}: {}", r.message());
    }

    let path = format!("/me/subscriptions/links/{phone_id}");
    let off = core
        .patch(
            &path,
            Some(&ann),
            json!({ "enabled": false, "name": "Old phone" }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(
        (off.body["enabled"].as_bool(), off.body["name"].as_str()),
        (Some(false), Some("Old phone"))
    );
    let on = core
        .patch(
            &path,
            Some(&ann),
            json!({ "enabled": true, "protocols": null }),
        )
        .await;
    assert_eq!(on.body["protocols"], Value::Null);
    let renamed = core.patch(&path, Some(&ann), json!({ "name": null })).await;
    assert_eq!(renamed.body["name"], Value::Null);

    // Reset one link: a new UUID, the old one unknown at once.
    let old = phone.str("uuid");
    let r = core
        .post(
            &format!("/me/subscriptions/{phone_id}/reset"),
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fresh = r.body["links"][0]["uuid"].as_str().unwrap().to_string();
    assert_ne!(fresh, old);
    let known = query_texts(
        &core,
        &format!("SELECT id FROM subscription_links WHERE uuid = '{old}'"),
    )
    .await;
    assert!(known.is_empty(), "the old UUID is gone");
    let uuids: Vec<String> = core.get("/me/links", Some(&ann)).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["uuid"].as_str().unwrap().to_string())
        .collect();
    assert!(uuids.contains(&fresh) && !uuids.contains(&old));
    // Reset by subscription: every link of it.
    let r = core
        .post(
            &format!("/me/subscriptions/{id}/reset"),
            Some(&ann),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reset: Vec<&str> = r.body["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(reset.len(), 2);
    assert!(!reset.contains(&fresh.as_str()) && !reset.contains(&first["uuid"].as_str().unwrap()));

    let changes: Vec<String> = query_texts(
        &core,
        &format!("SELECT kind FROM node_changes WHERE link_id = '{phone_id}' ORDER BY seq"),
    )
    .await;
    assert_eq!(
        changes,
        vec![
            "link.created",
            "link.disabled",
            "link.enabled",
            "link.reconfigured",
            "link.reset",
            "link.reset"
        ]
    );
    let detail = query_texts(
        &core,
        &format!("SELECT detail FROM node_changes WHERE link_id = '{phone_id}' AND kind = 'link.reset' ORDER BY seq"),
    )
    .await;
    let detail: Value = serde_json::from_str(&detail[0]).unwrap();
    assert_eq!(
        (detail["oldUuid"].as_str(), detail["newUuid"].as_str()),
        (Some(old.as_str()), Some(fresh.as_str()))
    );

    let r = delete(&core, &path, &ann).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(core.get("/me/links", Some(&ann)).await.body["total"], 1);
    assert_eq!(delete(&core, &path, &ann).await.status, 404);

    // At most ten links per subscription.
    for _ in 0..9 {
        let r = core
            .post("/me/links", Some(&ann), json!({ "subscriptionId": id }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = core
        .post("/me/links", Some(&ann), json!({ "subscriptionId": id }))
        .await;
    assert_eq!((r.status, r.code()), (409, "too_many_links"));

    // Links of a subscription that ended cannot be added; a second active one must be named.
    let other = bought_again(&core, &ann, &plan, false).await;
    let r = core.post("/me/links", Some(&ann), json!({})).await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));
    let other = other["id"].as_str().unwrap();
    core.post(
        &format!("/me/subscriptions/{other}/cancel"),
        Some(&ann),
        json!({}),
    )
    .await;
    let r = core
        .post("/me/links", Some(&ann), json!({ "subscriptionId": other }))
        .await;
    assert_eq!((r.status, r.code()), (409, "subscription_not_active"));
});

both_backends!(admin_activation_and_edits, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let admin_id = core.get("/me", Some(&admin)).await.str("id");
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    let plan = tariff(&core, &admin, json!({ "price": 700, "active": false })).await;

    let free = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": ann_id, "tariffId": plan }),
        )
        .await;
    assert_eq!(free.status, 201, "{}", free.text);
    assert_eq!(free.body["chargeId"], Value::Null, "given without a charge");
    assert_eq!(free.body["status"], "active");
    assert_eq!(balance(&core, &ann).await, 0);
    let r = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": ann_id, "tariffId": plan, "charge": true, "allowDuplicate": true }),
        )
        .await;
    assert_eq!((r.status, r.code()), (402, "insufficient_funds"));
    deposit(&core, &admin, &ann_id, 700).await;
    let paid = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": ann_id, "tariffId": plan, "charge": true, "allowDuplicate": true }),
        )
        .await;
    assert_eq!(paid.status, 201, "{}", paid.text);
    assert_eq!(balance(&core, &ann).await, 0);
    let r = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": "nobody", "tariffId": plan }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "user_not_found"));
    let mine = core.get("/me/subscriptions", Some(&ann)).await;
    assert_eq!(mine.body["total"], 2, "the user sees what the admin gave");

    let id = free.str("id");
    let path = format!("/admin/subscriptions/{id}");
    let r = core
        .patch(&path, Some(&admin), json!({ "status": "expired" }))
        .await;
    assert_eq!(
        (r.status, r.body["statusReason"].as_str()),
        (200, Some("admin")),
        "{}",
        r.text
    );
    let r = core
        .patch(
            &path,
            Some(&admin),
            json!({ "status": "active", "expiresAt": now_ms() - 1 }),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "subscription_would_expire"));
    let later = now_ms() + 86_400_000;
    let r = core
        .patch(
            &path,
            Some(&admin),
            json!({ "status": "active", "expiresAt": later, "trafficLimitBytes": 5000, "autoRenew": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert_eq!(r.body["expiresAt"], later);
    assert_eq!(r.body["trafficLimitBytes"], 5000);
    for (body, field) in [
        (json!({ "status": "cancelled" }), "status"),
        (json!({ "trafficLimitBytes": 0 }), "trafficLimitBytes"),
        (json!({ "trafficUsedBytes": -1 }), "trafficUsedBytes"),
        (json!({ "expiresAt": "soon" }), "expiresAt"),
    ] {
        let r = core.patch(&path, Some(&admin), body).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.message().contains(field), "{field}: {}", r.message());
    }
    assert_eq!(
        node_changes(&core, &id).await,
        vec![
            "subscription.activated",
            "subscription.expired",
            "subscription.reactivated"
        ]
    );

    // Lists and filters.
    let list = core
        .get(
            &format!("/admin/subscriptions?userId={ann_id}&status=active"),
            Some(&admin),
        )
        .await;
    assert_eq!(list.body["total"], 2, "{}", list.text);
    let r = core
        .get("/admin/subscriptions?status=paused", Some(&admin))
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_error"));

    // Admin link work is audited with who and from where.
    let link = core
        .post(
            &format!("/admin/subscriptions/{id}/links"),
            Some(&admin),
            json!({ "name": "Router" }),
        )
        .await;
    assert_eq!(link.status, 201, "{}", link.text);
    let link_id = link.str("id");
    let r = core
        .post(
            &format!("/admin/subscriptions/links/{link_id}/reset"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_ne!(r.body["links"][0]["uuid"], link.body["uuid"]);
    let r = core
        .patch(
            &format!("/admin/subscriptions/links/{link_id}"),
            Some(&admin),
            json!({ "enabled": false }),
        )
        .await;
    assert_eq!(r.body["enabled"], false);
    let r = delete(
        &core,
        &format!("/admin/subscriptions/links/{link_id}"),
        &admin,
    )
    .await;
    assert_eq!(r.status, 204);
    let logs = core
        .get(&format!("/admin/logs?targetId={link_id}"), Some(&admin))
        .await;
    let mut actions: Vec<&str> = logs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec!["link.create", "link.delete", "link.reset", "link.update"]
    );
    for entry in logs.body["items"].as_array().unwrap() {
        assert_eq!(entry["actorId"], admin_id.as_str());
        assert_eq!(entry["ip"], "127.0.0.1");
    }
    let r = core
        .get(
            &format!("/admin/logs?targetType=subscription&targetId={id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        r.body["total"], 3,
        "activation + 2 updates (refused ones write nothing): {}",
        r.text
    );
});

// Ticks that run at once (two manual runs and the scheduler, on two replicas with PostgreSQL)
// renew each due subscription once and charge once.
both_backends!(ticks_at_once_charge_once, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let plan = tariff(&core, &admin, json!({ "price": 300 })).await;
    let mut users = Vec::new();
    for i in 0..5 {
        let (token, _, id) = core
            .register(&format!("u{i}@example.com"), "password-user")
            .await;
        deposit(&core, &admin, &id, 1000).await;
        bought(&core, &token, &plan, true).await;
        users.push(token);
    }
    let mut replica = None;
    if backend == Backend::Servers {
        let mut second =
            Core::prepare(backend, Options::default().components(&["auth", "billing"]));
        second.share_stores_with(&core);
        second.spawn().await;
        replica = Some(second);
    }
    sql(
        &core,
        format!("UPDATE subscriptions SET expires_at = {}", now_ms() - 10),
    )
    .await;
    let targets: Vec<&Core> = [Some(&core), replica.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let mut renewed = 0;
    for r in post_at_once(&targets, "/admin/subscriptions/tick", &admin, json!({}), 4).await {
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["failed"], 0, "{}", r.text);
        renewed += r.body["renewed"].as_i64().unwrap();
    }
    assert!(
        renewed <= 5,
        "{renewed} renewals reported for 5 subscriptions"
    );
    // Let the scheduler have its go too, then count.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for token in &users {
        assert_eq!(kinds(&ledger(&core, token).await, "renewal").len(), 1);
        assert_eq!(balance(&core, token).await, 400);
        let mine = core.get("/me/subscriptions", Some(token)).await;
        assert_eq!(mine.body["items"][0]["renewals"], 1);
        assert_eq!(mine.body["items"][0]["status"], "active");
    }
});

#[tokio::test]
async fn subscription_routes_are_documented_and_routed() {
    let core = start(Backend::Embedded).await;
    let doc = core.get("/openapi.json", None).await;
    let paths = doc.body["paths"].as_object().expect("paths");
    for (method, path) in [
        ("get", "/me/subscriptions"),
        ("post", "/me/subscriptions"),
        ("patch", "/me/subscriptions/{id}/auto-renew"),
        ("post", "/me/subscriptions/{id}/cancel"),
        ("post", "/me/subscriptions/{id}/reset"),
        ("get", "/me/links"),
        ("post", "/me/links"),
        ("patch", "/me/subscriptions/links/{id}"),
        ("delete", "/me/subscriptions/links/{id}"),
        ("get", "/admin/subscriptions"),
        ("post", "/admin/subscriptions"),
        ("post", "/admin/subscriptions/tick"),
        ("get", "/admin/subscriptions/{id}"),
        ("patch", "/admin/subscriptions/{id}"),
        ("post", "/admin/subscriptions/{id}/cancel"),
        ("post", "/admin/subscriptions/{id}/links"),
        ("patch", "/admin/subscriptions/links/{id}"),
        ("delete", "/admin/subscriptions/links/{id}"),
        ("post", "/admin/subscriptions/links/{id}/reset"),
        ("get", "/admin/billing/settings"),
        ("patch", "/admin/billing/settings"),
    ] {
        let op = &paths[path][method];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has a summary"
        );
    }
    // `/me/subscriptions/links/:id` and `/me/subscriptions/:id/auto-renew` share a shape; the
    // literal segment wins, so each reaches its own handler.
    let (ann, _, _) = core.register("ann@example.com", "password-ann").await;
    let r = core
        .patch(
            "/me/subscriptions/links/auto-renew",
            Some(&ann),
            json!({ "name": "x" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "link_not_found"), "{}", r.text);
    let r = core
        .patch(
            "/me/subscriptions/nope/auto-renew",
            Some(&ann),
            json!({ "autoRenew": true }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, "subscription_not_found"),
        "{}",
        r.text
    );
}

// The Node Manager hands agents only links of active subscriptions: once a subscription ends,
// its user's manager subscription page (share links for every node) is gone too.
both_backends!(
    manager_serves_active_subscriptions_only,
    |backend| async move {
        let core = Core::start_with(
            backend,
            Options::default().components(&["auth", "billing", "manager"]),
        )
        .await;
        let admin = core.admin_token().await;
        let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        let plan = tariff(&core, &admin, json!({ "price": 0 })).await;
        let sub = bought(&core, &ann, &plan, false).await;
        let page = format!("/subscription/{ann_id}");
        assert_eq!(core.get(&page, None).await.status, 200);
        let r = core
            .patch(
                &format!("/admin/subscriptions/{}", sub["id"].as_str().unwrap()),
                Some(&admin),
                json!({ "status": "expired" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = core.get(&page, None).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "subscription_not_found"),
            "{}",
            r.text
        );
    }
);

both_backends!(
    admin_mistakes_are_refused_with_what_to_do,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let plan = tariff(&core, &admin, json!({ "name": "Month", "price": 100 })).await;
        let give = |user: String, extra: Value| {
            let mut body = json!({ "userId": user, "tariffId": plan });
            for (k, v) in extra.as_object().expect("object") {
                body[k] = v.clone();
            }
            core.post("/admin/subscriptions", Some(&admin), body)
        };

        // A user who could not use it: refused, saying how to fix it or to force it.
        for (i, (change, state)) in [
            (json!({ "status": "pending" }), "pending"),
            (json!({ "status": "rejected" }), "rejected"),
            (json!({ "blocked": true }), "blocked"),
        ]
        .into_iter()
        .enumerate()
        {
            let (_, _, id) = core
                .register(&format!("u{i}@example.com"), "password-user")
                .await;
            let r = core
                .patch(&format!("/admin/users/{id}"), Some(&admin), change)
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let r = give(id.clone(), json!({})).await;
            assert_eq!((r.status, r.code()), (409, "user_not_active"), "{}", r.text);
            assert!(
                r.message().contains(state) && r.message().contains("\"force\": true"),
                "{}",
                r.message()
            );
            let list = core
                .get(&format!("/admin/subscriptions?userId={id}"), Some(&admin))
                .await;
            assert_eq!(list.body["total"], 0, "nothing given");
            let r = give(id, json!({ "force": true })).await;
            assert_eq!(r.status, 201, "forced: {}", r.text);
        }

        // A second active subscription of one tariff: refused unless asked for, for the admin
        // and for the user alike.
        let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        deposit(&core, &admin, &ann_id, 1000).await;
        let first = give(ann_id.clone(), json!({})).await;
        assert_eq!(first.status, 201, "{}", first.text);
        let again = give(ann_id.clone(), json!({})).await;
        assert_eq!(
            (again.status, again.code()),
            (409, "duplicate_subscription"),
            "{}",
            again.text
        );
        assert!(
            again.message().contains("Month")
                && again.message().contains("\"allowDuplicate\": true"),
            "{}",
            again.message()
        );
        let own = buy(&core, &ann, &plan, false).await;
        assert_eq!((own.status, own.code()), (409, "duplicate_subscription"));
        assert!(
            own.message().contains("allowDuplicate"),
            "{}",
            own.message()
        );
        assert_eq!(
            balance(&core, &ann).await,
            1000,
            "a refused purchase took nothing"
        );
        let mine = core.get("/me/subscriptions", Some(&ann)).await;
        assert_eq!(mine.body["total"], 1);
        let second = give(ann_id.clone(), json!({ "allowDuplicate": true })).await;
        assert_eq!(second.status, 201, "{}", second.text);
        bought_again(&core, &ann, &plan, false).await;
        assert_eq!(
            core.get("/me/subscriptions", Some(&ann)).await.body["total"],
            3
        );

        // Once the tariff's subscription has ended, buying it again is no duplicate.
        let weekly = tariff(&core, &admin, json!({ "name": "Week", "price": 100 })).await;
        let sub = bought(&core, &ann, &weekly, false).await;
        let r = core
            .patch(
                &format!("/admin/subscriptions/{}", sub["id"].as_str().unwrap()),
                Some(&admin),
                json!({ "status": "expired" }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        bought(&core, &ann, &weekly, false).await;

        // Purchases at once: exactly one gets through.
        let (bob, _, bob_id) = core.register("bob@example.com", "password-bob").await;
        deposit(&core, &admin, &bob_id, 1000).await;
        let replies = post_at_once(
            &[&core],
            "/me/subscriptions",
            &bob,
            json!({ "tariffId": plan }),
            10,
        )
        .await;
        assert_eq!(
            (count_status(&replies, 201), count_status(&replies, 409)),
            (1, 9)
        );
        assert_eq!(balance(&core, &bob).await, 900, "charged once");
    }
);
