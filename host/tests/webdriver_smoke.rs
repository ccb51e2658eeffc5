//! The WebDriver harness (`common/webdriver.rs`) on a real page: `/docs` at phone width, a link
//! clicked, a screenshot that painted; then a form filled, a select picked, a button clicked
//! and a confirm dialog accepted.

mod common;

use common::webdriver::{assert_rendered, Browser, SizeClass, DESKTOP, PHONE};
use common::{Backend, Core};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_reads_clicks_fills_and_paints() {
    let core = Core::start(Backend::Embedded).await;
    let document = core.get("/openapi.json", None).await.body;
    let title = document["info"]["title"].as_str().expect("the API's title");
    let browser = Browser::start(core.dir.path(), DESKTOP).await;
    browser.set_size(PHONE.0, PHONE.1).await;

    browser.goto(&core.url("/docs")).await;
    browser.wait_for_text(&format!("{title} API")).await;
    assert!(
        browser.text().await.contains("/auth/login"),
        "auth's routes"
    );
    browser.click("nav a[href^='#op-post-']").await;
    let url = browser.url().await;
    assert!(url.starts_with(&core.url("/docs#op-post-")), "{url}");
    assert_eq!(
        assert_rendered(&browser.screenshot().await),
        SizeClass::Phone
    );
    assert!(browser.cookies().await.is_empty());

    // A form posting back to the Core: the query string carries what was typed and picked.
    let form = format!(
        "<form action='{}'><input name=q><select name=pick><option value=a>A</option>\
         <option value=b>Bee</option></select><button type=submit> Go </button></form>\
         <button id=ask onclick=\"this.textContent = confirm('Sure?') ? 'yes' : 'no'\">Ask</button>",
        core.url("/docs")
    );
    let form = percent_encoding::utf8_percent_encode(&form, percent_encoding::NON_ALPHANUMERIC);
    browser.goto(&format!("data:text/html,{form}")).await;
    browser.click("#ask").await;
    assert_eq!(browser.accept_confirm().await, "Sure?");
    browser.wait_for_text("yes").await;
    browser.fill("q", "hello world").await;
    browser.select("pick", "Bee").await;
    browser.click_button("Go").await;
    browser.wait_for_text(&format!("{title} API")).await;
    let url = browser.url().await;
    assert!(url.ends_with("/docs?q=hello+world&pick=b"), "{url}");
    browser.close().await;
}
