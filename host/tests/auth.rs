//! The `auth` component's flows over real HTTP, on both backends.

mod common;

use common::{Backend, Core};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

both_backends!(register_login_and_me, |backend| async move {
    let core = Core::start(backend).await;
    let (access, _, id) = core.register("Ann@Example.com", "password-ann").await;
    let me = core.get("/me", Some(&access)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(
        me.body["email"], "ann@example.com",
        "emails are stored lower-case"
    );
    assert_eq!(me.body["role"], "user");
    assert_eq!(me.body["status"], "active");
    assert!(
        me.body.get("passwordHash").is_none() && !me.text.contains("argon2"),
        "no hash in the profile"
    );

    let login = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "ann@example.com", "password": "password-ann" }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert!(login.body["expiresIn"].as_u64().is_some_and(|s| s > 0));
    assert!(!login.str("refreshToken").is_empty());

    let dup = core
        .post(
            "/auth/register",
            None,
            json!({ "email": "ANN@example.com", "password": "password-2" }),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.text);
    let bad = core
        .post(
            "/auth/register",
            None,
            json!({ "email": "not-an-email", "password": "password-2" }),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.message().contains("email"), "{}", bad.message());
    let short = core
        .post(
            "/auth/register",
            None,
            json!({ "email": "bob@example.com", "password": "short" }),
        )
        .await;
    assert_eq!(short.status, 400);
    assert!(short.message().contains("password"), "{}", short.message());
    let missing = core
        .post("/auth/register", None, json!({ "password": "password-2" }))
        .await;
    assert_eq!(missing.status, 400);
    assert!(missing.message().contains("email"), "{}", missing.message());

    let wrong = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "ann@example.com", "password": "wrong-password" }),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "invalid_credentials"));
    let nobody = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "nobody@example.com", "password": "wrong-password" }),
        )
        .await;
    assert_eq!(
        (nobody.status, nobody.message()),
        (401, wrong.message()),
        "no hint which part was wrong"
    );

    let log = core.log();
    assert!(
        !log.contains("password-ann") && !log.contains(&access),
        "secrets are never logged"
    );
});

both_backends!(
    refresh_rotates_and_reuse_revokes_the_family,
    |backend| async move {
        let core = Core::start(backend).await;
        let (_, first, _) = core.register("rot@example.com", "password-rot").await;
        let second = core
            .post("/auth/refresh", None, json!({ "refreshToken": first }))
            .await;
        assert_eq!(second.status, 200, "{}", second.text);
        let second_refresh = second.str("refreshToken");
        assert_ne!(second_refresh, first);
        assert_eq!(
            core.get("/me", Some(&second.str("accessToken")))
                .await
                .status,
            200
        );

        let reuse = core
            .post("/auth/refresh", None, json!({ "refreshToken": first }))
            .await;
        assert_eq!(
            (reuse.status, reuse.code()),
            (401, "token_reused"),
            "{}",
            reuse.text
        );
        let after = core
            .post(
                "/auth/refresh",
                None,
                json!({ "refreshToken": second_refresh }),
            )
            .await;
        assert_eq!(
            after.status, 401,
            "the whole family is revoked after a reuse: {}",
            after.text
        );

        // Another login is a new family and works.
        let login = core
            .post(
                "/auth/login",
                None,
                json!({ "email": "rot@example.com", "password": "password-rot" }),
            )
            .await;
        let fresh = core
            .post(
                "/auth/refresh",
                None,
                json!({ "refreshToken": login.str("refreshToken") }),
            )
            .await;
        assert_eq!(fresh.status, 200);

        let garbage = core
            .post("/auth/refresh", None, json!({ "refreshToken": "garbage" }))
            .await;
        assert_eq!((garbage.status, garbage.code()), (401, "invalid_token"));
        let access_as_refresh = core
            .post(
                "/auth/refresh",
                None,
                json!({ "refreshToken": login.str("accessToken") }),
            )
            .await;
        assert_eq!(
            access_as_refresh.status, 401,
            "an access token is not a refresh token"
        );
    }
);

