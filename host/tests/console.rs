//! The console in a real browser (headless Chromium over WebDriver): an operator signs in,
//! creates a tariff (a bad price refused beside its field), a node with a one-time code that a
//! real pull agent registers with, approves a user, activates a subscription, copies its
//! address — which a client then fetches and finds the node in — and meets the refusal of
//! deleting a tariff in use after confirming; resets the link and cancels the subscription
//! (each asked first), saves a setting, filters the audit log and lists the components. The
//! dashboard and the users page are screenshot at desktop and phone widths and checked to have
//! painted, without an error on them.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::proxy::{eventually, free_port, pull_agent};
use common::webdriver::{assert_rendered, Browser, SizeClass, DESKTOP, PHONE};
use common::{production_components, Backend, Core, Options};
use fantoccini::Locator;
use serde_json::json;

const SYNC: Duration = Duration::from_secs(60);

/// Texts no console page may show after a flow that went right.
const ERROR_TEXTS: [&str; 3] = ["Something went wrong", "internal", "This form has expired"];

/// Checks the page painted at `size` without an error on it. With `NEXUMA_TEST_SCREENSHOTS`
/// set to a folder, the screenshot is kept there as `<name>.png` for a person to look at.
async fn assert_painted(browser: &Browser, name: &str, size: (u32, u32), class: SizeClass) {
    browser.set_size(size.0, size.1).await;
    let text = browser.text().await;
    for error in ERROR_TEXTS {
        assert!(!text.contains(error), "{error:?} on the page:\n{text}");
    }
    let png = browser.screenshot().await;
    assert_eq!(assert_rendered(&png), class);
    if let Some(dir) = std::env::var_os("NEXUMA_TEST_SCREENSHOTS") {
        let path = std::path::Path::new(&dir).join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

/// The value of the first element matching `css` (an input's current value).
async fn value_of(browser: &Browser, css: &str) -> String {
    let element = browser
        .client()
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    element
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_service_from_the_console() {
    let core = Core::start_with(
        Backend::Servers,
        Options::default().components(&production_components()),
    )
    .await;
    let admin = core.admin_token().await;
    let r = core
        .patch(
            "/admin/settings",
            Some(&admin),
            json!({ "registrationRequireApproval": true }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = core
        .post(
            "/auth/register",
            None,
            json!({ "email": "ann@example.com", "password": "ann-password-1" }),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let ann = r.body["user"]["id"].as_str().expect("her id").to_string();

    let browser = Browser::start(core.dir.path(), DESKTOP).await;
    // Signing in.
    browser.goto(&core.url("/console")).await;
    browser.wait_for_text("Nexuma console").await;
    browser.fill("email", "root@example.com").await;
    browser.fill("password", "admin-password-1").await;
    browser.click_button("Sign in").await;
    browser.wait_for_text("Dashboard").await;
    browser.wait_for_text("waiting for approval").await;
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|c| c.name() == "nexuma_access")
        .expect("the session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_painted(&browser, "dashboard-desktop", DESKTOP, SizeClass::Desktop).await;
    assert_painted(&browser, "dashboard-phone", PHONE, SizeClass::Phone).await;
    browser.set_size(DESKTOP.0, DESKTOP.1).await;

    // A tariff: a price that is not one is refused beside its field, then created.
    browser.goto(&core.url("/console/tariffs")).await;
    browser.fill("name", "Monthly").await;
    browser.fill("price", "three hundred").await;
    browser.fill("durationMonths", "1").await;
    browser.click_button("Create tariff").await;
    browser.wait_for_text("price: must be an amount").await;
    assert_eq!(
        value_of(&browser, "input[name=name]").await,
        "Monthly",
        "kept as typed"
    );
    browser.fill("price", "300").await;
    browser.click_button("Create tariff").await;
    browser.wait_for_text("The tariff was created.").await;
    let tariffs = core.get("/admin/tariffs", Some(&admin)).await.body;
    assert_eq!(tariffs["items"][0]["name"], "Monthly");
    assert_eq!(tariffs["items"][0]["price"], 30_000);
    // Changed later: its form comes filled with what is stored.
    browser.click("a[href^='/console/tariffs/']").await;
    browser.wait_for_text("Tariff “Monthly”").await;
    assert_eq!(value_of(&browser, "input[name=price]").await, "300.00");
    browser.fill("price", "350").await;
    browser.click_button("Save").await;
    browser.wait_for_text("The tariff was saved.").await;
    let tariffs = core.get("/admin/tariffs", Some(&admin)).await.body;
    assert_eq!(tariffs["items"][0]["price"], 35_000);
    assert_eq!(tariffs["items"][0]["durationMonths"], 1, "kept");

    // A node with a VMess inbound, and a code a real agent registers with.
    let port = free_port();
    browser.goto(&core.url("/console/nodes")).await;
    browser.fill("name", "Local").await;
    browser.fill("address", "127.0.0.1").await;
    browser.select("kind", "vmess-ws").await;
    browser.fill("tag", "vmess-in").await;
    browser.fill("port", &port.to_string()).await;
    browser.fill("listen", "127.0.0.1").await;
    browser.fill("path", "/vm").await;
    browser.click_button("Create node").await;
    browser.wait_for_text("No agent has registered yet").await;
    let node_url = browser.url().await;
    let node = node_url.rsplit('/').next().expect("node id").to_string();
    browser.click_button("Make a registration code").await;
    browser.wait_for_text("One-time code").await;
    let code = value_of(&browser, "#registration-code").await;
    assert_eq!(code.len(), 24, "{code}");
    let command = browser.text().await;
    assert!(
        command.contains(&format!("NEXUMA_NODE_CODE={code}|")),
        "the command carries the code:\n{command}"
    );
    let agent = pull_agent(&core.dir.path().join("agent"), &core.base, &code);
    eventually(
        &format!("the node is up; agent log:\n{}", agent.log()),
        SYNC,
        || async {
            core.post("/admin/nodes/sync", Some(&admin), json!({}))
                .await;
            let n = core
                .get(&format!("/admin/nodes/{node}"), Some(&admin))
                .await
                .body;
            if n["effectiveStatus"] == "active" && n["syncState"] == "synced" {
                Ok(())
            } else {
                Err(n.to_string())
            }
        },
    )
    .await;
    browser.goto(&node_url).await;
    browser.wait_for_text("The agent is registered").await;
    // A runtime operation, asked first, reaches the agent's queue.
    browser.click_button("Apply the config again").await;
    browser.wait_for_text("Apply the config again?").await;
    browser.click_button("Yes, go ahead").await;
    browser.wait_for_text("applies its config again").await;

    // A shared rule set that blocks BitTorrent, used by the node; broken JSON refused first.
    browser.goto(&core.url("/console/routing")).await;
    browser.fill("name", "No torrents").await;
    browser.click("input[name=bittorrent]").await;
    browser.click_button("Create rule set").await;
    browser.wait_for_text("The rule set was created.").await;
    browser.goto(&node_url).await;
    browser.click("input[name=ruleSetIds]").await;
    browser.fill("outbounds", "[{").await;
    browser.click_button("Save routing").await;
    browser.wait_for_text("outbounds: is not JSON").await;
    browser.fill("outbounds", "[]").await;
    browser.click_button("Save routing").await;
    browser.wait_for_text("The routing was saved").await;
    let n = core
        .get(&format!("/admin/nodes/{node}"), Some(&admin))
        .await
        .body;
    assert_eq!(n["ruleSetIds"].as_array().map(Vec::len), Some(1), "{n}");

    // The waiting user, approved.
    browser
        .goto(&core.url("/console/users?status=pending"))
        .await;
    browser.fill("q", "ANN@").await;
    browser.click_button("Search").await;
    browser.wait_for_text("ann@example.com").await;
    let found = browser.text().await;
    assert!(!found.contains("root@example.com"), "searched:\n{found}");
    assert!(found.contains("1 user in this view"), "{found}");
    browser.click_button("Approve").await;
    browser.wait_for_text("The user was approved.").await;
    assert_painted(&browser, "users-desktop", DESKTOP, SizeClass::Desktop).await;
    assert_painted(&browser, "users-phone", PHONE, SizeClass::Phone).await;
    // On a phone the sections are a menu that opens without a script.
    browser.click("details.menu summary").await;
    browser
        .click("details.menu a[href='/console/tariffs']")
        .await;
    browser.wait_for_text("New tariff").await;
    browser.set_size(DESKTOP.0, DESKTOP.1).await;
    browser
        .goto(&core.url("/console/users?status=active"))
        .await;

    // A subscription for her, and its address copied.
    browser
        .click(&format!("a[href='/console/users/{ann}']"))
        .await;
    browser.wait_for_text("Activate a subscription").await;
    let user_url = browser.url().await;
    browser
        .select("tariffId", tariffs["items"][0]["id"].as_str().expect("id"))
        .await;
    browser.click_button("Activate").await;
    browser
        .wait_for_text("The subscription was activated.")
        .await;
    let address = value_of(&browser, "input.link").await;
    assert_painted(&browser, "user-desktop", DESKTOP, SizeClass::Desktop).await;
    assert_painted(&browser, "user-phone", PHONE, SizeClass::Phone).await;
    browser.set_size(DESKTOP.0, DESKTOP.1).await;
    // The page's one script, allowed by its hash, copies it.
    browser.click_button("Copy").await;
    browser.wait_for_text("Copied").await;

    // Every subscription, filtered: hers among the active ones, leading to her page.
    browser.goto(&core.url("/console/subscriptions")).await;
    browser
        .click("a[href^='/console/subscriptions?status=active']")
        .await;
    browser.wait_for_text("1 in this view").await;
    browser
        .click(&format!("a[href='/console/users/{ann}']"))
        .await;
    browser.wait_for_text("Activate a subscription").await;

    // Her traffic today through the node, as the usage count would have written it: the
    // user's chart shows it under the node's name.
    let subs = core
        .get(&format!("/admin/subscriptions?userId={ann}"), Some(&admin))
        .await
        .body;
    let link = subs["items"][0]["links"][0]["id"].as_str().expect("link");
    let day = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
        / 86_400_000
        * 86_400_000;
    common::exec_sql(
        &core,
        &format!(
            "INSERT INTO traffic_daily (day, user_id, node_id, link_id, up, down) \
             VALUES ({day}, '{ann}', '{node}', '{link}', 536870912, 536870912)"
        ),
    )
    .await;
    browser.goto(&user_url).await;
    let source = browser.client().source().await.expect("page source");
    assert!(
        source.contains("<title>Local, ") && source.contains(": 1.0 GiB</title>"),
        "the chart's bar for her traffic through Local"
    );

    // Her account and balance: a name, a deposit, a withdrawal refunded after confirming.
    browser.click("details.panel summary").await;
    browser.fill("name", "Ann Smith").await;
    browser.click_button("Save").await;
    browser.wait_for_text("The account was saved.").await;
    browser.fill("amount", "500").await;
    browser.click_button("Deposit").await;
    browser.wait_for_text("The deposit was credited.").await;
    browser.fill("amount", "120.50").await;
    browser.click_button("Withdraw").await;
    browser
        .wait_for_text("The withdrawal was taken from the balance.")
        .await;
    browser.wait_for_text("379.50 RUB").await;
    browser.click_button("Refund").await;
    browser.wait_for_text("Refund this transaction?").await;
    browser.click_button("Yes, refund").await;
    browser
        .wait_for_text("The refund was credited to the balance.")
        .await;
    let balance = core
        .get(&format!("/admin/users/{ann}/balance"), Some(&admin))
        .await
        .body;
    assert_eq!(balance["amount"], 50_000, "{balance}");
    let user = core
        .get(&format!("/admin/users/{ann}"), Some(&admin))
        .await
        .body;
    assert_eq!(user["name"], "Ann Smith");
    // The Core's public address (`PUBLIC_URL`) with the link's credential.
    assert!(
        address.starts_with("http://localhost:") && address.contains("/sub/"),
        "{address}"
    );

    // What a client fetching that address gets: the node's VMess entry.
    let body = reqwest::get(&address)
        .await
        .expect("fetch the subscription")
        .text()
        .await
        .expect("body");
    let links = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("a base64 subscription");
    let links = String::from_utf8(links).expect("utf-8");
    let vmess = links
        .lines()
        .find_map(|l| l.strip_prefix("vmess://"))
        .unwrap_or_else(|| panic!("no vmess entry in {links}"));
    let entry = base64::engine::general_purpose::STANDARD
        .decode(vmess)
        .expect("vmess JSON in base64");
    let entry: serde_json::Value = serde_json::from_slice(&entry).expect("vmess JSON");
    assert_eq!(entry["add"], "127.0.0.1", "{entry}");
    assert_eq!(
        entry["port"].to_string().trim_matches('"'),
        port.to_string()
    );
    assert_eq!(entry["path"], "/vm", "{entry}");

    // Deleting the tariff she uses: asked first, then refused plainly.
    browser.goto(&core.url("/console/tariffs")).await;
    browser.click_button("Delete").await;
    browser.wait_for_text("Delete the tariff “Monthly”?").await;
    browser.click_button("Yes, go ahead").await;
    browser.wait_for_text("cannot be deleted").await;
    let tariffs = core.get("/admin/tariffs", Some(&admin)).await.body;
    assert_eq!(tariffs["total"], 1, "still there");

    // Her link: a QR code of the address; reset after confirming, the old address then gone.
    browser.goto(&user_url).await;
    browser.click(".link-row details summary").await;
    let qr = browser
        .client()
        .find(Locator::Css(".qr svg"))
        .await
        .expect("a QR code");
    assert!(qr.is_displayed().await.expect("shown"));
    browser.click_button("Reset").await;
    browser.wait_for_text("Reset this link?").await;
    browser.click_button("Yes, go ahead").await;
    browser.wait_for_text("the old one no longer works").await;
    let new_address = value_of(&browser, "input.link").await;
    assert_ne!(new_address, address);
    let old = reqwest::get(&address).await.expect("fetch the old address");
    assert_eq!(old.status(), 404, "the old address still answers");

    // Cancelling asks which refund rule, then ends it.
    browser.click_button("Cancel").await;
    browser.wait_for_text("Pro rata: the unused part").await;
    browser.click("input[name=refund][value=prorata]").await;
    browser.click_button("Yes, cancel it").await;
    browser
        .wait_for_text("The subscription was cancelled.")
        .await;
    let subs = core
        .get("/admin/subscriptions?status=cancelled", Some(&admin))
        .await
        .body;
    assert_eq!(subs["total"], 1, "{subs}");
    assert_eq!(subs["items"][0]["userId"], ann.as_str());

    // Settings: registration no longer waits for approval.
    browser.goto(&core.url("/console/settings")).await;
    browser.click("input[name=requireApproval]").await;
    browser.click_button("Save").await;
    browser.wait_for_text("Saved.").await;
    let settings = core.get("/admin/settings", Some(&admin)).await.body;
    assert_eq!(settings["registrationRequireApproval"], false, "{settings}");

    // The audit log, filtered: the tariff's creation with what it was made as.
    browser.goto(&core.url("/console/audit")).await;
    browser.fill("action", "tariff.create").await;
    browser.click_button("Filter").await;
    browser.wait_for_text("tariff.create").await;
    let text = browser.text().await;
    assert!(!text.contains("subscription.cancel"), "filtered:\n{text}");
    browser.click("td details summary").await;
    browser.wait_for_text("\"Monthly\"").await;

    // The dashboard's money: the deposit made above, among the period's sums.
    browser.goto(&core.url("/console")).await;
    browser.wait_for_text("500.00 RUB").await;
    browser.click("a[href='/console?days=90']").await;
    browser.wait_for_text("Money, last 90 days").await;
    browser.wait_for_text("500.00 RUB").await;
    assert_painted(&browser, "dashboard-with-data", DESKTOP, SizeClass::Desktop).await;

    // The components, each with its active version.
    browser.goto(&core.url("/console/components")).await;
    browser.wait_for_text("console").await;
    assert!(browser.text().await.contains("Active:"));
    // A component of the operator's own, uploaded from the page and activated at once.
    let hello = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/component-template/target/wasm32-wasip2/release/hello.wasm")
        .canonicalize()
        .expect("the template's hello.wasm (make handlers builds it)");
    let file = browser
        .client()
        .find(Locator::Css("#wasm"))
        .await
        .expect("the file input");
    file.send_keys(hello.to_str().expect("a UTF-8 path"))
        .await
        .expect("choose the file");
    browser.click("input[name=activate]").await;
    browser.click_button("Upload").await;
    browser.wait_for_text("The version was stored").await;
    browser.wait_for_text("hello").await;
    let r = core.get("/hello/operator", None).await;
    assert_eq!(r.status, 200, "the uploaded component serves: {}", r.text);
    browser.close().await;
}
