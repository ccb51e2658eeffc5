//! Telegram notifications (issue 16): events written in their own transaction reach the right
//! chat once, through a stand-in Bot API (`TELEGRAM_API_URL`) that records every `sendMessage`,
//! can answer 429 with `retry_after` and can hold a request open; a Core killed mid-delivery
//! loses no message and repeats at most the one in flight; opting out and templates.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::agent::{node_call, register_xray};
use common::{exec_sql, query_texts, Backend, Core, Options};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ANN_CHAT: i64 = 1001;
const BOB_CHAT: i64 = 1002;
const ADMIN_CHAT: i64 = 9001;

// ---------------------------------------------------------------------------------------------
// The stand-in Bot API.

/// How the stand-in answers one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Ok,
    /// 429 with `parameters.retry_after`.
    RateLimited(u32),
    /// Records the request and never answers it.
    Hold,
    /// 502: Telegram unreachable for now.
    Unavailable,
    /// 403: the user blocked the bot.
    Blocked,
}

/// One `sendMessage` the stand-in received.
#[derive(Clone, Debug)]
struct Sent {
    chat: i64,
    text: String,
    at: Instant,
    answer: Answer,
}

#[derive(Default)]
struct BotState {
    sent: Vec<Sent>,
    /// Answers for the next requests, in order; `Ok` once empty.
    script: VecDeque<Answer>,
}

#[derive(Clone)]
struct FakeBot {
    url: String,
    state: Arc<Mutex<BotState>>,
}

impl FakeBot {
    async fn start() -> FakeBot {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let bot = FakeBot {
            url,
            state: Arc::default(),
        };
        let serving = bot.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serving.clone().serve(stream));
            }
        });
        bot
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn script(&self, answers: &[Answer]) {
        self.state().script.extend(answers.iter().copied());
    }

    fn sent(&self) -> Vec<Sent> {
        self.state().sent.clone()
    }

    /// Texts delivered (answered 200, or held: Telegram may have delivered those) to `chat`.
    fn texts_to(&self, chat: i64) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter(|s| s.chat == chat && matches!(s.answer, Answer::Ok | Answer::Hold))
            .map(|s| s.text)
            .collect()
    }

    async fn serve(self, mut stream: TcpStream) {
        let Some((path, body)) = read_request(&mut stream).await else {
            return;
        };
        assert!(
            path.ends_with("/sendMessage") && path.contains(common::BOT_TOKEN),
            "{path}"
        );
        let body: Value = serde_json::from_slice(&body).expect("a JSON body");
        let answer = {
            let mut state = self.state();
            let answer = state.script.pop_front().unwrap_or(Answer::Ok);
            state.sent.push(Sent {
                chat: body["chat_id"].as_i64().expect("chat_id"),
                text: body["text"].as_str().expect("text").to_string(),
                at: Instant::now(),
                answer,
            });
            answer
        };
        let (status, reply) = match answer {
            Answer::Ok => ("200 OK", json!({ "ok": true, "result": {} })),
            Answer::RateLimited(secs) => (
                "429 Too Many Requests",
                json!({ "ok": false, "error_code": 429,
                        "description": format!("Too Many Requests: retry after {secs}"),
                        "parameters": { "retry_after": secs } }),
            ),
            Answer::Unavailable => (
                "502 Bad Gateway",
                json!({ "ok": false, "error_code": 502, "description": "Bad Gateway" }),
            ),
            Answer::Blocked => (
                "403 Forbidden",
                json!({ "ok": false, "error_code": 403,
                        "description": "Forbidden: bot was blocked by the user" }),
            ),
            Answer::Hold => {
                // Until the client goes away (the Core is killed).
                let mut sink = [0u8; 64];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
        };
        let reply = reply.to_string();
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            reply.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(reply.as_bytes()).await;
    }
}

/// The path and body of one HTTP/1.1 request with a `content-length`.
async fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + length].to_vec()))
}

