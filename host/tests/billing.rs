//! The `billing` component (tariffs, balance ledger, audit log) over real HTTP, on both backends.

mod common;

use common::{Backend, Core, Options, Reply};
use serde_json::{json, Value};

async fn start(backend: Backend) -> Core {
    Core::start_with(backend, Options::default().components(&["auth", "billing"])).await
}

async fn delete(core: &Core, path: &str, token: &str) -> Reply {
    core.send(reqwest::Method::DELETE, path, Some(token), None)
        .await
}

/// POST with an `idempotency-key` header.
async fn post_keyed(core: &Core, path: &str, token: &str, key: &str, body: Value) -> Reply {
    let req = core
        .client
        .post(core.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&body);
    Reply::from(req.send().await.expect("request")).await
}

async fn balance(core: &Core, admin: &str, user: &str) -> i64 {
    let r = core
        .get(&format!("/admin/users/{user}/balance"), Some(admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["amount"].as_i64().expect("amount")
}

async fn transactions(core: &Core, token: &str) -> Vec<Value> {
    let r = core
        .get("/me/balance/transactions?limit=200", Some(token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["total"].as_u64(),
        Some(r.body["items"].as_array().unwrap().len() as u64)
    );
    r.body["items"].as_array().expect("items").clone()
}

fn assert_field(r: &Reply, field: &str) {
    assert_eq!(r.status, 400, "{field}: {}", r.text);
    assert_eq!(r.code(), "validation_error", "{}", r.text);
    assert!(r.message().contains(field), "{field}: {}", r.message());
}

both_backends!(tariff_crud_and_validation, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (user, _, _) = core.register("ann@example.com", "password-ann").await;

    let created = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({
                "name": " Basic ", "price": 29900, "currency": "RUB", "durationMonths": 1,
                "trafficLimitBytes": null, "protocols": ["vless", "trojan", "vless"],
                "nodeIds": ["n1"], "externalSourceIds": []
            }),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.str("id");
    assert_eq!(created.body["name"], "Basic");
    assert_eq!(created.body["price"], 29900);
    assert_eq!(created.body["protocols"], json!(["vless", "trojan"]));
    assert_eq!(created.body["trafficLimitBytes"], Value::Null);
    assert_eq!(created.body["active"], true);

    let got = core
        .get(&format!("/admin/tariffs/{id}"), Some(&admin))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);

    let patched = core
        .patch(
            &format!("/admin/tariffs/{id}"),
            Some(&admin),
            json!({ "durationMonths": null, "trafficLimitBytes": 1073741824, "active": false }),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(patched.body["durationMonths"], Value::Null);
    assert_eq!(patched.body["trafficLimitBytes"], 1073741824_i64);
    assert_eq!(patched.body["active"], false);
    assert_eq!(patched.body["price"], 29900, "untouched fields stay");

    let list = core.get("/admin/tariffs", Some(&admin)).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["total"], 1);
    assert_eq!(list.body["items"][0]["id"], id.as_str());

    let base = json!({ "name": "X", "price": 1, "currency": "RUB" });
    for (field, bad) in [
        ("name", json!("  ")),
        ("price", json!(-1)),
        ("price", json!("ten")),
        ("currency", json!("rub")),
        ("currency", json!("RUBL")),
        ("durationMonths", json!(0)),
        ("trafficLimitBytes", json!(0)),
        ("protocols", json!(["wireguard"])),
        ("nodeIds", json!([""])),
        ("externalSourceIds", json!([1])),
    ] {
        let mut body = base.clone();
        body[field] = bad;
        let r = core.post("/admin/tariffs", Some(&admin), body).await;
        assert_field(&r, field);
    }
    let r = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({ "price": 1, "currency": "RUB" }),
        )
        .await;
    assert_field(&r, "name");
    let r = core
        .patch(
            &format!("/admin/tariffs/{id}"),
            Some(&admin),
            json!({ "currency": "usd" }),
        )
        .await;
    assert_field(&r, "currency");

    // Only the balances' currency: a tariff in another could never be bought. The answer says
    // which one is taken.
    let mut usd = base.clone();
    usd["currency"] = json!("USD");
    let r = core.post("/admin/tariffs", Some(&admin), usd).await;
    assert_field(&r, "currency");
    assert!(
        r.message().contains("USD") && r.message().contains("RUB"),
        "{}",
        r.message()
    );
    let r = core
        .patch(
            &format!("/admin/tariffs/{id}"),
            Some(&admin),
            json!({ "currency": "EUR" }),
        )
        .await;
    assert_field(&r, "currency");
    assert!(r.message().contains("RUB"), "{}", r.message());
    let list = core.get("/admin/tariffs", Some(&admin)).await;
    assert_eq!(list.body["total"], 1, "nothing made");
    assert_eq!(list.body["items"][0]["currency"], "RUB", "nothing changed");
    let r = core
        .patch(
            &format!("/admin/tariffs/{id}"),
            Some(&admin),
            json!({ "currency": "RUB" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    for r in [
        core.get("/admin/tariffs", Some(&user)).await,
        core.post("/admin/tariffs", Some(&user), base.clone()).await,
        delete(&core, &format!("/admin/tariffs/{id}"), &user).await,
    ] {
        assert_eq!(r.status, 403, "{}", r.text);
    }

    let gone = delete(&core, &format!("/admin/tariffs/{id}"), &admin).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    let r = core
        .get(&format!("/admin/tariffs/{id}"), Some(&admin))
        .await;
    assert_eq!((r.status, r.code()), (404, "tariff_not_found"));
    let r = delete(&core, &format!("/admin/tariffs/{id}"), &admin).await;
    assert_eq!(r.status, 404);
});

// SQLite once answered 500 "database is locked" to most of 40 parallel deletes: a transaction
// that read, then wrote, could not wait for the lock. Writers now wait their turn.
both_backends!(parallel_writes_wait_for_the_lock, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..40 {
        let body = json!({
            "name": format!("T{i}"), "price": 100, "currency": "RUB", "durationMonths": 1,
            "trafficLimitBytes": null, "protocols": [], "nodeIds": [], "externalSourceIds": []
        });
        let r = core.post("/admin/tariffs", Some(&admin), body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.str("id"));
    }
    let deletes = ids.iter().map(|id| {
        let req = core
            .client
            .delete(core.url(&format!("/admin/tariffs/{id}")))
            .bearer_auth(&admin);
        async move { Reply::from(req.send().await.expect("request")).await }
    });
    let replies = futures_join_all(deletes).await;
    let failed: Vec<String> = replies
        .iter()
        .filter(|r| !(200..300).contains(&r.status))
        .map(|r| format!("{} {}", r.status, r.text))
        .collect();
    assert!(failed.is_empty(), "every delete succeeds: {failed:?}");
    let left = core.get("/admin/tariffs", Some(&admin)).await;
    assert_eq!(left.body["total"], 0, "{}", left.text);
});

/// Runs the futures at once (each on its own task) and returns their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.expect("task"));
    }
    out
}

