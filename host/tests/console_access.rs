//! The console's doors, over plain HTTP: every page and form is refused to an anonymous caller
//! (to the sign-in form) and to an account that is not an admin (403); a form's POST needs the
//! admin's form token and must come from the Core's own pages; a session that was not used for
//! `JWT_EXPIRES_IN` is over, and its cookie then changes nothing.

mod common;

use common::{production_components, Backend, Core, Options};
use reqwest::redirect::Policy;
use serde_json::json;

/// Every console page and form, with a well-formed path.
const PAGES: [&str; 13] = [
    "/console",
    "/console/users",
    "/console/users?status=pending",
    "/console/users/00000000-0000-4000-8000-000000000000",
    "/console/subscriptions",
    "/console/tariffs",
    "/console/tariffs/00000000-0000-4000-8000-000000000000",
    "/console/nodes",
    "/console/nodes/00000000-0000-4000-8000-000000000000",
    "/console/components",
    "/console/routing",
    "/console/audit",
    "/console/settings",
];
const FORMS: [&str; 22] = [
    "/console/logout",
    "/console/users/00000000-0000-4000-8000-000000000000",
    "/console/users/00000000-0000-4000-8000-000000000000/subscriptions",
    "/console/users/00000000-0000-4000-8000-000000000000/balance",
    "/console/users/00000000-0000-4000-8000-000000000000/edit",
    "/console/users/00000000-0000-4000-8000-000000000000/refund",
    "/console/users/00000000-0000-4000-8000-000000000000/subscriptions/00000000-0000-4000-8000-000000000000/cancel",
    "/console/users/00000000-0000-4000-8000-000000000000/links/00000000-0000-4000-8000-000000000000/reset",
    "/console/tariffs",
    "/console/tariffs/00000000-0000-4000-8000-000000000000",
    "/console/tariffs/00000000-0000-4000-8000-000000000000/delete",
    "/console/nodes",
    "/console/nodes/00000000-0000-4000-8000-000000000000/code",
    "/console/nodes/00000000-0000-4000-8000-000000000000/ops/resync",
    "/console/nodes/00000000-0000-4000-8000-000000000000/inbounds",
    "/console/nodes/00000000-0000-4000-8000-000000000000/inbounds/remove",
    "/console/components/auth/rollback",
    "/console/nodes/00000000-0000-4000-8000-000000000000/routing",
    "/console/routing",
    "/console/routing/00000000-0000-4000-8000-000000000000/delete",
    "/console/settings",
    "/console/login",
];

/// A browser-like client: no redirects followed, cookies set by hand.
struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    text: String,
}

