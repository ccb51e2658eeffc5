//! Headless Chromium driven over WebDriver, for page tests that log in through a form, click and
//! read what the page says: Debian's `chromedriver` and `chromium` (`make chromium` installs
//! both), a chromedriver of its own per `Browser` on a loopback port from `testkit`, Chromium
//! with the flags `browser.rs` uses (no sandbox as root, no background networking: the closed
//! network refuses it) and a fresh profile under the caller's directory.
//!
//! Every helper waits a bounded time and panics with the page's URL and text when it fails.
//! Dropping a `Browser` kills chromedriver and the Chromium it started (one process group).

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::browser::CHROMIUM_ARGS;

pub use fantoccini::cookies::Cookie;

/// A desktop window, width by height.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone-sized window, width by height.
pub const PHONE: (u32, u32) = (390, 844);

/// How long a helper waits for what it needs (an element, a text, a dialog).
const WAIT: Duration = Duration::from_secs(10);
/// How long chromedriver may take to answer, and Chromium to start or load a page.
const START: Duration = Duration::from_secs(60);

/// The chromedriver child, in a process group of its own that Chromium joins: dropping it
/// kills the whole group (killing chromedriver alone leaves Chromium running).
struct Driver {
    child: tokio::process::Child,
    group: Option<i32>,
    log: PathBuf,
}

impl Driver {
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(4_000);
        let start = (start..log.len())
            .find(|&i| log.is_char_boundary(i))
            .unwrap_or(log.len());
        format!(
            "chromedriver log ({}):\n{}",
            self.log.display(),
            &log[start..]
        )
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(group) = self.group.take() {
            // SAFETY: kill(2) on the process group chromedriver leads (we spawned it with
            // `process_group(0)`); no memory is involved.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        // The child itself has `kill_on_drop`; tokio reaps it.
        let _ = self.child.start_kill();
    }
}