both_backends!(deposits_withdrawals_and_idempotency, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
    let (bob, _, bob_id) = core.register("bob@example.com", "password-bob").await;

    let me = core.get("/me/balance", Some(&ann)).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body, json!({ "amount": 0, "currency": "RUB" }));

    let dep = core
        .post(
            &format!("/admin/users/{ann_id}/balance/deposit"),
            Some(&admin),
            json!({ "amount": 1000, "reason": "cash" }),
        )
        .await;
    assert_eq!(dep.status, 200, "{}", dep.text);
    assert_eq!(dep.body["kind"], "deposit");
    assert_eq!(dep.body["amount"], 1000);
    assert_eq!(dep.body["balanceAfter"], 1000);
    assert_eq!(dep.body["reason"], "cash");

    let short = core
        .post(
            &format!("/admin/users/{ann_id}/balance/withdraw"),
            Some(&admin),
            json!({ "amount": 1001 }),
        )
        .await;
    assert_eq!((short.status, short.code()), (402, "insufficient_funds"));
    assert!(
        short.message().contains("1000") && short.message().contains("1001"),
        "{}",
        short.message()
    );
    assert_eq!(balance(&core, &admin, &ann_id).await, 1000);

    let wd = core
        .post(
            &format!("/admin/users/{ann_id}/balance/withdraw"),
            Some(&admin),
            json!({ "amount": 300 }),
        )
        .await;
    assert_eq!(wd.status, 200, "{}", wd.text);
    assert_eq!(
        (wd.body["kind"].as_str(), wd.body["amount"].as_i64()),
        (Some("withdrawal"), Some(-300))
    );
    assert_eq!(wd.body["balanceAfter"], 700);

    // The same key twice: one row, the same answer; header and body field both work.
    let path = format!("/admin/users/{ann_id}/balance/deposit");
    let first = post_keyed(&core, &path, &admin, "pay-1", json!({ "amount": 50 })).await;
    let again = post_keyed(&core, &path, &admin, "pay-1", json!({ "amount": 50 })).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(first.body, again.body);
    let by_body = core
        .post(
            &path,
            Some(&admin),
            json!({ "amount": 50, "idempotencyKey": "pay-1" }),
        )
        .await;
    assert_eq!(by_body.body, first.body);
    let other = post_keyed(&core, &path, &admin, "pay-1", json!({ "amount": 60 })).await;
    assert_eq!((other.status, other.code()), (409, "idempotency_conflict"));
    assert_eq!(balance(&core, &admin, &ann_id).await, 750);

    let items = transactions(&core, &ann).await;
    assert_eq!(items.len(), 3, "deposit, withdrawal, one keyed deposit");
    assert_eq!(items[0]["balanceAfter"], 750, "newest first");
    let sum: i64 = items.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
    assert_eq!(sum, 750, "the ledger sums to the balance");
    let me = core.get("/me/balance", Some(&ann)).await;
    assert_eq!(me.body["amount"], 750);

    // Bob sees only his own (empty) ledger and balance; user tokens cannot move money.
    assert!(transactions(&core, &bob).await.is_empty());
    assert_eq!(core.get("/me/balance", Some(&bob)).await.body["amount"], 0);
    let r = core
        .post(
            &format!("/admin/users/{bob_id}/balance/deposit"),
            Some(&bob),
            json!({ "amount": 5 }),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = core
        .get(&format!("/admin/users/{ann_id}/balance"), Some(&bob))
        .await;
    assert_eq!(r.status, 403);

    // Validation and unknown users.
    for amount in [json!(0), json!(-5), json!("5")] {
        let r = core
            .post(&path, Some(&admin), json!({ "amount": amount }))
            .await;
        assert_field(&r, "amount");
    }
    let r = core
        .post(
            "/admin/users/nobody/balance/deposit",
            Some(&admin),
            json!({ "amount": 5 }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "user_not_found"));
});