both_backends!(
    pending_rejected_and_blocked_users_cannot_log_in,
    |backend| async move {
        let core = Core::start(backend).await;
        let admin = core.admin_token().await;
        let s = core
            .patch(
                "/admin/settings",
                Some(&admin),
                json!({ "registrationRequireApproval": true }),
            )
            .await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(
            core.get("/admin/settings", Some(&admin)).await.body["registrationRequireApproval"],
            true
        );

        let reg = core
            .post(
                "/auth/register",
                None,
                json!({ "email": "pat@example.com", "password": "password-pat" }),
            )
            .await;
        assert_eq!(reg.status, 201, "{}", reg.text);
        assert_eq!(reg.body["user"]["status"], "pending");
        assert!(
            reg.body.get("accessToken").is_none(),
            "no tokens before approval"
        );
        let id = reg.body["user"]["id"].as_str().expect("id").to_string();
        let creds = json!({ "email": "pat@example.com", "password": "password-pat" });
        let pending = core.post("/auth/login", None, creds.clone()).await;
        assert_eq!((pending.status, pending.code()), (403, "account_pending"));
        assert!(
            pending.message().contains("approv"),
            "says why: {}",
            pending.message()
        );

        let page = core.get("/admin/users?status=pending", Some(&admin)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.body["total"], 1);
        assert_eq!(page.body["items"][0]["id"], id.as_str());

        let ok = core
            .patch(
                &format!("/admin/users/{id}"),
                Some(&admin),
                json!({ "status": "active" }),
            )
            .await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        let login = core.post("/auth/login", None, creds.clone()).await;
        assert_eq!(login.status, 200, "{}", login.text);
        let refresh = login.str("refreshToken");

        core.patch(
            &format!("/admin/users/{id}"),
            Some(&admin),
            json!({ "blocked": true }),
        )
        .await;
        let blocked = core.post("/auth/login", None, creds.clone()).await;
        assert_eq!((blocked.status, blocked.code()), (403, "account_blocked"));
        let r = core
            .post("/auth/refresh", None, json!({ "refreshToken": refresh }))
            .await;
        assert!(
            r.status == 401 || r.status == 403,
            "a blocked user cannot refresh: {}",
            r.text
        );

        core.patch(
            &format!("/admin/users/{id}"),
            Some(&admin),
            json!({ "blocked": false, "status": "rejected" }),
        )
        .await;
        let rejected = core.post("/auth/login", None, creds).await;
        assert_eq!(
            (rejected.status, rejected.code()),
            (403, "account_rejected")
        );

        let bad = core
            .patch(
                &format!("/admin/users/{id}"),
                Some(&admin),
                json!({ "status": "sleeping" }),
            )
            .await;
        assert_eq!(bad.status, 400);
        assert!(bad.message().contains("status"), "{}", bad.message());
    }
);

both_backends!(login_failures_are_throttled, |backend| async move {
    let core = Core::start(backend).await;
    core.register("thr@example.com", "password-thr").await;
    for _ in 0..5 {
        let r = core
            .post(
                "/auth/login",
                None,
                json!({ "email": "thr@example.com", "password": "wrong-password" }),
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let locked = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "thr@example.com", "password": "password-thr" }),
        )
        .await;
    assert_eq!(
        (locked.status, locked.code()),
        (429, "too_many_attempts"),
        "{}",
        locked.text
    );
    let retry: u64 = locked
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&retry), "{retry}");
    // Another account is not affected.
    core.register("other@example.com", "password-oth").await;
    let other = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "other@example.com", "password": "password-oth" }),
        )
        .await;
    assert_eq!(other.status, 200);
});