/// One headless Chromium session.
pub struct Browser {
    client: Client,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a Chromium session with a `width` x `height` viewport
    /// (`DESKTOP`, `PHONE`) and a fresh profile under `dir`.
    pub async fn start(dir: &Path, (width, height): (u32, u32)) -> Browser {
        let chromedriver = testkit::find_on_path("chromedriver").unwrap_or_else(|| {
            panic!(
                "chromedriver is not installed: run `make chromium` \
                 (apt-get install -y chromium chromium-driver)"
            )
        });
        let chromium = testkit::find_on_path("chromium").unwrap_or_else(|| {
            panic!(
                "chromium is not installed: run `make chromium` \
                 (apt-get install -y chromium chromium-driver)"
            )
        });
        let home = dir.join(format!("webdriver-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&home).expect("webdriver dir");
        let log = home.join("chromedriver.log");
        let port = testkit::free_port();
        let child = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", chromedriver.display()));
        let group = child.id().and_then(|pid| i32::try_from(pid).ok());
        let mut driver = Driver { child, group, log };

        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&mut driver, &base).await;

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!(
            "--user-data-dir={}",
            home.join("profile").display()
        ));
        args.push(format!("--window-size={width},{height}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
            "timeouts": { "pageLoad": START.as_millis() as u64, "script": WAIT.as_millis() as u64 },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let session = tokio::time::timeout(
            START,
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(&base),
        )
        .await;
        let client = match session {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => panic!("no Chromium session: {e}\n{}", driver.log()),
            Err(_) => panic!("no Chromium session within {START:?}\n{}", driver.log()),
        };
        let browser = Browser { client, driver };
        browser.set_size(width, height).await;
        browser
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Loads `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) {
        match tokio::time::timeout(START, self.client.goto(url)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => self.fail(&format!("goto {url}: {e}")).await,
            Err(_) => {
                self.fail(&format!("goto {url}: not loaded within {START:?}"))
                    .await
            }
        }
    }

    /// Makes the page's viewport (what a screenshot shows) `width` x `height` CSS pixels
    /// (`DESKTOP`, `PHONE`): the window is resized, then grown by what its frame takes.
    pub async fn set_size(&self, width: u32, height: u32) {
        self.retry(&format!("resize to {width}x{height}"), async || {
            let (mut outer_w, mut outer_h) = (width, height);
            for _ in 0..3 {
                self.client
                    .set_window_size(outer_w, outer_h)
                    .await
                    .map_err(err_text)?;
                let inner = self
                    .client
                    .execute(
                        "return [window.innerWidth, window.innerHeight];",
                        Vec::new(),
                    )
                    .await
                    .map_err(err_text)?;
                let inner: (u32, u32) = serde_json::from_value(inner).map_err(err_text)?;
                if inner == (width, height) {
                    return Ok(());
                }
                outer_w = (outer_w + width).checked_sub(inner.0).ok_or("too wide")?;
                outer_h = (outer_h + height).checked_sub(inner.1).ok_or("too high")?;
            }
            Err(format!("the viewport stays off {width}x{height}"))
        })
        .await
    }

    /// Types `value` into the input or textarea named `name`, replacing what it held.
    pub async fn fill(&self, name: &str, value: &str) {
        let css = format!("input[name={q}], textarea[name={q}]", q = css_string(name));
        self.retry(&format!("fill `{name}` with {value:?}"), async || {
            let field = self
                .client
                .find(Locator::Css(&css))
                .await
                .map_err(err_text)?;
            field.clear().await.map_err(err_text)?;
            field.send_keys(value).await.map_err(err_text)
        })
        .await
    }

    /// Picks the option of the `<select>` named `name` whose value is `value` (or, failing
    /// that, whose label is).
    pub async fn select(&self, name: &str, value: &str) {
        let css = format!("select[name={}]", css_string(name));
        self.retry(&format!("select {value:?} in `{name}`"), async || {
            let select = self
                .client
                .find(Locator::Css(&css))
                .await
                .map_err(err_text)?;
            match select.select_by_value(value).await {
                Ok(()) => Ok(()),
                Err(by_value) => select
                    .select_by_label(value)
                    .await
                    .map_err(|by_label| format!("by value: {by_value}; by label: {by_label}")),
            }
        })
        .await
    }

    /// Clicks the first element matching the CSS selector `css`.
    pub async fn click(&self, css: &str) {
        self.retry(&format!("click `{css}`"), async || {
            let element = self
                .client
                .find(Locator::Css(css))
                .await
                .map_err(err_text)?;
            element.click().await.map_err(err_text)
        })
        .await
    }

    /// Clicks the visible button (`<button>`, `<input type=submit|button>`) labelled `label`
    /// (whitespace collapsed).
    pub async fn click_button(&self, label: &str) {
        let wanted = collapse(label);
        self.retry(&format!("click the button {label:?}"), async || {
            let buttons = self
                .client
                .find_all(Locator::Css(
                    "button, input[type=submit], input[type=button]",
                ))
                .await
                .map_err(err_text)?;
            let mut seen = Vec::new();
            for button in buttons {
                let labels = if button.tag_name().await.map_err(err_text)? == "input" {
                    vec![button
                        .attr("value")
                        .await
                        .map_err(err_text)?
                        .unwrap_or_default()]
                } else {
                    vec![
                        button.text().await.map_err(err_text)?,
                        button
                            .prop("textContent")
                            .await
                            .map_err(err_text)?
                            .unwrap_or_default(),
                    ]
                };
                if labels.iter().any(|l| collapse(l) == wanted)
                    && button.is_displayed().await.map_err(err_text)?
                {
                    return button.click().await.map_err(err_text);
                }
                seen.extend(labels.first().map(|l| collapse(l)));
            }
            Err(format!("no such button; buttons: {seen:?}"))
        })
        .await
    }

    /// Accepts the `window.confirm` (or alert) dialog the last action opened; its message.
    pub async fn accept_confirm(&self) -> String {
        self.retry("accept a dialog", async || {
            let message = self.client.get_alert_text().await.map_err(err_text)?;
            self.client.accept_alert().await.map_err(err_text)?;
            Ok(message)
        })
        .await
    }

    /// Clicks `css` with `window.confirm` answering yes without a dialog.
    pub async fn click_confirmed(&self, css: &str) {
        self.retry("answer confirm() with yes", async || {
            self.client
                .execute("window.confirm = () => true;", Vec::new())
                .await
                .map(drop)
                .map_err(err_text)
        })
        .await;
        self.click(css).await
    }

    /// The page's visible text (the body's rendered text).
    pub async fn text(&self) -> String {
        self.retry("read the page's text", async || self.body_text().await)
            .await
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.retry("read the URL", async || {
            self.client
                .current_url()
                .await
                .map(String::from)
                .map_err(err_text)
        })
        .await
    }

    /// Waits up to 10 s until the page's visible text contains `needle`.
    pub async fn wait_for_text(&self, needle: &str) {
        self.retry(&format!("wait for the text {needle:?}"), async || {
            let body = self.body_text().await?;
            if body.contains(needle) {
                Ok(())
            } else {
                Err("not there".to_string())
            }
        })
        .await
    }

    /// A PNG screenshot of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.retry("take a screenshot", async || {
            self.client.screenshot().await.map_err(err_text)
        })
        .await
    }

    /// The cookies the page sees (names, values and attributes: `http_only()`, `secure()`,
    /// `same_site()`, `path()`, `expires()`).
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.retry("read the cookies", async || {
            self.client.get_all_cookies().await.map_err(err_text)
        })
        .await
    }

    /// Ends the session (Chromium quits); dropping the browser then stops chromedriver.
    pub async fn close(self) {
        match tokio::time::timeout(WAIT, self.client.clone().close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("close the session: {e}\n{}", self.driver.log()),
            Err(_) => panic!("the session did not close within {WAIT:?}"),
        }
    }

    async fn body_text(&self) -> Result<String, String> {
        let body = self
            .client
            .find(Locator::Css("body"))
            .await
            .map_err(err_text)?;
        body.text().await.map_err(err_text)
    }

    /// Runs `attempt` until it succeeds, for up to 10 s; then panics with the page's state.
    async fn retry<T>(&self, what: &str, mut attempt: impl AsyncFnMut() -> Result<T, String>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match tokio::time::timeout(WAIT, attempt()).await {
                Ok(Ok(value)) => return value,
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {WAIT:?}"),
            };
            if Instant::now() >= deadline {
                self.fail(&format!("{what}: {last}")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Panics with `what`, the current URL and the page's text.
    async fn fail(&self, what: &str) {
        let url = match tokio::time::timeout(WAIT, self.client.current_url()).await {
            Ok(Ok(url)) => url.to_string(),
            Ok(Err(e)) => format!("(unknown: {e})"),
            Err(_) => "(no answer)".to_string(),
        };
        let page = match tokio::time::timeout(WAIT, self.body_text()).await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => format!("(unreadable: {e})"),
            Err(_) => "(no answer)".to_string(),
        };
        let page: String = page.chars().take(4_000).collect();
        panic!("{what}\nat {url}, the page says:\n{page}");
    }
}

/// Waits until chromedriver at `base` says it is ready for sessions.
async fn wait_ready(driver: &mut Driver, base: &str) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let deadline = Instant::now() + START;
    loop {
        if let Ok(Some(status)) = driver.child.try_wait() {
            panic!("chromedriver exited early ({status})\n{}", driver.log());
        }
        if let Ok(resp) = http.get(format!("{base}/status")).send().await {
            if let Ok(status) = resp.json::<Value>().await {
                if status["value"]["ready"] == true {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not answer on {base} within {START:?}\n{}",
            driver.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a screenshot was taken at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeClass {
    Phone,
    Desktop,
}

/// Checks that `png` is a screenshot of a `PHONE` or `DESKTOP` window (within 10 % of its
/// width and height) that painted something (no single colour covers 99.5 % of it); which one.
pub fn assert_rendered(png: &[u8]) -> SizeClass {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG screenshot");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a PNG of sane size")];
    let frame = reader.next_frame(&mut pixels).expect("the PNG's pixels");
    let (width, height) = (frame.width, frame.height);
    let near = |(w, h): (u32, u32)| width.abs_diff(w) * 10 <= w && height.abs_diff(h) * 10 <= h;
    let class = if near(PHONE) {
        SizeClass::Phone
    } else if near(DESKTOP) {
        SizeClass::Desktop
    } else {
        panic!("a {width}x{height} screenshot: neither PHONE {PHONE:?} nor DESKTOP {DESKTOP:?}")
    };
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for pixel in pixels[..frame.buffer_size()].chunks_exact(frame.color_type.samples()) {
        *counts.entry(pixel).or_default() += 1;
    }
    let (colour, most) = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(c, n)| (c.to_vec(), *n))
        .expect("pixels");
    let total = (width as usize) * (height as usize);
    assert!(
        most * 1000 < total * 995,
        "a flat {width}x{height} screenshot: {most} of {total} pixels are {colour:?} \
         ({} colours in all)",
        counts.len()
    );
    class
}

/// `s` as a quoted CSS string.
fn css_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `s` with runs of whitespace made one space, trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn err_text(e: impl Display) -> String {
    e.to_string()
}