/// The API's bounds: 10^15 minor units per amount and per balance, 10^18 traffic bytes.
const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
const MAX_TRAFFIC_BYTES: i64 = 1_000_000_000_000_000_000;

both_backends!(
    money_and_traffic_figures_are_bounded,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (_, _, ann) = core.register("ann@example.com", "password-ann").await;

        // Prices: 2^63-1 and anything past the bound is refused, naming the field.
        let base = json!({ "name": "X", "price": 1, "currency": "RUB" });
        for (field, bad) in [
            ("price", json!(i64::MAX)),
            ("price", json!(MAX_AMOUNT + 1)),
            ("trafficLimitBytes", json!(MAX_TRAFFIC_BYTES + 1)),
            ("trafficLimitBytes", json!(i64::MAX)),
        ] {
            let mut body = base.clone();
            body[field] = bad;
            let r = core.post("/admin/tariffs", Some(&admin), body).await;
            assert_field(&r, field);
        }
        let tariff = core
            .post(
                "/admin/tariffs",
                Some(&admin),
                json!({ "name": "Max", "price": MAX_AMOUNT, "currency": "RUB",
                    "durationMonths": 1, "trafficLimitBytes": MAX_TRAFFIC_BYTES }),
            )
            .await;
        assert_eq!(
            tariff.status, 201,
            "the bounds themselves are taken: {}",
            tariff.text
        );
        let tariff_id = tariff.str("id");
        let r = core
            .patch(
                &format!("/admin/tariffs/{tariff_id}"),
                Some(&admin),
                json!({ "price": i64::MAX }),
            )
            .await;
        assert_field(&r, "price");

        // Movements: every amount field is bounded.
        let path = |what: &str| format!("/admin/users/{ann}/balance/{what}");
        for what in ["deposit", "withdraw"] {
            for amount in [json!(MAX_AMOUNT + 1), json!(i64::MAX), json!(u64::MAX)] {
                let r = core
                    .post(&path(what), Some(&admin), json!({ "amount": amount }))
                    .await;
                assert_field(&r, "amount");
            }
        }
        let r = core
            .post(
                &path("refund"),
                Some(&admin),
                json!({ "transactionId": "x", "amount": i64::MAX }),
            )
            .await;
        assert_field(&r, "amount");

        // A balance stops at the maximum: 409 with a message, nothing written, never a 500.
        let full = core
            .post(
                &path("deposit"),
                Some(&admin),
                json!({ "amount": MAX_AMOUNT }),
            )
            .await;
        assert_eq!(full.status, 200, "{}", full.text);
        let over = core
            .post(&path("deposit"), Some(&admin), json!({ "amount": 1 }))
            .await;
        assert_eq!(
            (over.status, over.code()),
            (409, "balance_limit"),
            "{}",
            over.text
        );
        assert!(over.message().contains("maximum"), "{}", over.message());
        assert_eq!(balance(&core, &admin, &ann).await, MAX_AMOUNT);
        let r = core
            .post(&path("withdraw"), Some(&admin), json!({ "amount": 1 }))
            .await;
        assert_eq!(
            r.status, 200,
            "a full balance can still be drawn on: {}",
            r.text
        );

        // Subscriptions: traffic figures and the expiry are bounded too.
        let sub = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": ann, "tariffId": tariff_id }),
            )
            .await;
        assert_eq!(sub.status, 201, "{}", sub.text);
        let sub_path = format!("/admin/subscriptions/{}", sub.str("id"));
        for (field, bad) in [
            ("trafficUsedBytes", json!(i64::MAX)),
            ("trafficUsedBytes", json!(MAX_TRAFFIC_BYTES + 1)),
            ("trafficLimitBytes", json!(i64::MAX)),
            ("expiresAt", json!(i64::MAX)),
        ] {
            let r = core
                .patch(&sub_path, Some(&admin), json!({ field: bad }))
                .await;
            assert_field(&r, field);
        }
        let r = core
            .patch(
                &sub_path,
                Some(&admin),
                json!({ "trafficUsedBytes": MAX_TRAFFIC_BYTES - 1 }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

both_backends!(
    concurrent_withdrawals_never_overdraw,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (ann, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        let dep = core
            .post(
                &format!("/admin/users/{ann_id}/balance/deposit"),
                Some(&admin),
                json!({ "amount": 100 }),
            )
            .await;
        assert_eq!(dep.status, 200, "{}", dep.text);

        let replies = common::post_at_once(
            &[&core],
            &format!("/admin/users/{ann_id}/balance/withdraw"),
            &admin,
            json!({ "amount": 10 }),
            50,
        )
        .await;
        let (ok, short) = (
            common::count_status(&replies, 200),
            common::count_status(&replies, 402),
        );
        assert_eq!(ok + short, 50, "only 200 or 402");
        assert_eq!((ok, short), (10, 40));
        assert_eq!(balance(&core, &admin, &ann_id).await, 0);
        let items = transactions(&core, &ann).await;
        assert_eq!(items.len(), 11, "1 deposit + 10 withdrawals");
        let sum: i64 = items.iter().map(|t| t["amount"].as_i64().unwrap()).sum();
        assert_eq!(sum, 0);
        let mut after: Vec<i64> = items
            .iter()
            .map(|t| t["balanceAfter"].as_i64().unwrap())
            .collect();
        after.sort();
        assert_eq!(after, vec![0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);

        // Concurrent retries of one keyed deposit: one row, every answer the same transaction.
        let replies = common::post_at_once(
            &[&core],
            &format!("/admin/users/{ann_id}/balance/deposit"),
            &admin,
            json!({ "amount": 7, "idempotencyKey": "retry-storm" }),
            10,
        )
        .await;
        let mut ids = Vec::new();
        for r in replies {
            assert_eq!(r.status, 200, "{}", r.text);
            ids.push(r.str("id"));
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "one transaction for one key");
        assert_eq!(balance(&core, &admin, &ann_id).await, 7);
        assert_eq!(transactions(&core, &ann).await.len(), 12);
    }
);

both_backends!(
    refunds_never_exceed_their_transaction,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (_, _, ann_id) = core.register("ann@example.com", "password-ann").await;
        let (_, _, bob_id) = core.register("bob@example.com", "password-bob").await;
        let base = format!("/admin/users/{ann_id}/balance");
        let dep = core
            .post(
                &format!("{base}/deposit"),
                Some(&admin),
                json!({ "amount": 1000 }),
            )
            .await;
        let wd = core
            .post(
                &format!("{base}/withdraw"),
                Some(&admin),
                json!({ "amount": 400 }),
            )
            .await;
        assert_eq!(wd.status, 200, "{}", wd.text);
        let wd_id = wd.str("id");
        let refund = format!("{base}/refund");

        let r = core
            .post(
                &refund,
                Some(&admin),
                json!({ "transactionId": wd_id, "amount": 401 }),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "refund_exceeds"), "{}", r.text);
        let r = core
            .post(
                &refund,
                Some(&admin),
                json!({ "transactionId": dep.str("id") }),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "not_refundable"), "{}", r.text);

        let part = core
            .post(
                &refund,
                Some(&admin),
                json!({ "transactionId": wd_id, "amount": 150, "reason": "goodwill" }),
            )
            .await;
        assert_eq!(part.status, 200, "{}", part.text);
        assert_eq!(part.body["kind"], "refund");
        assert_eq!(part.body["amount"], 150);
        assert_eq!(part.body["reversesId"], wd_id.as_str());
        assert_eq!(part.body["balanceAfter"], 750);
        let r = core
            .post(
                &refund,
                Some(&admin),
                json!({ "transactionId": wd_id, "amount": 251 }),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "refund_exceeds"), "{}", r.text);
        let rest = core
            .post(&refund, Some(&admin), json!({ "transactionId": wd_id }))
            .await;
        assert_eq!(rest.status, 200, "{}", rest.text);
        assert_eq!(rest.body["amount"], 250, "the remainder by default");
        let r = core
            .post(&refund, Some(&admin), json!({ "transactionId": wd_id }))
            .await;
        assert_eq!((r.status, r.code()), (400, "refund_exceeds"));
        assert_eq!(balance(&core, &admin, &ann_id).await, 1000);

        // Another user's transaction, or an unknown one, is not found.
        let r = core
            .post(
                &format!("/admin/users/{bob_id}/balance/refund"),
                Some(&admin),
                json!({ "transactionId": wd_id }),
            )
            .await;
        assert_eq!((r.status, r.code()), (404, "transaction_not_found"));
        let r = core
            .post(&refund, Some(&admin), json!({ "transactionId": "nope" }))
            .await;
        assert_eq!(r.status, 404);
    }
);