impl Browser {
    fn new(core: &Core) -> Self {
        Browser {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: core.url(""),
            cookie: None,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// A form posted from the Core's own page (`Sec-Fetch-Site: same-origin`), unless `site`
    /// says otherwise.
    async fn post<V: serde::Serialize>(
        &mut self,
        path: &str,
        fields: &[(&str, V)],
        site: &str,
    ) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("sec-fetch-site", site)
            .form(fields);
        self.send(req).await
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = match &self.cookie {
            Some(cookie) => req.header("cookie", cookie),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        };
        let (location, set_cookie) = (header("location"), header("set-cookie"));
        let status = resp.status().as_u16();
        // The browser keeps what the Core sets: a renewed session, or a cleared one.
        if let Some(pair) = set_cookie.as_deref().and_then(|c| c.split(';').next()) {
            self.cookie = Some(pair.to_string()).filter(|p| !p.ends_with('='));
        }
        let text = resp.text().await.expect("body");
        Page {
            status,
            location,
            set_cookie,
            text,
        }
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.post(
            "/console/login",
            &[("email", email), ("password", password)],
            "same-origin",
        )
        .await
    }

    /// The form token the admin's pages carry.
    async fn form_token(&mut self) -> String {
        let page = self.get("/console/tariffs").await;
        assert_eq!(page.status, 200, "{}", page.text);
        let marker = "name=\"csrf\" value=\"";
        let start = page.text.find(marker).expect("a form token on the page") + marker.len();
        page.text[start..]
            .split('"')
            .next()
            .expect("token")
            .to_string()
    }
}

async fn console_core(options: Options) -> Core {
    Core::start_with(
        Backend::Servers,
        options.components(&production_components()),
    )
    .await
}

async fn tariff_names(core: &Core, admin: &str) -> Vec<String> {
    let r = core.get("/admin/tariffs?limit=200", Some(admin)).await;
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_and_form_is_refused_to_anonymous_callers_and_to_users() {
    let core = console_core(Options::default()).await;
    core.admin_token().await;
    core.register("user@example.com", "user-password-1").await;

    let mut anonymous = Browser::new(&core);
    for path in PAGES {
        let page = anonymous.get(path).await;
        assert_eq!(page.status, 303, "{path}: {}", page.text);
        assert_eq!(page.location.as_deref(), Some("/console/login"), "{path}");
    }
    for path in FORMS.iter().filter(|p| **p != "/console/login") {
        let page = anonymous.post(path, &[("csrf", "x")], "same-origin").await;
        assert_eq!(page.status, 303, "{path}: {}", page.text);
        assert_eq!(page.location.as_deref(), Some("/console/login"), "{path}");
    }

    // A user's right password signs nobody in: only administrators get a session.
    let mut user = Browser::new(&core);
    let page = user.sign_in("user@example.com", "user-password-1").await;
    assert_eq!(page.status, 403, "{}", page.text);
    assert!(page.text.contains("only administrators"), "{}", page.text);
    assert!(page.set_cookie.is_none(), "no session for a user");
    // Nor does a user's own token, carried as the cookie.
    user.cookie = Some(format!(
        "nexuma_access={}",
        core.login("user@example.com", "user-password-1").await
    ));
    for path in PAGES {
        let page = user.get(path).await;
        assert_eq!(page.status, 403, "{path}: {}", page.text);
        assert!(page.text.contains("Only administrators"), "{path}");
    }
    for path in FORMS.iter().filter(|p| **p != "/console/login") {
        let page = user.post(path, &[("csrf", "x")], "same-origin").await;
        assert_eq!(page.status, 403, "{path}: {}", page.text);
    }

    // A sign-in posted from another site is refused before any password is checked.
    let mut elsewhere = Browser::new(&core);
    let page = elsewhere
        .post(
            "/console/login",
            &[
                ("email", "root@example.com"),
                ("password", "admin-password-1"),
            ],
            "cross-site",
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.text);
    assert!(
        page.set_cookie.is_none(),
        "no session from another site's form"
    );

    // A wrong password: the login route's own refusal, on the form.
    let mut stranger = Browser::new(&core);
    let page = stranger
        .sign_in("root@example.com", "not-the-password")
        .await;
    assert_eq!(page.status, 401, "{}", page.text);
    assert!(page.text.contains("<form"), "the form again");
    assert!(page.set_cookie.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_needs_the_admins_form_token_and_the_cores_own_page() {
    let core = console_core(Options::default()).await;
    let admin = core.admin_token().await;
    let mut browser = Browser::new(&core);
    let page = browser
        .sign_in("root@example.com", "admin-password-1")
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.location.as_deref(), Some("/console"));
    let cookie = page.set_cookie.expect("the session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let token = browser.form_token().await;
    let tariff = |name: &'static str, token: &str| {
        [
            ("name", name.to_string()),
            ("price", "199.90".to_string()),
            ("durationMonths", "1".to_string()),
            ("csrf", token.to_string()),
        ]
    };

    let page = browser
        .post(
            "/console/tariffs",
            &tariff("Forged", "not-the-token"),
            "same-origin",
        )
        .await;
    assert_eq!(page.status, 403, "{}", page.text);
    assert!(page.text.contains("This form has expired"), "{}", page.text);

    // The right token, sent from another site: the Core does not take the cookie, so nobody is
    // signed in and nothing is done.
    let page = browser
        .post(
            "/console/tariffs",
            &tariff("Elsewhere", &token),
            "cross-site",
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.location.as_deref(), Some("/console/login"));
    assert!(tariff_names(&core, &admin).await.is_empty());

    let page = browser
        .post(
            "/console/tariffs",
            &tariff("Monthly", &token),
            "same-origin",
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(
        page.location.as_deref(),
        Some("/console/tariffs?done=created")
    );
    assert_eq!(tariff_names(&core, &admin).await, ["Monthly"]);
    let created = core.get("/admin/tariffs?limit=1", Some(&admin)).await;
    assert_eq!(created.body["items"][0]["price"], json!(19_990));

    // Signing out ends the form token with the session.
    let page = browser
        .post(
            "/console/logout",
            &[("csrf", token.as_str())],
            "same-origin",
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert!(browser.cookie.is_none(), "the cookie is cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_left_unused_expires_and_its_cookie_changes_nothing() {
    let core = console_core(Options::default().env("JWT_EXPIRES_IN", "3")).await;
    let admin = core.admin_token().await;
    let mut browser = Browser::new(&core);
    let page = browser
        .sign_in("root@example.com", "admin-password-1")
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    let token = browser.form_token().await;
    // Used, the session is renewed: each page sets a fresh cookie.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let page = browser.get("/console").await;
        assert_eq!(page.status, 200, "a session in use stays: {}", page.text);
        assert!(page.set_cookie.is_some_and(|c| c.contains("Max-Age=3")));
    }
    // Left alone past its lifetime and the 5 s of clock skew tokens are allowed, it is over
    // (a browser drops the cookie at its Max-Age already; this one kept it).
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let page = browser.get("/console/tariffs").await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.location.as_deref(), Some("/console/login"));
    let page = browser
        .post(
            "/console/tariffs",
            &[("name", "Late"), ("price", "1"), ("csrf", token.as_str())],
            "same-origin",
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.text);
    assert_eq!(page.location.as_deref(), Some("/console/login"));
    let fresh = core.login("root@example.com", "admin-password-1").await;
    assert!(tariff_names(&core, &fresh).await.is_empty(), "{admin}");
}
