//! `GET /admin/users` paged by keyset (`after` / `nextCursor`) while users are added between
//! pages, on both backends.

mod common;

use std::collections::HashSet;

use common::{exec_sql, query_texts, Backend, Core, Options};
use serde_json::Value;

/// A user written straight into the table, so its `created_at` (the list's order) is chosen.
async fn insert_user(core: &Core, id: &str, created_at: i64) {
    exec_sql(
        core,
        &format!(
            "INSERT INTO users (id, email, role, status, blocked, created_at, updated_at) \
             VALUES ('{id}', '{id}@example.com', 'user', 'active', FALSE, {created_at}, \
             {created_at})"
        ),
    )
    .await;
}

fn id_of(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

both_backends!(every_user_once_across_cursor_pages, |backend| async move {
    let core = Core::start_with(backend, Options::default().components(&["auth"])).await;
    let admin = core.admin_token().await;
    // Ties on created_at, so the id decides the order within one millisecond.
    for (n, at) in [
        (1, 100),
        (2, 100),
        (3, 100),
        (4, 200),
        (5, 200),
        (6, 300),
        (7, 400),
    ] {
        insert_user(&core, &id_of(n), at).await;
    }

    let mut seen: Vec<String> = Vec::new();
    let mut path = "/admin/users?limit=2".to_string();
    for step in 0u32.. {
        assert!(step < 50, "the pages never end");
        let page = core.get(&path, Some(&admin)).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        assert_eq!(
            page.body["offset"],
            seen.len(),
            "offset counts the users the walk gave before the page: {}",
            page.text
        );
        let items = page.body["items"].as_array().expect("items").clone();
        seen.extend(
            items
                .iter()
                .map(|u| u["id"].as_str().expect("id").to_string()),
        );
        let Some(cursor) = page.body["nextCursor"].as_str().map(str::to_string) else {
            assert!(page.body["nextCursor"].is_null(), "{}", page.text);
            break;
        };
        assert_eq!(items.len(), 2, "only the last page is short: {}", page.text);

        // Between the first pages: a user tied with the page's last one but after it (still to
        // come), one after everyone, and one before the cursor (a keyset page neither repeats a
        // user for it nor shows it, and the walk's offset does not jump for it).
        if step < 5 {
            let last_at = items
                .last()
                .and_then(|u| u["createdAt"].as_i64())
                .expect("createdAt");
            insert_user(
                &core,
                &format!("ffffffff-0000-4000-8000-{step:012}"),
                last_at,
            )
            .await;
            insert_user(
                &core,
                &id_of(100 + step),
                4_000_000_000_000 + i64::from(step),
            )
            .await;
            insert_user(&core, &id_of(200 + step), 1).await;
        }
        // And one registered through the API, as a real sign-up happens meanwhile.
        if step == 1 {
            core.register("late@example.com", "password-late").await;
        }
        path = format!("/admin/users?limit=2&after={cursor}");
    }

    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a user twice: {seen:?}");
    let ahead: HashSet<String> = query_texts(&core, "SELECT id FROM users WHERE created_at > 1")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        unique,
        ahead.iter().collect(),
        "every user not added behind the cursor, once"
    );
    assert!(ahead.len() > 15, "{ahead:?}");

    // Offsets keep working as before, and the answer names the next cursor there too.
    let first = core
        .get("/admin/users?limit=3&offset=1", Some(&admin))
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["offset"], 1);
    assert!(first.body["nextCursor"].is_string(), "{}", first.text);
    let all = core.get("/admin/users?limit=200", Some(&admin)).await;
    assert!(
        all.body["nextCursor"].is_null(),
        "the last page: {}",
        all.text
    );
});

both_backends!(
    a_cursor_not_given_by_the_route_is_400,
    |backend| async move {
        let core = Core::start_with(backend, Options::default().components(&["auth"])).await;
        let admin = core.admin_token().await;
        core.register("a@example.com", "password-a").await;
        let page = core.get("/admin/users?limit=1", Some(&admin)).await;
        let cursor = page.str("nextCursor");

        let changed_first = format!("X{}", &cursor[1..]);
        let halved = cursor[..cursor.len() / 2].to_string();
        for bad in [
            changed_first.as_str(),
            halved.as_str(),
            "not-a-cursor",
            "e30",
        ] {
            let r = core
                .get(&format!("/admin/users?after={bad}"), Some(&admin))
                .await;
            assert_eq!(r.status, 400, "{bad}: {}", r.text);
            assert_eq!(r.body["error"]["field"], Value::from("after"), "{}", r.text);
        }
        let with_offset = core
            .get(
                &format!("/admin/users?after={cursor}&offset=1"),
                Some(&admin),
            )
            .await;
        assert_eq!(with_offset.status, 400, "{}", with_offset.text);
        assert_eq!(with_offset.body["error"]["field"], "offset");
        let next = core
            .get(&format!("/admin/users?after={cursor}"), Some(&admin))
            .await;
        assert_eq!(next.status, 200, "{}", next.text);
    }
);

both_backends!(
    a_search_finds_by_any_part_of_email_name_or_telegram_name_in_any_case,
    |backend| async move {
        let core = Core::start_with(backend, Options::default().components(&["auth"])).await;
        let admin = core.admin_token().await;
        for (n, email, name, telegram) in [
            (1, "ann.smith@example.com", "Ann", "NULL"),
            (2, "bob@example.org", "Robert 50% off", "'annie_tg'"),
            (3, "carol@example.net", "Carol", "NULL"),
        ] {
            exec_sql(
                &core,
                &format!(
                "INSERT INTO users (id, email, name, telegram_username, role, status, blocked, \
                 created_at, updated_at) VALUES ('{}', '{email}', '{name}', {telegram}, 'user', \
                 '{}', FALSE, {n}, {n})",
                id_of(n),
                if n == 3 { "pending" } else { "active" }
            ),
            )
            .await;
        }
        let found = |query: &'static str| {
            let core = &core;
            let admin = &admin;
            async move {
                let r = core
                    .get(&format!("/admin/users?{query}"), Some(admin))
                    .await;
                assert_eq!(r.status, 200, "{query}: {}", r.text);
                let mut emails: Vec<String> = r.body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|u| u["email"].as_str().unwrap_or_default().to_string())
                    .collect();
                emails.sort();
                (emails, r.body["total"].as_i64().expect("total"))
            }
        };
        // Email, name and Telegram username, whatever the case.
        let (emails, total) = found("q=ANN").await;
        assert_eq!(emails, ["ann.smith@example.com", "bob@example.org"]);
        assert_eq!(total, 2, "the total counts the search too");
        assert_eq!(found("q=example.n").await.0, ["carol@example.net"]);
        // `%` and `_` are the characters themselves, not wildcards.
        assert_eq!(found("q=50%25").await.0, ["bob@example.org"]);
        assert!(
            found("q=n_s").await.0.is_empty(),
            "an underscore is no wildcard"
        );
        // With a status filter, both hold.
        assert!(found("q=carol&status=active").await.0.is_empty());
        assert_eq!(
            found("q=carol&status=pending").await.0,
            ["carol@example.net"]
        );
        let long = "x".repeat(101);
        let r = core
            .get(&format!("/admin/users?q={long}"), Some(&admin))
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.body["error"]["field"], "q");
    }
);