both_backends!(audit_log_records_admin_actions, |backend| async move {
    let core = start(backend).await;
    let admin = core.admin_token().await;
    let admin_id = core.get("/me", Some(&admin)).await.str("id");
    let (user, _, ann_id) = core.register("ann@example.com", "password-ann").await;

    let t = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({ "name": "Pro", "price": 100, "currency": "RUB" }),
        )
        .await;
    let tariff_id = t.str("id");
    core.patch(
        &format!("/admin/tariffs/{tariff_id}"),
        Some(&admin),
        json!({ "price": 200 }),
    )
    .await;
    core.post(
        &format!("/admin/users/{ann_id}/balance/deposit"),
        Some(&admin),
        json!({ "amount": 10 }),
    )
    .await;

    // The admin's own actions (the Core's start-up also logs activating its components).
    let logs = core
        .get(&format!("/admin/logs?actorId={admin_id}"), Some(&admin))
        .await;
    assert_eq!(logs.status, 200, "{}", logs.text);
    assert_eq!(logs.body["total"], 3);
    let items = logs.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["tariff.create", "tariff.update", "balance.deposit"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    for entry in items {
        assert_eq!(entry["actorId"], admin_id.as_str());
        assert_eq!(entry["ip"], "127.0.0.1");
    }
    let update = core
        .get("/admin/logs?action=tariff.update", Some(&admin))
        .await;
    assert_eq!(update.body["total"], 1);
    assert_eq!(update.body["items"][0]["before"]["price"], 100);
    assert_eq!(update.body["items"][0]["after"]["price"], 200);
    assert_eq!(update.body["items"][0]["targetId"], tariff_id.as_str());
    let by_target = core
        .get(
            &format!("/admin/logs?targetId={ann_id}&actorId={admin_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(by_target.body["total"], 1);
    assert_eq!(by_target.body["items"][0]["after"]["balance"], 10);
    let page = core
        .get(
            &format!("/admin/logs?actorId={admin_id}&limit=1&offset=1"),
            Some(&admin),
        )
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["total"], 3);
    assert_eq!(core.get("/admin/logs", Some(&user)).await.status, 403);
    let r = core.get("/admin/logs?limit=0", Some(&admin)).await;
    assert_field(&r, "limit");
    let r = core.get("/admin/logs?since=yesterday", Some(&admin)).await;
    assert_field(&r, "since");
    assert_eq!(
        core.get("/admin/logs?until=1", Some(&admin)).await.body["total"],
        0
    );

    // Admin work in other components is audited too (here: auth's user and settings edits).
    let r = core
        .patch(
            &format!("/admin/users/{ann_id}"),
            Some(&admin),
            json!({ "blocked": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = core
        .patch(
            "/admin/settings",
            Some(&admin),
            json!({ "registrationRequireApproval": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let users = core.get("/admin/logs?targetType=user", Some(&admin)).await;
    assert_eq!(
        users.body["total"], 2,
        "the deposit and the block: {}",
        users.text
    );
    let block = core
        .get("/admin/logs?action=user.update", Some(&admin))
        .await;
    assert_eq!(block.body["items"][0]["before"]["blocked"], false);
    assert_eq!(block.body["items"][0]["after"]["blocked"], true);
    assert_eq!(block.body["items"][0]["targetId"], ann_id.as_str());
    let settings = core
        .get("/admin/logs?targetType=settings", Some(&admin))
        .await;
    assert_eq!(
        settings.body["items"][0]["after"]["registrationRequireApproval"],
        true
    );
    // Whether a user may connect decides which clients nodes carry: the outbox says so.
    let access = common::query_texts(
        &core,
        &format!(
            "SELECT detail FROM node_changes WHERE kind = 'user.access' AND user_id = '{ann_id}'"
        ),
    )
    .await;
    assert_eq!(access.len(), 1, "{access:?}");
    assert!(access[0].contains(r#""blocked":true"#), "{access:?}");
});

#[tokio::test]
async fn billing_routes_are_documented() {
    let core = start(Backend::Embedded).await;
    let doc = core.get("/openapi.json", None).await;
    assert_eq!(doc.status, 200);
    let paths = doc.body["paths"].as_object().expect("paths");
    for (method, path) in [
        ("get", "/admin/tariffs"),
        ("post", "/admin/tariffs"),
        ("get", "/admin/tariffs/{id}"),
        ("patch", "/admin/tariffs/{id}"),
        ("delete", "/admin/tariffs/{id}"),
        ("get", "/me/balance"),
        ("get", "/me/balance/transactions"),
        ("get", "/admin/users/{id}/balance"),
        ("post", "/admin/users/{id}/balance/deposit"),
        ("post", "/admin/users/{id}/balance/withdraw"),
        ("post", "/admin/users/{id}/balance/refund"),
        ("get", "/admin/logs"),
    ] {
        let op = &paths[path][method];
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{method} {path} has a summary"
        );
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
        if method == "post" || method == "patch" {
            assert!(
                op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{method} {path} has a request schema"
            );
        }
    }
}

both_backends!(
    the_money_summary_sums_each_day_by_kind,
    |backend| async move {
        let core = start(backend).await;
        let admin = core.admin_token().await;
        let (_, _, ann) = core.register("ann@example.com", "password-ann").await;
        let money = |path: &'static str, body: Value| {
            let core = &core;
            let admin = &admin;
            let ann = ann.clone();
            async move {
                let r = core
                    .post(
                        &format!("/admin/users/{ann}/balance/{path}"),
                        Some(admin),
                        body,
                    )
                    .await;
                assert!(r.status < 300, "{path}: {}", r.text);
                r.body
            }
        };
        money("deposit", json!({ "amount": 10_000 })).await;
        let out = money("withdraw", json!({ "amount": 1_500 })).await;
        let tariff = core
            .post(
                "/admin/tariffs",
                Some(&admin),
                json!({ "name": "Month", "price": 3_000, "currency": "RUB", "durationMonths": 1 }),
            )
            .await;
        let r = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": ann, "tariffId": tariff.str("id"), "charge": true }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        money(
            "refund",
            json!({ "transactionId": out["id"], "amount": 500 }),
        )
        .await;

        let r = core
            .get("/admin/billing/summary?days=7", Some(&admin))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let days = r.body["days"].as_array().expect("days");
        assert_eq!(days.len(), 7, "every day of the range");
        let today = &days[6];
        let sums =
            json!({ "deposits": 10_000, "sales": 3_000, "refunds": 500, "withdrawals": 1_500 });
        for key in ["deposits", "sales", "refunds", "withdrawals"] {
            assert_eq!(today[key], sums[key], "{key}: {}", r.body);
            assert_eq!(r.body["totals"][key], sums[key], "{key}");
            assert_eq!(days[0][key], 0, "nothing the first day");
        }
        assert_eq!(r.body["currency"], "RUB");
        let r = core
            .get("/admin/billing/summary?days=0", Some(&admin))
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
);