// ---------------------------------------------------------------------------------------------
// Helpers.

async fn start(backend: Backend, bot: &FakeBot) -> Core {
    Core::start_with(
        backend,
        Options::default()
            .components(&["auth", "billing", "nodes", "notify"])
            .env("TELEGRAM_API_URL", &bot.url),
    )
    .await
}

/// Links `user_id` to Telegram chat `chat` (as a Telegram login would).
async fn link_telegram(core: &Core, user_id: &str, chat: i64) {
    exec_sql(
        core,
        &format!("UPDATE users SET telegram_id = '{chat}' WHERE id = '{user_id}'"),
    )
    .await;
}

/// The admin's token, with the admin linked to `ADMIN_CHAT`.
async fn admin(core: &Core) -> String {
    let token = core.admin_token().await;
    let id = query_texts(
        core,
        "SELECT id FROM users WHERE email = 'root@example.com'",
    )
    .await;
    link_telegram(core, &id[0], ADMIN_CHAT).await;
    token
}

/// Registers `email` linked to `chat`; (access token, user id).
async fn user(core: &Core, email: &str, chat: Option<i64>) -> (String, String) {
    let (token, _, id) = core.register(email, "password-notify").await;
    if let Some(chat) = chat {
        link_telegram(core, &id, chat).await;
    }
    (token, id)
}

