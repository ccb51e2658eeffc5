//! Test harness: starts the real `nexuma` binary on a free port with chosen components and
//! either backend, and talks to it over HTTP.
//!
//! `Backend::Embedded` is SQLite + the in-process store; `Backend::Servers` is PostgreSQL and
//! Redis on 127.0.0.1 (override with NEXUMA_TEST_PG / NEXUMA_TEST_REDIS), with a database of
//! its own per test that is dropped afterwards.

#![allow(dead_code)]

pub mod agent;
pub mod apitest;
pub mod browser;
pub mod components;
pub mod proxy;
pub mod routes;
pub mod stores;
pub mod webdriver;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const JWT_SECRET: &str = "test-access-secret-0123456789abcdef0123456789";
pub const JWT_REFRESH_SECRET: &str = "test-refresh-secret-0123456789abcdef012345678";
pub const BOT_TOKEN: &str = "123456789:test-bot-token";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Servers,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The built components: this checkout's, or `NEXUMA_TEST_WASM_DIR` (another worktree's
/// components run under this checkout's Core, so a change to components alone needs no second
/// build of the Core and its tests).
fn wasm_path(name: &str) -> PathBuf {
    std::env::var_os("NEXUMA_TEST_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("handlers/target/wasm32-wasip2/release"))
        .join(format!("{name}.wasm"))
}

fn pg_admin_url() -> String {
    std::env::var("NEXUMA_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn redis_url() -> String {
    std::env::var("NEXUMA_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

/// Runs SQL on the PostgreSQL admin database from a thread of its own (usable from Drop).
pub fn pg_admin_sql(sql: String) {
    pg_admin(sql)
}

fn pg_admin(sql: String) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&pg_admin_url())
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (see .ci/run)");
            sqlx::query(&sql)
                .execute(&mut conn)
                .await
                .expect("admin SQL");
        });
    })
    .join()
    .expect("admin thread");
}

pub struct Options {
    pub components: Vec<&'static str>,
    pub env: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            components: vec!["auth", "probe"],
            env: Vec::new(),
        }
    }
}

impl Options {
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }
    pub fn components(mut self, names: &[&'static str]) -> Self {
        self.components = names.to_vec();
        self
    }
}

pub struct Core {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempdir::Dir,
    child: Option<Child>,
    database: Option<String>,
    env: Vec<(String, String)>,
}

pub mod tempdir {
    use std::path::{Path, PathBuf};

