//! The console's frame: the layout every page shares (navigation, notice, sign-out), its
//! stylesheet, and the answers pages give (a page, a redirect, a refusal, a failure).
//!
//! No script and no asset from outside the Core: one inline stylesheet, charts as inline SVG.
//! The layout works from a phone's width up (the navigation wraps, wide tables scroll).

use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use nexuma_sdk::{html as sdk_html, ApiError, Response};
use sha2::{Digest, Sha256};

use crate::session::{Admin, FORM_TOKEN};

/// The console's sections, in the navigation's order: path and label.
const SECTIONS: [(&str, &str); 9] = [
    ("/console", "Dashboard"),
    ("/console/users", "Users"),
    ("/console/subscriptions", "Subscriptions"),
    ("/console/tariffs", "Tariffs"),
    ("/console/nodes", "Nodes"),
    ("/console/routing", "Routing"),
    ("/console/components", "Components"),
    ("/console/audit", "Audit log"),
    ("/console/settings", "Settings"),
];

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f3f5f9}
a{color:#2456c9}
header{background:#1d2330;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;align-items:center;gap:.4rem 1rem}
header .brand{font-weight:700;margin-right:.5rem}
header nav{display:flex;flex-wrap:wrap;gap:.2rem .9rem;flex:1}
header nav a{color:#c9d3ea;text-decoration:none;padding:.15rem 0}
header nav a.here{color:#fff;border-bottom:2px solid #7aa2ff}
header form{margin:0}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.4rem 0 1rem}
h2{font-size:1.1rem;margin:1.4rem 0 .6rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:.7rem}
.card{background:#fff;border-radius:8px;padding:.8rem 1rem;box-shadow:0 1px 2px #0001}
.card .n{font-size:1.6rem;font-weight:700}
.card .l{color:#5b6478;font-size:.85rem}
.panel{background:#fff;border-radius:8px;padding:1rem;box-shadow:0 1px 2px #0001;margin-bottom:1rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e4e8f0;white-space:nowrap}
th{font-size:.8rem;color:#5b6478;text-transform:uppercase;letter-spacing:.03em}
.actions{display:flex;gap:.3rem;flex-wrap:wrap}
.actions form{margin:0}
td.actions form{display:inline-block;margin:0 .3rem .3rem 0}
button,.button{font:inherit;border:1px solid #2456c9;background:#2456c9;color:#fff;border-radius:6px;padding:.3rem .8rem;cursor:pointer;text-decoration:none;display:inline-block}
button.quiet{background:#fff;color:#2456c9}
button.danger{background:#c62f3b;border-color:#c62f3b}
header button{background:transparent;border-color:#c9d3ea;color:#c9d3ea;padding:.15rem .6rem}
label{display:block;font-weight:600;margin:.6rem 0 .2rem}
textarea{font:13px/1.4 ui-monospace,monospace;width:100%;padding:.4rem;border:1px solid #c3cada;border-radius:6px}
input,select{font:inherit;width:100%;max-width:420px;padding:.35rem .5rem;border:1px solid #c3cada;border-radius:6px;background:#fff}
input[type=checkbox]{width:auto}
.checks label{display:inline-flex;gap:.3rem;font-weight:400;margin-right:1rem}
.field-error{color:#b3202c;font-size:.85rem;margin:.2rem 0 0}
.hint{color:#5b6478;font-size:.85rem;margin:.2rem 0 0}
.notice{padding:.6rem .9rem;border-radius:6px;margin-bottom:1rem}
.notice.ok{background:#e3f4e8;color:#1d5e31}
.notice.error{background:#fbe5e7;color:#8c1d27}
form.search{display:flex;gap:.4rem;margin-bottom:.6rem;max-width:520px}
form.search input{flex:1}
.filters{display:flex;flex-wrap:wrap;gap:.4rem;margin-bottom:.8rem}
.filters a{padding:.2rem .7rem;border-radius:99px;background:#fff;text-decoration:none;border:1px solid #d5dbe7}
.filters a.here{background:#2456c9;color:#fff;border-color:#2456c9}
.pill{display:inline-block;padding:0 .5rem;border-radius:99px;font-size:.8rem;background:#e8ecf4}
.pill.active,.pill.online{background:#e3f4e8;color:#1d5e31}
.pill.pending,.pill.silent{background:#fff3d6;color:#7a5300}
.pill.rejected,.pill.blocked,.pill.error{background:#fbe5e7;color:#8c1d27}
.login{max-width:380px;margin:8vh auto}
pre{background:#1d2330;color:#e8ecf4;padding:.7rem;border-radius:6px;overflow-x:auto;font-size:.85rem}
input.link{width:auto;flex:1;max-width:none;min-width:16rem;font-family:ui-monospace,monospace;font-size:.85rem}
.link-row{margin-bottom:.5rem;white-space:normal}
.link-row .address{display:flex;gap:.3rem;align-items:center}
.link-row .actions{display:flex;flex-wrap:wrap;gap:.3rem;align-items:flex-start;margin-top:.3rem}
.link-row form{margin:0}
details summary{cursor:pointer;color:#2456c9;padding:.3rem 0}
.change{display:grid;grid-template-columns:1fr 1fr;gap:.5rem}
.change pre{white-space:pre-wrap;max-width:40ch}
svg.chart{width:100%;max-width:760px;height:auto;display:block}
svg.chart .axis{font-size:11px;fill:#5b6478}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1rem;font-size:.85rem;margin-top:.4rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
.qr svg{width:200px;height:200px;background:#fff}
header details.menu{display:none;flex:1}
header details.menu summary{color:#fff;cursor:pointer;padding:.15rem 0;list-style:none}
header details.menu summary::-webkit-details-marker{display:none}
header details.menu nav{flex-direction:column;padding:.4rem 0 .2rem}
@media (max-width:760px){header nav.wide{display:none}header details.menu{display:block}}
@media (max-width:600px){main{padding:.6rem}h1{font-size:1.2rem}}
"#;

/// Where the admin is, for the navigation.
pub struct Frame<'a> {
    pub title: &'a str,
    pub section: &'a str,
    pub admin: &'a Admin,
    /// A line at the top: what the last action did, or why it failed.
    pub notice: Option<Notice>,
}

/// A line above the page's content.
pub enum Notice {
    Done(String),
    Failed(String),
}

/// A whole page in the console's frame, renewing the session.
pub fn framed(status: u16, frame: Frame<'_>, content: Markup) -> Response {
    let body = html! {
        header {
            span.brand { "Nexuma" }
            nav.wide { (links(frame.section)) }
            // On a phone the sections fold into a menu (no script: a details element).
            details.menu {
                summary {
                    "☰ " (SECTIONS.iter().find(|(p, _)| *p == frame.section).map_or("Menu", |(_, l)| *l))
                }
                nav { (links(frame.section)) }
            }
            form method="post" action="/console/logout" {
                (token_field(frame.admin))
                button type="submit" { "Sign out" }
            }
        }
        main {
            @if let Some(notice) = &frame.notice { (notice_markup(notice)) }
            (content)
        }
    };
    let mut response = document(status, frame.title, body);
    response
        .headers
        .push(("set-cookie".into(), frame.admin.cookie()));
    response
}

/// The sections' links, the current one marked.
fn links(section: &str) -> Markup {
    html! {
        @for (path, label) in SECTIONS {
            a href=(path) class=[(path == section).then_some("here")] { (label) }
        }
    }
}

fn notice_markup(notice: &Notice) -> Markup {
    match notice {
        Notice::Done(text) => html! { p.notice.ok role="status" { (text) } },
        Notice::Failed(text) => html! { p.notice.error role="alert" { (text) } },
    }
}

/// A form that is one button: it posts `fields` (and the form token) to `action`.
pub fn button(
    admin: &Admin,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    class: &str,
) -> Markup {
    html! {
        form method="post" action=(action) {
            (token_field(admin))
            @for (name, value) in fields { input type="hidden" name=(name) value=(value); }
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The hidden field every form carries: the admin's form token.
pub fn token_field(admin: &Admin) -> Markup {
    html! { input type="hidden" name=(FORM_TOKEN) value=(admin.form_token); }
}

/// After an action: a 303 to `next` when it was done; the route's refusal as a page in
/// `section` with a link `back` (its address and label); a server error as it is.
pub fn after(
    admin: &Admin,
    result: Result<serde_json::Value, ApiError>,
    next: &str,
    section: &str,
    back: (&str, &str),
) -> Result<Response, ApiError> {
    match result {
        Ok(_) => Ok(redirect(next, Some(admin.cookie()))),
        Err(err) if err.status < 500 => {
            let frame = Frame {
                title: "Not done",
                section,
                admin,
                notice: Some(Notice::Failed(err.message.clone())),
            };
            let content = html! { p { a href=(back.0) { (back.1) } } };
            Ok(framed(err.status, frame, content))
        }
        Err(err) => Err(err),
    }
}

/// A bare page (no navigation): the login form, a refusal.
pub fn document(status: u16, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Nexuma console" }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) script { (PreEscaped(SCRIPT)) } }
        }
    };
    let mut headers = sdk_html::headers();
    for (name, value) in &mut headers {
        if name == "content-security-policy" {
            *value = policy();
        }
    }
    headers.push(("cache-control".into(), "no-store".into()));
    Response {
        status,
        headers,
        body: markup.into_string().into_bytes(),
    }
}

/// The one script of the console, for what a page cannot do without one: a "Copy" button
/// (`data-copy` naming an input's id) puts the input's value on the clipboard; an "Upload"
/// button (`data-upload`) sends its form's `.wasm` file to `/admin/components` (the session's
/// cookie goes with it: the Core takes it from its own pages only) and shows the API's
/// refusal, or goes to the components page. Everything else works without it.
const SCRIPT: &str = concat!(
    "document.addEventListener('click',function(e){",
    "var b=e.target.closest('button[data-copy]');if(b){var i=document.getElementById(b.getAttribute('data-copy'));if(!i)return;i.select();",
    "var done=function(){b.textContent='Copied'};",
    "if(navigator.clipboard){navigator.clipboard.writeText(i.value).then(done,function(){document.execCommand('copy');done()})}else{document.execCommand('copy');done()}return}",
    "var u=e.target.closest('button[data-upload]');if(!u)return;var f=u.form,out=f.querySelector('.upload-result'),file=f.querySelector('input[type=file]').files[0];",
    "if(!file){out.textContent='Choose a .wasm file first.';return}",
    "var name=f.querySelector('input[name=name]').value.trim()||file.name.replace(/\\.wasm$/,'');",
    "var q='?name='+encodeURIComponent(name)+(f.querySelector('input[name=activate]').checked?'&activate=true':'');",
    "out.textContent='Uploading…';",
    "fetch('/admin/components'+q,{method:'POST',body:file,credentials:'same-origin',headers:{'content-type':'application/wasm'}})",
    ".then(function(r){return r.json().then(function(j){if(r.ok){location.href='/console/components?done=upload'}else{out.textContent=(j.error&&j.error.message)||('refused: '+r.status)}})})",
    ".catch(function(){out.textContent='The upload did not reach the Core.'})});"
);

/// The pages' policy: the SDK's (nothing loads but the page's own style), plus exactly the
/// console's script, by its hash, and its requests to this origin.
fn policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{hash}'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// A button that copies the input `input_id`'s value (the copy script).
pub fn copy_button(input_id: &str) -> Markup {
    html! { button.quiet type="button" data-copy=(input_id) { "Copy" } }
}

/// A 303 to `location` (after a form: the page to show next), with a cookie to set.
pub fn redirect(location: &str, cookie: Option<String>) -> Response {
    let mut headers = vec![
        ("location".to_string(), location.to_string()),
        ("cache-control".to_string(), "no-store".to_string()),
    ];
    headers.extend(cookie.map(|c| ("set-cookie".to_string(), c)));
    Response {
        status: 303,
        headers,
        body: Vec::new(),
    }
}

/// A page that says plainly why the console cannot go on, with the way back.
pub fn refusal(status: u16, title: &str, text: &str) -> Response {
    document(
        status,
        title,
        html! {
            main.login {
                div.panel {
                    h1 { (title) }
                    p { (text) }
                    p { a href="/console" { "Back to the console" } " · " a href="/console/login" { "Sign in" } }
                }
            }
        },
    )
}

/// The page for an error the console met on its own (the store, the database): the error's
/// status and message, never a bare 500.
pub fn failure(err: ApiError) -> Response {
    refusal(err.status, "Something went wrong", &err.message)
}

/// A form field's error line, when the API's error is about that field.
pub fn field_error(err: Option<&ApiError>, field: &str) -> Markup {
    html! {
        @if let Some(err) = err.filter(|e| e.field.as_deref() == Some(field)) {
            p.field-error role="alert" { (err.message) }
        }
    }
}

/// The API's error when it is about none of `fields` (shown above the form), else nothing.
pub fn form_error(err: Option<&ApiError>, fields: &[&str]) -> Option<Notice> {
    let err = err?;
    let about_a_field = err.field.as_deref().is_some_and(|f| fields.contains(&f));
    Some(Notice::Failed(if about_a_field {
        "Some fields need attention: see the messages below.".to_string()
    } else {
        err.message.clone()
    }))
}

/// A table that scrolls sideways on a narrow screen: its head, its rows, and the line it shows
/// when there are none.
pub fn table(head: &[&str], rows: impl Iterator<Item = Markup>, empty: &str) -> Markup {
    let rows: Vec<Markup> = rows.collect();
    html! {
        div.scroll {
            table {
                thead { tr { @for h in head { th { (h) } } } }
                tbody {
                    @for row in &rows { (row) }
                    @if rows.is_empty() { tr { td colspan=(head.len()) { (empty) } } }
                }
            }
        }
    }
}

/// A status as a coloured pill.
pub fn pill(text: &str) -> Markup {
    html! { span class={"pill " (text)} { (text) } }
}

/// A "confirm" page for a destructive action: what will happen, the form that does it (with
/// `confirm=yes`), and the way back.
pub fn confirm(
    frame: Frame<'_>,
    question: &str,
    consequence: &str,
    action: &str,
    fields: &[(&str, &str)],
    back: &str,
) -> Response {
    let asked = Asked {
        question,
        consequence,
        action,
        fields,
        choice: html! {},
        yes: "Yes, go ahead",
        back,
    };
    confirm_choosing(frame, asked)
}

/// A confirmation that asks for more than yes: what the admin picks or types with it.
pub struct Asked<'a> {
    pub question: &'a str,
    pub consequence: &'a str,
    /// Where the form posts (with `confirm=yes`).
    pub action: &'a str,
    /// Hidden fields the form carries on.
    pub fields: &'a [(&'a str, &'a str)],
    /// The fields to fill or pick before saying yes (a refund rule, an amount).
    pub choice: Markup,
    /// The yes button's label.
    pub yes: &'a str,
    /// The way back without doing it.
    pub back: &'a str,
}

/// A confirmation page for `asked`.
pub fn confirm_choosing(frame: Frame<'_>, asked: Asked<'_>) -> Response {
    let admin = frame.admin;
    let content = html! {
        div.panel {
            h1 { (asked.question) }
            p { (asked.consequence) }
            form method="post" action=(asked.action) {
                (token_field(admin))
                @for (name, value) in asked.fields { input type="hidden" name=(name) value=(value); }
                input type="hidden" name="confirm" value="yes";
                (asked.choice)
                p {
                    button.danger type="submit" { (asked.yes) }
                    " "
                    a.button href=(asked.back) style="background:#fff;color:#2456c9" { "Cancel" }
                }
            }
        }
    };
    framed(200, frame, content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_exactly_the_consoles_script_run() {
        let page = document(200, "t", html! { p { "x" } });
        let csp = &page
            .headers
            .iter()
            .find(|(k, _)| k == "content-security-policy")
            .expect("csp")
            .1;
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
        assert!(
            csp.contains(&format!("script-src 'sha256-{hash}'")),
            "{csp}"
        );
        let body = String::from_utf8(page.body).expect("utf-8");
        assert!(
            body.contains(&format!("<script>{SCRIPT}</script>")),
            "the script as hashed"
        );
    }

    #[test]
    fn a_field_error_shows_only_under_its_field() {
        let mut err = ApiError::validation("price", "must be at least 0");
        err.message = "price: must be at least 0".into();
        let under_price = field_error(Some(&err), "price").into_string();
        assert!(
            under_price.contains("price: must be at least 0"),
            "{under_price}"
        );
        assert!(field_error(Some(&err), "name").into_string().is_empty());
        assert!(matches!(
            form_error(Some(&err), &["name", "price"]),
            Some(Notice::Failed(t)) if t.contains("fields need attention")
        ));
        let conflict = ApiError::conflict("tariff_in_use", "the tariff has subscriptions");
        assert!(matches!(
            form_error(Some(&conflict), &["name"]),
            Some(Notice::Failed(t)) if t == "the tariff has subscriptions"
        ));
    }
}
