//! `nexuma backup` / `nexuma restore` through the real binary: a backup taken while the Core
//! serves restores into an empty database — of the same backend or the other — with the same
//! logins, ledger and subscription links; a non-empty database is refused; a backup taken
//! during deposits is one consistent moment.

mod common;

use std::path::PathBuf;

use common::{query_texts, Backend, Core, Options};
use serde_json::json;

const COMPONENTS: &[&str] = &["auth", "billing", "nodes", "subscriptions"];

/// A serving Core with an admin, a node, a tariff, a user with a subscription link and two
/// deposits; returns it with (admin token, user id, link uuid).
async fn populated(backend: Backend) -> (Core, String, String, String) {
    let core = Core::start_with(backend, Options::default().components(COMPONENTS)).await;
    let admin = core.admin_token().await;
    let node = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "Frankfurt", "address": "fra.example.com", "status": "active",
                    "inbounds": [{ "tag": "vless", "protocol": "vless", "port": 443 }] }),
        )
        .await;
    assert_eq!(node.status, 201, "{}", node.text);
    common::agent::serving_xray(&core, &admin, &node.str("id")).await;
    let tariff = core
        .post(
            "/admin/tariffs",
            Some(&admin),
            json!({ "name": "Month", "price": 0, "currency": "RUB", "durationMonths": 1 }),
        )
        .await;
    assert_eq!(tariff.status, 201, "{}", tariff.text);
    let (_, _, user) = core.register("ann@example.com", "password-ann").await;
    let sub = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": user, "tariffId": tariff.str("id") }),
        )
        .await;
    assert_eq!(sub.status, 201, "{}", sub.text);
    let uuid = sub.body["links"][0]["uuid"]
        .as_str()
        .expect("link uuid")
        .to_string();
    for amount in [1000, 250] {
        deposit(&core, &admin, &user, amount).await;
    }
    (core, admin, user, uuid)
}

async fn deposit(core: &Core, admin: &str, user: &str, amount: i64) {
    let r = core
        .post(
            &format!("/admin/users/{user}/balance/deposit"),
            Some(admin),
            json!({ "amount": amount, "reason": "cash" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

fn backup_file(core: &Core) -> PathBuf {
    core.dir.path().join("nexuma.backup")
}

fn run_ok(core: &Core, args: &[&str]) -> String {
    let out = core.run_cli(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "nexuma {args:?}: {stderr}");
    stderr
}

/// Backs `from` up while it serves, restores into an empty `to`, and checks what an operator
/// and a user would look at.
async fn round_trip(from: Backend, to: Backend) {
    let (source, admin, user, uuid) = populated(from).await;
    let file = backup_file(&source);
    run_ok(&source, &["backup", file.to_str().expect("path")]);
    let sub_path = format!("/sub/{uuid}");
    let exported = source.get(&sub_path, None).await;
    assert_eq!(exported.status, 200, "{}", exported.text);
    let balance_path = format!("/admin/users/{user}/balance");
    let balance = source.get(&balance_path, Some(&admin)).await;
    let ledger = source
        .get(
            "/me/balance/transactions?limit=200",
            Some(&source.login("ann@example.com", "password-ann").await),
        )
        .await;

    let mut target = Core::prepare(to, Options::default().components(COMPONENTS));
    run_ok(&target, &["restore", file.to_str().expect("path")]);
    target.spawn().await;

    let admin = target.login("root@example.com", "admin-password-1").await;
    let ann = target.login("ann@example.com", "password-ann").await;
    let restored = target.get(&balance_path, Some(&admin)).await;
    assert_eq!(restored.status, 200, "{}", restored.text);
    assert_eq!(restored.body["amount"], 1250);
    assert_eq!(restored.body, balance.body);
    let restored_ledger = target
        .get("/me/balance/transactions?limit=200", Some(&ann))
        .await;
    assert_eq!(restored_ledger.body, ledger.body);
    let again = target.get(&sub_path, None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(
        again.text, exported.text,
        "the link exports the same config"
    );

    // Restoring on top of data is refused, and says what to do.
    let out = target.run_cli(&["restore", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not empty") && stderr.contains("empty database"),
        "{stderr}"
    );
}

both_backends!(
    backup_restores_users_ledger_and_links,
    |backend| async move { round_trip(backend, backend).await }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_restores_into_postgres_and_back() {
    round_trip(Backend::Embedded, Backend::Servers).await;
    round_trip(Backend::Servers, Backend::Embedded).await;
}

both_backends!(backup_during_deposits_is_consistent, |backend| async move {
    let (source, admin, user, _) = populated(backend).await;
    let file = backup_file(&source);
    let path = file.to_str().expect("path").to_string();
    let deposits = async {
        for _ in 0..40 {
            deposit(&source, &admin, &user, 7).await;
        }
    };
    let backups = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let out = tokio::task::block_in_place(|| source.run_cli(&["backup", &path]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    tokio::join!(deposits, backups);

    let target = Core::prepare(backend, Options::default().components(COMPONENTS));
    run_ok(&target, &["restore", &path]);
    let balance = query_texts(
        &target,
        &format!("SELECT CAST(amount AS TEXT) FROM balances WHERE user_id = '{user}'"),
    )
    .await;
    let ledger = query_texts(
        &target,
        &format!("SELECT CAST(SUM(amount) AS TEXT) FROM balance_ledger WHERE user_id = '{user}'"),
    )
    .await;
    assert_eq!(balance, ledger, "the balance is the sum of its ledger");
    let amount: i64 = balance[0].parse().expect("number");
    assert!((1250..=1250 + 40 * 7).contains(&amount), "{amount}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_from_a_newer_schema_is_refused() {
    let core = Core::prepare(Backend::Embedded, Options::default().components(&["auth"]));
    let file = core.dir.path().join("future.backup");
    std::fs::write(
        &file,
        "{\"format\":\"nexuma-backup\",\"version\":1,\"backend\":\"sqlite\",\
         \"migration\":999999,\"created_at\":0}\n{\"end\":true,\"tables\":0,\"rows\":0}\n",
    )
    .expect("write");
    let out = core.run_cli(&["restore", file.to_str().expect("path")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("newer than this binary"), "{stderr}");
}