async fn deposit(core: &Core, admin: &str, user_id: &str, amount: i64) -> Value {
    let r = core
        .post(
            &format!("/admin/users/{user_id}/balance/deposit"),
            Some(admin),
            json!({ "amount": amount, "idempotencyKey": format!("dep-{user_id}-{amount}") }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

/// Waits until `chat` has received a text containing every one of `parts`; that text.
async fn received(bot: &FakeBot, chat: i64, parts: &[&str]) -> String {
    let mut found = String::new();
    testkit::eventually(Duration::from_secs(30), || {
        let texts = bot.texts_to(chat);
        let hit = texts
            .iter()
            .find(|t| parts.iter().all(|p| t.contains(p)))
            .cloned();
        if let Some(hit) = &hit {
            found = hit.clone();
        }
        async move {
            hit.map(|_| ())
                .ok_or_else(|| format!("chat {chat} has {texts:?}, none with {parts:?}"))
        }
    })
    .await
    .expect("the message arrives");
    found
}

/// How many texts `chat` received that contain `part`.
fn count(bot: &FakeBot, chat: i64, part: &str) -> usize {
    bot.texts_to(chat)
        .iter()
        .filter(|t| t.contains(part))
        .count()
}

/// Rows of the outbox in `state`.
async fn in_state(core: &Core, state: &str) -> usize {
    query_texts(
        core,
        &format!("SELECT CAST(id AS TEXT) FROM notifications WHERE state = '{state}'"),
    )
    .await
    .len()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// Tests.

both_backends!(
    money_and_account_events_reach_their_chat_once,
    |backend| async move {
        let bot = FakeBot::start().await;
        let core = start(backend, &bot).await;
        let admin = admin(&core).await;
        let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
        let (_, bob) = user(&core, "bob@example.com", None).await;

        // A deposit, retried with its key, tells once; a user without Telegram is told nothing.
        deposit(&core, &admin, &ann, 12_345).await;
        deposit(&core, &admin, &ann, 12_345).await;
        deposit(&core, &admin, &bob, 500).await;
        let text = received(&bot, ANN_CHAT, &["123.45 RUB"]).await;
        assert!(text.contains("added to your balance"), "{text}");

        // A refund of a withdrawal.
        let w = core
            .post(
                &format!("/admin/users/{ann}/balance/withdraw"),
                Some(&admin),
                json!({ "amount": 2_000 }),
            )
            .await;
        assert_eq!(w.status, 200, "{}", w.text);
        let r = core
            .post(
                &format!("/admin/users/{ann}/balance/refund"),
                Some(&admin),
                json!({ "transactionId": w.str("id") }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        received(&bot, ANN_CHAT, &["20.00 RUB was refunded", "123.45 RUB"]).await;

        // An admin's decision on the registration.
        for status in ["pending", "active", "rejected"] {
            let r = core
                .patch(
                    &format!("/admin/users/{ann}"),
                    Some(&admin),
                    json!({ "status": status }),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
        received(&bot, ANN_CHAT, &["approved"]).await;
        received(&bot, ANN_CHAT, &["declined"]).await;

        // Everything settled: each event told once, to Ann only (nothing to Bob, nothing to the
        // admin of these).
        testkit::eventually(Duration::from_secs(10), || async {
            match in_state(&core, "pending").await + in_state(&core, "sending").await {
                0 => Ok(()),
                n => Err(format!("{n} unsent")),
            }
        })
        .await
        .expect("the outbox drains");
        assert_eq!(count(&bot, ANN_CHAT, "added to your balance"), 1);
        assert_eq!(count(&bot, ANN_CHAT, "refunded"), 1);
        assert_eq!(count(&bot, ANN_CHAT, "approved"), 1);
        assert_eq!(count(&bot, ANN_CHAT, "declined"), 1);
        assert_eq!(
            bot.texts_to(ANN_CHAT).len(),
            4,
            "{:?}",
            bot.texts_to(ANN_CHAT)
        );
        assert!(bot.texts_to(BOB_CHAT).is_empty());
        assert!(
            bot.texts_to(ADMIN_CHAT).is_empty(),
            "{:?}",
            bot.texts_to(ADMIN_CHAT)
        );

        // The outbox as operators see it.
        let page = core
            .get("/admin/notifications?state=sent", Some(&admin))
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert_eq!(page.body["total"], 4, "{}", page.text);
        let bad = core
            .get("/admin/notifications?state=lost", Some(&admin))
            .await;
        assert_eq!(bad.status, 400, "{}", bad.text);
    }
);

/// A tariff with `extra` fields; its id.
async fn tariff(core: &Core, admin: &str, extra: Value) -> String {
    let mut body = json!({ "name": "Month", "price": 0, "currency": "RUB", "durationMonths": 1 });
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let r = core.post("/admin/tariffs", Some(admin), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.str("id")
}

async fn tick(core: &Core, admin: &str) {
    let r = core
        .post("/admin/subscriptions/tick", Some(admin), json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

both_backends!(
    subscription_events_reach_the_subscriber,
    |backend| async move {
        let bot = FakeBot::start().await;
        let core = start(backend, &bot).await;
        let admin = admin(&core).await;
        let (ann_token, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;

        // Ends in two days, then in twenty hours: the 3-day and the 1-day notice, one each.
        let gift = tariff(&core, &admin, json!({ "name": "Gift" })).await;
        let r = core
            .post(
                "/admin/subscriptions",
                Some(&admin),
                json!({ "userId": ann, "tariffId": gift }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let sub = r.str("id");
        let set_end = |ms: i64| {
            let sql = format!("UPDATE subscriptions SET expires_at = {ms} WHERE id = '{sub}'");
            let core = &core;
            async move { exec_sql(core, &sql).await }
        };
        set_end(now_ms() + 2 * 86_400_000 + 60_000).await;
        received(&bot, ANN_CHAT, &["\"Gift\" ends in 2 days"]).await;
        set_end(now_ms() + 20 * 3_600_000).await;
        received(&bot, ANN_CHAT, &["\"Gift\" ends in 20 hours"]).await;
        // Ended: billing's tick expires it.
        set_end(now_ms() - 1_000).await;
        tick(&core, &admin).await;
        received(&bot, ANN_CHAT, &["\"Gift\" has ended: its term is over"]).await;

        // Auto-renewal: charged while the balance covers it, refused when it does not.
        deposit(&core, &admin, &ann, 15_000).await;
        let paid = tariff(&core, &admin, json!({ "name": "Paid", "price": 10_000 })).await;
        buy_due(&core, &ann_token, &paid).await;
        tick(&core, &admin).await;
        // 150 - 100 (purchase) = 50 left: the renewal is short.
        received(
            &bot,
            ANN_CHAT,
            &["\"Paid\" could not be renewed", "100.00 RUB", "50.00 RUB"],
        )
        .await;
        deposit(&core, &admin, &ann, 30_000).await;
        buy_due(&core, &ann_token, &paid).await;
        tick(&core, &admin).await;
        // 50 + 300 - 100 - 100 = 150.
        received(
            &bot,
            ANN_CHAT,
            &["\"Paid\" was renewed for 100.00 RUB", "150.00 RUB"],
        )
        .await;

        tokio::time::sleep(Duration::from_secs(6)).await; // another scan and ticks: nothing more
        assert_eq!(
            count(&bot, ANN_CHAT, "ends in"),
            2,
            "{:?}",
            bot.texts_to(ANN_CHAT)
        );
        assert_eq!(
            count(&bot, ANN_CHAT, "has ended"),
            1,
            "{:?}",
            bot.texts_to(ANN_CHAT)
        );
        // The refused renewal is one message, not also an "ended" one.
        assert_eq!(count(&bot, ANN_CHAT, "could not be renewed"), 1);
        assert_eq!(count(&bot, ANN_CHAT, "was renewed"), 1);
    }
);

both_backends!(traffic_and_node_events, |backend| async move {
    let bot = FakeBot::start().await;
    let core = start(backend, &bot).await;
    let admin = admin(&core).await;
    let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
    let node = core
        .post(
            "/admin/nodes",
            Some(&admin),
            json!({ "name": "alpha", "address": "node.example.com",
                    "inbounds": [ { "tag": "vless-in", "protocol": "vless", "port": 20001 } ] }),
        )
        .await;
    assert_eq!(node.status, 201, "{}", node.text);
    let node_id = node.str("id");
    let key = register_xray(&core, &admin, &node_id).await;
    let metered = tariff(
        &core,
        &admin,
        json!({ "name": "Metered", "trafficLimitBytes": 1000 }),
    )
    .await;
    let r = core
        .post(
            "/admin/subscriptions",
            Some(&admin),
            json!({ "userId": ann, "tariffId": metered }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let link = r.body["links"][0]["id"].as_str().expect("link").to_string();
    let report = |id: &str, bytes: u64| json!({ "reportId": id, "clients": [ { "name": link, "up": bytes, "down": 0 } ] });
    let post = |path: &'static str, body: Value| {
        node_call(&core, reqwest::Method::POST, path, &key, Some(body))
    };

    // 70%: nothing; 85%: the warning; 90%: nothing new; 100%: used up.
    for (id, bytes) in [("r1", 700), ("r2", 150), ("r3", 50)] {
        assert_eq!(post("/node/usage", report(id, bytes)).await.status, 200);
    }
    received(&bot, ANN_CHAT, &["used 80%", "\"Metered\"", "of 1000 B"]).await;
    assert_eq!(post("/node/usage", report("r4", 100)).await.status, 200);
    received(
        &bot,
        ANN_CHAT,
        &["\"Metered\" is used up", "1000 B of 1000 B"],
    )
    .await;

    // A rejected config, reported twice (applied + error): one message to the admin.
    let hb = json!({ "protocol": 1, "status": "Running" });
    assert_eq!(post("/node/heartbeat", hb.clone()).await.status, 200);
    let config = node_call(
        &core,
        reqwest::Method::GET,
        "/node/config/latest",
        &key,
        None,
    )
    .await;
    let revision = config.body["revision"].as_i64().expect("revision");
    let rejected = json!({ "revision": revision, "ok": false, "error": "bad inbound" });
    assert_eq!(post("/node/config/applied", rejected).await.status, 204);
    let error = json!({ "kind": "config-rejected", "message": "bad inbound" });
    assert_eq!(post("/node/error", error).await.status, 204);
    received(
        &bot,
        ADMIN_CHAT,
        &["alpha could not apply config revision", "bad inbound"],
    )
    .await;

    // Silent past the window and the grace (300 s by default), then back.
    let silent_since = now_ms() - 10 * 60_000;
    exec_sql(
        &core,
        &format!("UPDATE nodes SET last_heartbeat_at = {silent_since} WHERE id = '{node_id}'"),
    )
    .await;
    received(&bot, ADMIN_CHAT, &["Node alpha is silent"]).await;
    assert_eq!(post("/node/heartbeat", hb.clone()).await.status, 200);
    received(&bot, ADMIN_CHAT, &["Node alpha is back after 10 minutes"]).await;
    // A short gap (under the grace) is no news either way.
    exec_sql(
        &core,
        &format!(
            "UPDATE nodes SET last_heartbeat_at = {} WHERE id = '{node_id}'",
            now_ms() - 90_000
        ),
    )
    .await;
    assert_eq!(post("/node/heartbeat", hb).await.status, 200);

    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        count(&bot, ANN_CHAT, "used 80%"),
        1,
        "{:?}",
        bot.texts_to(ANN_CHAT)
    );
    assert_eq!(count(&bot, ANN_CHAT, "\"Metered\" is used up"), 1);
    // Billing then ends it for traffic: told once too.
    received(&bot, ANN_CHAT, &["has ended: its traffic is used up"]).await;
    assert_eq!(count(&bot, ADMIN_CHAT, "could not apply"), 1);
    assert_eq!(count(&bot, ADMIN_CHAT, "is silent"), 1);
    assert_eq!(count(&bot, ADMIN_CHAT, "is back"), 1);
    assert!(
        bot.texts_to(ANN_CHAT).iter().all(|t| !t.contains("alpha")),
        "node news is for admins only"
    );
});

both_backends!(a_rate_limit_is_waited_out, |backend| async move {
    let bot = FakeBot::start().await;
    bot.script(&[Answer::RateLimited(3)]);
    let core = start(backend, &bot).await;
    let admin = admin(&core).await;
    let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
    deposit(&core, &admin, &ann, 100).await;
    deposit(&core, &admin, &ann, 200).await;
    received(&bot, ANN_CHAT, &["1.00 RUB was added"]).await;
    received(&bot, ANN_CHAT, &["2.00 RUB was added"]).await;

    let sent = bot.sent();
    let limited = sent
        .iter()
        .find(|s| matches!(s.answer, Answer::RateLimited(_)))
        .expect("the 429");
    // Nothing at all was sent until the 3 s Telegram asked for had passed.
    for s in sent.iter().filter(|s| s.at > limited.at) {
        let waited = s.at - limited.at;
        assert!(
            waited >= Duration::from_millis(2_900),
            "sent after {waited:?}"
        );
    }
    // The limited message went again, and each message arrived once.
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(count(&bot, ANN_CHAT, "1.00 RUB was added"), 1);
    assert_eq!(count(&bot, ANN_CHAT, "2.00 RUB was added"), 1);
});

both_backends!(
    an_outage_is_retried_and_a_refusal_given_up,
    |backend| async move {
        let bot = FakeBot::start().await;
        bot.script(&[Answer::Unavailable]);
        let core = start(backend, &bot).await;
        let admin = admin(&core).await;
        let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
        deposit(&core, &admin, &ann, 100).await;
        // The 502 is tried again after its backoff, and then arrives.
        received(&bot, ANN_CHAT, &["1.00 RUB was added"]).await;
        let sent = bot.sent();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(matches!(sent[0].answer, Answer::Unavailable));
        assert!(
            sent[1].at - sent[0].at >= Duration::from_secs(4),
            "retried after {:?}, before its backoff",
            sent[1].at - sent[0].at
        );
        // A refusal is final: the message fails with Telegram's reason, and is not sent again.
        bot.script(&[Answer::Blocked]);
        deposit(&core, &admin, &ann, 200).await;
        testkit::eventually(Duration::from_secs(20), || {
            let core = &core;
            async move {
                match in_state(core, "failed").await {
                    1 => Ok(()),
                    n => Err(format!("{n} failed messages")),
                }
            }
        })
        .await
        .expect("the refused message fails");
        let list = core
            .get("/admin/notifications?state=failed", Some(&admin))
            .await;
        assert_eq!(list.status, 200, "{}", list.text);
        assert!(list.text.contains("blocked by the user"), "{}", list.text);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(bot.sent().len(), 3, "the refused message went once");
    }
);

both_backends!(
    a_core_killed_mid_delivery_loses_nothing,
    |backend| async move {
        let bot = FakeBot::start().await;
        // The first message goes through, the second hangs in flight.
        bot.script(&[Answer::Ok, Answer::Hold]);
        let mut core = start(backend, &bot).await;
        let admin = admin(&core).await;
        let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
        for n in 1..=5 {
            deposit(&core, &admin, &ann, n * 100).await;
        }
        testkit::eventually(Duration::from_secs(30), || {
            let n = bot.sent().len();
            async move {
                if n >= 2 {
                    Ok(())
                } else {
                    Err(format!("{n} requests"))
                }
            }
        })
        .await
        .expect("one delivered, one in flight");
        let in_flight = bot.sent()[1].text.clone();
        core.stop(); // SIGKILL
        core.spawn().await;

        // Every message arrives; only the one in flight may arrive twice (after the claim's lease).
        for n in 1..=5 {
            received(&bot, ANN_CHAT, &[&format!("{n}.00 RUB was added")]).await;
        }
        testkit::eventually(Duration::from_secs(60), || async {
            match in_state(&core, "sent").await {
                5 => Ok(()),
                n => Err(format!("{n} of 5 sent")),
            }
        })
        .await
        .expect("the one in flight is sent again after its lease");
        for n in 1..=5 {
            let text = format!("{n}.00 RUB was added");
            let times = count(&bot, ANN_CHAT, &text);
            let allowed = if in_flight.contains(&text) { 2 } else { 1 };
            assert_eq!(times, allowed, "{text}: {:?}", bot.texts_to(ANN_CHAT));
        }
    }
);

both_backends!(opting_out_stops_messages, |backend| async move {
    let bot = FakeBot::start().await;
    let core = start(backend, &bot).await;
    let admin = admin(&core).await;
    let (ann_token, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
    let (_, bob) = user(&core, "bob@example.com", Some(BOB_CHAT)).await;
    assert_eq!(
        core.get("/me", Some(&ann_token)).await.body["telegramNotifications"],
        true
    );
    let off = core
        .patch(
            "/me/profile",
            Some(&ann_token),
            json!({ "telegramNotifications": false }),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.text);
    assert_eq!(off.body["telegramNotifications"], false);
    assert_eq!(
        core.get("/me", Some(&ann_token)).await.body["telegramNotifications"],
        false
    );

    deposit(&core, &admin, &ann, 700).await;
    deposit(&core, &admin, &bob, 800).await;
    // Bob's arrives; Ann's was never queued.
    received(&bot, BOB_CHAT, &["8.00 RUB"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        bot.texts_to(ANN_CHAT).is_empty(),
        "{:?}",
        bot.texts_to(ANN_CHAT)
    );
    let ann_rows = query_texts(
        &core,
        &format!("SELECT kind FROM notifications WHERE user_id = '{ann}'"),
    )
    .await;
    assert!(ann_rows.is_empty(), "{ann_rows:?}");

    // Back on: the next one arrives.
    let on = core
        .patch(
            "/me/profile",
            Some(&ann_token),
            json!({ "telegramNotifications": true }),
        )
        .await;
    assert_eq!(on.status, 200, "{}", on.text);
    deposit(&core, &admin, &ann, 900).await;
    received(&bot, ANN_CHAT, &["9.00 RUB"]).await;
    assert_eq!(bot.texts_to(ANN_CHAT).len(), 1);
});

both_backends!(templates_change_the_text, |backend| async move {
    let bot = FakeBot::start().await;
    let core = start(backend, &bot).await;
    let admin = admin(&core).await;
    let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
    let path = "/admin/notifications/templates/balance.deposit";

    let bad = put_template(&core, &admin, path, "+{amount} for {tariff}").await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.message().contains("{tariff}"), "{}", bad.message());
    let unknown = put_template(
        &core,
        &admin,
        "/admin/notifications/templates/balance.gift",
        "hi",
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    let put = put_template(
        &core,
        &admin,
        path,
        "Top-up {amount}! Balance: {balance}. {unset}",
    )
    .await;
    // `{unset}` is no placeholder of deposits.
    assert_eq!(put.status, 400, "{}", put.text);
    let put = put_template(&core, &admin, path, "Top-up {amount}! Balance: {balance}.").await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.body["custom"], true);
    let list = core
        .get("/admin/notifications/templates", Some(&admin))
        .await;
    let deposit_template = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["kind"] == "balance.deposit")
        .cloned()
        .expect("the deposit kind");
    assert_eq!(
        deposit_template["text"],
        "Top-up {amount}! Balance: {balance}."
    );
    let logs = core
        .get(
            "/admin/logs?action=notification_template.update",
            Some(&admin),
        )
        .await;
    assert_eq!(logs.body["total"], 1, "{}", logs.text);

    deposit(&core, &admin, &ann, 4_200).await;
    let text = received(&bot, ANN_CHAT, &["Top-up"]).await;
    assert_eq!(text, "Top-up 42.00 RUB! Balance: 42.00 RUB.");

    // Back to the built-in text.
    let reset = core
        .send(reqwest::Method::DELETE, path, Some(&admin), None)
        .await;
    assert_eq!(reset.status, 200, "{}", reset.text);
    assert_eq!(reset.body["custom"], false);
    deposit(&core, &admin, &ann, 100).await;
    received(&bot, ANN_CHAT, &["1.00 RUB was added to your balance"]).await;
});

both_backends!(
    without_a_bot_token_nothing_is_queued,
    |backend| async move {
        let bot = FakeBot::start().await;
        let core = Core::start_with(
            backend,
            Options::default()
                .components(&["auth", "billing", "notify"])
                .env("TELEGRAM_API_URL", &bot.url)
                .env("TELEGRAM_BOT_TOKEN", ""),
        )
        .await;
        let admin = core.admin_token().await;
        let (_, ann) = user(&core, "ann@example.com", Some(ANN_CHAT)).await;
        deposit(&core, &admin, &ann, 100).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let rows = query_texts(&core, "SELECT kind FROM notifications").await;
        assert!(rows.is_empty(), "{rows:?}");
        assert!(bot.sent().is_empty());
    }
);

/// `PUT` a template's text as the administrator.
async fn put_template(core: &Core, admin: &str, path: &str, text: &str) -> common::Reply {
    core.send(
        reqwest::Method::PUT,
        path,
        Some(admin),
        Some(json!({ "text": text })),
    )
    .await
}

/// Buys `tariff` with auto-renewal and makes it due (its end a second ago): the next tick
/// renews it or, short of balance, ends it.
async fn buy_due(core: &Core, token: &str, tariff: &str) {
    let r = core
        .post(
            "/me/subscriptions",
            Some(token),
            json!({ "tariffId": tariff, "autoRenew": true }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let due = format!(
        "UPDATE subscriptions SET expires_at = {} WHERE id = '{}'",
        now_ms() - 1_000,
        r.str("id")
    );
    exec_sql(core, &due).await;
}