/// Sends `n` logins for `email` at once, each with another wrong password; their statuses.
async fn guesses_at_once(core: &Core, email: &str, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let req = core
                .client
                .post(core.url("/auth/login"))
                .json(&json!({ "email": email, "password": format!("wrong-guess-{i}") }));
            tokio::spawn(async move { req.send().await.expect("login").status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::with_capacity(n);
    for task in tasks {
        statuses.push(task.await.expect("task"));
    }
    statuses
}

both_backends!(
    parallel_guesses_are_counted_before_the_check,
    |backend| async move {
        let core = Core::start(backend).await;
        core.register("v@example.com", "password-v").await;

        let statuses = guesses_at_once(&core, "v@example.com", 100).await;
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert!(
            (1..=5).contains(&checked),
            "at most 5 of 100 parallel guesses reach the password check: {statuses:?}"
        );
        assert_eq!(checked + refused, 100, "the rest are 429: {statuses:?}");

        // The right password is refused too while the email is locked, before any check.
        let right = core
            .post(
                "/auth/login",
                None,
                json!({ "email": "v@example.com", "password": "password-v" }),
            )
            .await;
        assert_eq!(
            (right.status, right.code()),
            (429, "too_many_attempts"),
            "{}",
            right.text
        );
        let retry: u64 = right
            .header("retry-after")
            .expect("retry-after")
            .parse()
            .expect("seconds");
        assert!((1..=900).contains(&retry), "{retry}");
    }
);

both_backends!(
    a_guessing_address_is_limited_across_emails,
    |backend| async move {
        let core = Core::start(backend).await;
        core.register("mine@example.com", "password-mine").await;
        let login = |email: String, password: &'static str| {
            let core = &core;
            async move {
                core.post(
                    "/auth/login",
                    None,
                    json!({ "email": email, "password": password }),
                )
                .await
            }
        };
        // A successful login gives its attempt back: only failures use up the address.
        for _ in 0..3 {
            let ok = login("mine@example.com".into(), "password-mine").await;
            assert_eq!(ok.status, 200, "{}", ok.text);
        }
        for i in 0..20 {
            let r = login(format!("nobody{i}@example.com"), "wrong-password").await;
            assert_eq!(r.status, 401, "guess {i} of 20: {}", r.text);
        }
        let r = login("nobody-else@example.com".into(), "wrong-password").await;
        assert_eq!(
            (r.status, r.code()),
            (429, "too_many_attempts"),
            "the 21st failure from one address: {}",
            r.text
        );
        let r = login("mine@example.com".into(), "password-mine").await;
        assert_eq!(r.status, 429, "the address is locked for every email");
    }
);

both_backends!(
    telegram_without_a_bot_is_not_implemented,
    |backend| async move {
        let core = Core::start_with(
            backend,
            common::Options::default().env("TELEGRAM_BOT_TOKEN", ""),
        )
        .await;
        let mut data = json!({ "id": 42, "first_name": "Tg", "auth_date": now_secs() });
        data["hash"] = json!(telegram_hash(&data));
        let login = core.post("/auth/telegram", None, data).await;
        let bot = core.get("/auth/telegram/bot-id", None).await;
        for r in [login, bot] {
            assert_eq!(
                (r.status, r.code()),
                (501, "telegram_not_configured"),
                "{}",
                r.text
            );
            assert!(
                r.message().contains("TELEGRAM_BOT_TOKEN"),
                "says what is missing: {}",
                r.message()
            );
        }
    }
);

fn telegram_hash(fields: &Value) -> String {
    let mut pairs: Vec<String> = fields
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            )
        })
        .collect();
    pairs.sort();
    let key = Sha256::digest(common::BOT_TOKEN.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("key");
    mac.update(pairs.join("\n").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

both_backends!(telegram_login_checks_the_hash, |backend| async move {
    let core = Core::start(backend).await;
    let bot = core.get("/auth/telegram/bot-id", None).await;
    assert_eq!(bot.body["botId"], "123456789");

    let mut data = json!({ "id": 987654321, "first_name": "Tg", "username": "tg_user", "auth_date": now_secs() });
    let hash = telegram_hash(&data);
    data["hash"] = json!(hash);
    let created = core.post("/auth/telegram", None, data.clone()).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let access = created.str("accessToken");
    let me = core.get("/me", Some(&access)).await;
    assert_eq!(me.body["telegramId"], "987654321");
    assert_eq!(me.body["telegramUsername"], "tg_user");
    let again = core.post("/auth/telegram", None, data.clone()).await;
    assert_eq!(
        again.status, 200,
        "the same Telegram user logs in: {}",
        again.text
    );
    assert_eq!(again.body["user"]["id"], me.body["id"]);

    let mut forged = data.clone();
    forged["id"] = json!(111);
    let r = core.post("/auth/telegram", None, forged).await;
    assert_eq!((r.status, r.code()), (401, "invalid_telegram_hash"));

    let mut old = json!({ "id": 5, "first_name": "Old", "auth_date": now_secs() - 2 * 86400 });
    old["hash"] = json!(telegram_hash(&old));
    let r = core.post("/auth/telegram", None, old).await;
    assert_eq!((r.status, r.code()), (401, "telegram_auth_expired"));
});

both_backends!(profile_updates_and_password_change, |backend| async move {
    let core = Core::start(backend).await;
    let (access, _, _) = core.register("pro@example.com", "password-pro").await;
    let r = core
        .patch("/me/profile", Some(&access), json!({ "name": "Pro User" }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Pro User");
    let r = core
        .patch(
            "/me/profile",
            Some(&access),
            json!({ "password": "password-new" }),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.message().contains("currentPassword"), "{}", r.message());
    let r = core
        .patch(
            "/me/profile",
            Some(&access),
            json!({ "password": "password-new", "currentPassword": "nope-nope" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "wrong_password"));
    let r = core
        .patch(
            "/me/profile",
            Some(&access),
            json!({ "password": "password-new", "currentPassword": "password-pro" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let old = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "pro@example.com", "password": "password-pro" }),
        )
        .await;
    assert_eq!(old.status, 401);
    let new = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "pro@example.com", "password": "password-new" }),
        )
        .await;
    assert_eq!(new.status, 200);

    core.register("taken@example.com", "password-tkn").await;
    let r = core
        .patch(
            "/me/profile",
            Some(&access),
            json!({ "email": "taken@example.com" }),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = core.patch("/me/profile", Some(&access), json!({})).await;
    assert_eq!(r.status, 400, "an empty update is refused");
});

both_backends!(admin_lists_and_edits_users, |backend| async move {
    let core = Core::start(backend).await;
    let admin = core.admin_token().await;
    let (user_access, _, user_id) = core.register("u1@example.com", "password-u1").await;
    core.register("u2@example.com", "password-u2").await;
    core.register("u3@example.com", "password-u3").await;

    let r = core.get("/admin/users", Some(&user_access)).await;
    assert_eq!(r.status, 403);
    let page = core
        .get("/admin/users?limit=2&offset=0", Some(&admin))
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.body["total"], 4, "three users and the admin");
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    let rest = core
        .get("/admin/users?limit=2&offset=2", Some(&admin))
        .await;
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(2));
    assert_ne!(page.body["items"][0]["id"], rest.body["items"][0]["id"]);
    assert_eq!(
        core.get("/admin/users?limit=abc", Some(&admin))
            .await
            .status,
        400
    );
    assert_eq!(
        core.get("/admin/users?status=sleeping", Some(&admin))
            .await
            .status,
        400
    );

    let one = core
        .get(&format!("/admin/users/{user_id}"), Some(&admin))
        .await;
    assert_eq!(one.body["email"], "u1@example.com");
    assert_eq!(
        core.get("/admin/users/no-such-id", Some(&admin))
            .await
            .status,
        404
    );

    let r = core
        .patch(
            &format!("/admin/users/{user_id}"),
            Some(&admin),
            json!({ "role": "admin", "name": "Promoted" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["role"].as_str(), r.body["name"].as_str()),
        (Some("admin"), Some("Promoted"))
    );
    let login = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "u1@example.com", "password": "password-u1" }),
        )
        .await;
    assert_eq!(
        core.get("/admin/users", Some(&login.str("accessToken")))
            .await
            .status,
        200,
        "the new role is in new tokens"
    );
});

#[tokio::test]
async fn admin_create_cli_promotes_an_existing_account() {
    let core = Core::start(Backend::Embedded).await;
    core.register("later-admin@example.com", "password-old")
        .await;
    let out = core.run_cli(&[
        "admin",
        "create",
        "--email",
        "later-admin@example.com",
        "--password",
        "password-adm",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let login = core
        .post(
            "/auth/login",
            None,
            json!({ "email": "later-admin@example.com", "password": "password-adm" }),
        )
        .await;
    assert_eq!(login.status, 200);
    assert_eq!(login.body["user"]["role"], "admin");
    let bad = core.run_cli(&[
        "admin",
        "create",
        "--email",
        "nope",
        "--password",
        "password-adm",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an email"));
}

#[tokio::test]
async fn migrate_subcommand_prepares_an_empty_database() {
    let core = Core::prepare(Backend::Servers, common::Options::default());
    let out = core.run_cli(&["migrate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The schema is there: the CLI can create an account in it without the server running.
    let out = core.run_cli(&[
        "admin",
        "create",
        "--email",
        "first@example.com",
        "--password",
        "password-first",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin first@example.com created"));
    let again = core.run_cli(&["migrate"]);
    assert!(again.status.success(), "migrate is idempotent");
}