    /// A directory removed on drop.
    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("nexuma-test-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path).expect("temp dir");
            Dir(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Core {
    pub async fn start(backend: Backend) -> Core {
        Core::start_with(backend, Options::default()).await
    }

    /// Prepares stores and environment without starting the binary (for CLI tests).
    pub fn prepare(backend: Backend, options: Options) -> Core {
        let dir = tempdir::Dir::new();
        let components_dir = dir.path().join("components");
        std::fs::create_dir_all(&components_dir).expect("components dir");
        for name in &options.components {
            let src = wasm_path(name);
            std::fs::copy(&src, components_dir.join(format!("{name}.wasm")))
                .unwrap_or_else(|e| panic!("{}: {e} (run `make handlers` first)", src.display()));
        }
        let port = testkit::free_port();
        let mut env: Vec<(String, String)> = vec![
            ("PORT".into(), port.to_string()),
            ("BIND".into(), "127.0.0.1".into()),
            (
                "DATA_DIR".into(),
                dir.path().join("data").display().to_string(),
            ),
            (
                "COMPONENTS_DIR".into(),
                components_dir.display().to_string(),
            ),
            (
                "COMPONENT_CACHE_DIR".into(),
                repo_root()
                    .join("target/nexuma-test-cache")
                    .display()
                    .to_string(),
            ),
            ("JWT_SECRET".into(), JWT_SECRET.into()),
            ("JWT_REFRESH_SECRET".into(), JWT_REFRESH_SECRET.into()),
            ("TELEGRAM_BOT_TOKEN".into(), BOT_TOKEN.into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        let mut database = None;
        match backend {
            Backend::Embedded => {
                env.push((
                    "DATABASE_URL".into(),
                    format!("sqlite://{}", dir.path().join("data/nexuma.db").display()),
                ));
                env.push(("REDIS_URL".into(), "memory://".into()));
            }
            Backend::Servers => {
                let name = format!("nexuma_test_{}", uuid::Uuid::new_v4().simple());
                pg_admin(format!("CREATE DATABASE {name}"));
                let mut url = url::Url::parse(&pg_admin_url()).expect("pg url");
                url.set_path(&name);
                env.push(("DATABASE_URL".into(), url.to_string()));
                env.push(("REDIS_URL".into(), redis_url()));
                env.push((
                    "KV_PREFIX".into(),
                    format!("nexuma-test:{}:", uuid::Uuid::new_v4().simple()),
                ));
                database = Some(name);
            }
        }
        for (k, v) in options.env {
            env.retain(|(name, _)| *name != k);
            env.push((k, v));
        }
        Core {
            backend,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            dir,
            child: None,
            database,
            env,
        }
    }

    pub async fn start_with(backend: Backend, options: Options) -> Core {
        let mut core = Core::prepare(backend, options);
        core.spawn().await;
        core
    }

    pub fn database_name(&self) -> Option<&str> {
        self.database.as_deref()
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("nexuma.log")
    }

    /// Everything the host has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Runs `nexuma <args>` to completion with this core's environment.
    pub fn run_cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_nexuma"))
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run nexuma")
    }

    /// Points this core at another core's database and key-value store (a second replica).
    pub fn share_stores_with(&mut self, other: &Core) {
        for name in ["DATABASE_URL", "REDIS_URL", "KV_PREFIX"] {
            if let Some((_, value)) = other.env.iter().find(|(k, _)| k == name) {
                let value = value.clone();
                self.set_env(name, &value);
            }
        }
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.into(), value.into()));
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).expect("running")
    }

    /// Starts the binary and waits until `/health` answers.
    pub async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_nexuma"))
            .arg("serve")
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn nexuma");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("nexuma exited early ({status}):\n{}", self.log());
            }
            if let Ok(resp) = self
                .client
                .get(format!("{}/health", self.base))
                .send()
                .await
            {
                if resp.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "nexuma did not become healthy:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.send(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// Sends a raw body with a JSON content type.
    pub async fn post_raw(&self, path: &str, body: &str) -> Reply {
        let req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        Reply::from(req.send().await.expect("request")).await
    }

    /// Registers an active user and returns (access token, refresh token, user id).
    pub async fn register(&self, email: &str, password: &str) -> (String, String, String) {
        let r = self
            .post(
                "/auth/register",
                None,
                json!({ "email": email, "password": password, "name": "Test" }),
            )
            .await;
        assert_eq!(r.status, 201, "register {email}: {}", r.body);
        (
            r.str("accessToken"),
            r.str("refreshToken"),
            r.body["user"]["id"].as_str().expect("user id").to_string(),
        )
    }

    /// Creates an admin through the CLI and logs in; returns its access token.
    pub async fn admin_token(&self) -> String {
        let out = self.run_cli(&[
            "admin",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "admin-password-1",
        ]);
        assert!(
            out.status.success(),
            "admin create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.login("root@example.com", "admin-password-1").await
    }

    /// Logs in with email and password; the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        r.str("accessToken")
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.stop();
        if let Some(name) = self.database.take() {
            pg_admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Reply {
    pub async fn from(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn str(&self, key: &str) -> String {
        self.body[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {}", self.body))
            .to_string()
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `n` copies of one POST at once, spread over `targets` (replicas of one Core) in turn;
/// the replies in the order they were sent.
pub async fn post_at_once(
    targets: &[&Core],
    path: &str,
    token: &str,
    body: Value,
    n: usize,
) -> Vec<Reply> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let core = targets[i % targets.len()];
            let req = core
                .client
                .post(core.url(path))
                .bearer_auth(token)
                .json(&body);
            tokio::spawn(async move { Reply::from(req.send().await.expect("request")).await })
        })
        .collect();
    let mut replies = Vec::with_capacity(n);
    for task in tasks {
        replies.push(task.await.expect("task"));
    }
    replies
}

/// Registers `email` and has the admin give it a subscription of a new free monthly tariff;
/// the subscription's first link UUID.
pub async fn subscribed_user(core: &Core, admin: &str, email: &str) -> String {
    let (_, _, user_id) = core.register(email, "password-subscribed").await;
    subscribe(core, admin, &user_id).await
}

/// Has the admin give `user_id` a subscription of a new free monthly tariff; the
/// subscription's first link UUID.
pub async fn subscribe(core: &Core, admin: &str, user_id: &str) -> String {
    let t = core
        .post(
            "/admin/tariffs",
            Some(admin),
            json!({ "name": "Month", "price": 0, "currency": "RUB", "durationMonths": 1 }),
        )
        .await;
    assert_eq!(t.status, 201, "tariff: {}", t.text);
    let r = core
        .post(
            "/admin/subscriptions",
            Some(admin),
            json!({ "userId": user_id, "tariffId": t.str("id") }),
        )
        .await;
    assert_eq!(r.status, 201, "subscription: {}", r.text);
    r.body["links"][0]["uuid"]
        .as_str()
        .expect("the subscription's link")
        .to_string()
}

/// How many replies had `status`.
pub fn count_status(replies: &[Reply], status: u16) -> usize {
    replies.iter().filter(|r| r.status == status).count()
}

/// Runs one async test body against both backends as two test functions.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                ($body)(Backend::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn servers() {
                ($body)(Backend::Servers).await
            }
        }
    };
}

/// The core's own `DATABASE_URL`.
fn database_url(core: &Core) -> String {
    core.env
        .iter()
        .find(|(k, _)| k == "DATABASE_URL")
        .map(|(_, v)| v.clone())
        .expect("DATABASE_URL")
}

/// Runs one SQL statement on the core's own database.
pub async fn exec_sql(core: &Core, sql: &str) {
    query_texts(core, sql).await;
}

/// The first column of every row of `sql` on the core's own database, as text (a NULL is
/// "null"; select numbers with `CAST(... AS TEXT)`); none for a statement without rows.
pub async fn query_texts(core: &Core, sql: &str) -> Vec<String> {
    use sqlx::{Connection, Row};
    let url = database_url(core);
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("sql");
        rows.iter()
            .map(|r| {
                r.get::<Option<String>, _>(0)
                    .unwrap_or_else(|| "null".into())
            })
            .collect()
    } else {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("postgres");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("sql");
        rows.iter()
            .map(|r| {
                r.get::<Option<String>, _>(0)
                    .unwrap_or_else(|| "null".into())
            })
            .collect()
    }
}

/// The components an operator runs: the Makefile's `COMPONENTS` (what `make run` serves).
pub fn production_components() -> Vec<&'static str> {
    let makefile = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Makefile"),
    )
    .expect("Makefile");
    let line = makefile
        .lines()
        .find_map(|l| l.strip_prefix("COMPONENTS :="))
        .expect("the Makefile names its COMPONENTS");
    // Leaked once per test process: the harness takes names that live for the whole run.
    line.split_whitespace()
        .map(|name| &*Box::leak(name.to_string().into_boxed_str()))
        .collect()
}
