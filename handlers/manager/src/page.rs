//! The monitoring page `GET /` (server-rendered HTML, no JavaScript) and its cookie login:
//! `POST /ui/login` (form: email, password; admins only) and `POST /ui/logout`.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::{clock, log, passwords, throttle, tokens, ApiError, Request, Response, Route};

use crate::nodes::{self, Node};
use crate::roster;
use crate::users::{self, UserTraffic};

const HOUR_MS: i64 = 3_600_000;
const WRONG_CREDENTIALS: &str = "Wrong email or password.";

fn html(status: u16, body: String) -> Response {
    let mut headers = nexuma_sdk::html::headers();
    headers.push(("cache-control".into(), "no-store".into()));
    Response {
        status,
        headers,
        body: body.into_bytes(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    nexuma_sdk::html::escape(s).into_owned()
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1c2330;background:#f3f5f8}\
header{background:#1c2330;color:#fff;padding:12px 16px;display:flex;align-items:center;justify-content:space-between;gap:8px}\
header h1{font-size:18px;margin:0}\
main{padding:12px;max-width:1100px;margin:0 auto}\
section{background:#fff;border-radius:10px;padding:12px 14px;margin:0 0 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}\
h2{font-size:16px;margin:0 0 8px}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:8px;margin:0 0 12px}\
.card{background:#fff;border-radius:10px;padding:10px 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}\
.card b{display:block;font-size:20px}\
.card span{color:#5b6473;font-size:13px}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;width:100%;font-size:14px}\
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e6e9ef;white-space:nowrap}\
th{color:#5b6473;font-weight:600;font-size:12px;text-transform:uppercase}\
td.num,th.num{text-align:right}\
.on{color:#137a3d;font-weight:600}.off{color:#b42318;font-weight:600}\
.muted{color:#5b6473;font-size:13px}\
form.inline{margin:0}\
button,input[type=submit]{font:inherit;background:#2f6fed;color:#fff;border:0;border-radius:8px;padding:8px 14px}\
header button{background:#3a4558;padding:6px 10px}\
.login{max-width:360px;margin:40px auto}\
.login label{display:block;margin:10px 0 4px}\
.login input[type=email],.login input[type=password]{width:100%;font:inherit;padding:9px;border:1px solid #c8ced8;border-radius:8px}\
.login input[type=submit]{width:100%;margin-top:16px}\
.error{background:#fde8e8;color:#8a1c1c;border-radius:8px;padding:8px 10px}\
svg text{font:11px system-ui,sans-serif;fill:#5b6473}\
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px}";

fn page(title: &str, header_right: &str, content: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\
         <header><h1>Nexuma</h1>{header_right}</header><main>{content}</main></body></html>",
        title = esc(title)
    )
}

fn login_form(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Nexuma — sign in",
        "",
        &format!(
            "<section class=\"login\"><h2>Sign in</h2>{error}\
             <p class=\"muted\">The monitoring page is for administrators.</p>\
             <form method=\"post\" action=\"/ui/login\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required>\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" \
             autocomplete=\"current-password\" required>\
             <input type=\"submit\" value=\"Sign in\"></form></section>"
        ),
    )
}

fn logout_button() -> &'static str {
    "<form class=\"inline\" method=\"post\" action=\"/ui/logout\"><button>Sign out</button></form>"
}

pub fn index(req: &Request) -> Result<Response, ApiError> {
    match &req.caller {
        None => Ok(html(200, login_form(None))),
        Some(caller) if caller.role != "admin" => {
            log::info("monitoring page refused", &[("userId", &caller.id)]);
            Ok(html(
                403,
                page(
                    "Nexuma — forbidden",
                    logout_button(),
                    "<section><h2>Forbidden</h2><p>This page is for administrators only.</p>\
                     </section>",
                ),
            ))
        }
        Some(_) => Ok(html(200, dashboard()?)),
    }
}

/// KiB as a short human figure.
pub fn kib(n: i64) -> String {
    nexuma_sdk::html::size(n.saturating_mul(1024))
}

fn ago(now: i64, then: Option<i64>) -> String {
    let Some(then) = then else {
        return "never".into();
    };
    let s = (now - then).max(0) / 1000;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=86_399 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn pct(v: Option<i64>) -> String {
    v.map(|v| format!("{v}%")).unwrap_or_else(|| "–".into())
}

fn dashboard() -> Result<String, ApiError> {
    let now = clock::now_ms();
    let nodes = nodes::all(&Pool)?;
    let counts = roster::count_per_node(&Pool)?;
    let users = users::with_traffic(&Pool)?;
    let online = nodes.iter().filter(|n| n.online).count();
    let total_in: i64 = users.iter().map(|u| u.total_incoming).sum();
    let total_out: i64 = users.iter().map(|u| u.total_outcoming).sum();

    let mut out = String::new();
    out.push_str(&format!(
        "<div class=\"cards\">\
         <div class=\"card\"><b>{online}/{}</b><span>nodes online</span></div>\
         <div class=\"card\"><b>{}</b><span>users</span></div>\
         <div class=\"card\"><b>{}</b><span>sent by users</span></div>\
         <div class=\"card\"><b>{}</b><span>received by users</span></div></div>",
        nodes.len(),
        users.len(),
        kib(total_in),
        kib(total_out)
    ));
    out.push_str(&chart(now)?);
    out.push_str(&nodes_table(&nodes, &counts, now));
    out.push_str(&users_table(&users, &nodes));
    Ok(page("Nexuma — nodes and users", logout_button(), &out))
}

fn nodes_table(
    nodes: &[Node],
    counts: &std::collections::HashMap<String, i64>,
    now: i64,
) -> String {
    let mut rows = String::new();
    for n in nodes {
        let (class, state) = if n.online {
            ("on", "online")
        } else {
            ("off", "offline")
        };
        rows.push_str(&format!(
            "<tr id=\"node-{id}\"><td><b>{name}</b><br><span class=\"muted\">{address}</span></td>\
             <td>{status}</td><td class=\"{class}\">● {state}</td><td>{agent}</td>\
             <td class=\"num\">{cpu}</td><td class=\"num\">{mem}</td><td class=\"num\">{users}</td>\
             <td>{seen}</td></tr>",
            id = esc(&n.id),
            name = esc(&n.name),
            address = esc(&n.address),
            status = esc(&n.status),
            agent = esc(n.agent_status.as_deref().unwrap_or("–")),
            cpu = pct(n.cpu_load),
            mem = pct(n.memory_load),
            users = counts.get(&n.id).copied().unwrap_or(0),
            seen = esc(&ago(now, n.last_seen_at)),
        ));
    }
    if nodes.is_empty() {
        rows.push_str(
            "<tr><td colspan=\"8\" class=\"muted\">No nodes yet: POST /nodes/add.</td></tr>",
        );
    }
    format!(
        "<section><h2>Nodes</h2><div class=\"scroll\"><table><thead><tr><th>Node</th>\
         <th>Status</th><th>Online</th><th>Agent</th><th class=\"num\">CPU</th>\
         <th class=\"num\">Memory</th><th class=\"num\">Users</th><th>Last seen</th></tr></thead>\
         <tbody>{rows}</tbody></table></div></section>"
    )
}

fn users_table(users: &[UserTraffic], nodes: &[Node]) -> String {
    let mut head = String::from("<th>User</th>");
    for n in nodes {
        head.push_str(&format!("<th class=\"num\">{}<br>↑ / ↓</th>", esc(&n.name)));
    }
    head.push_str("<th class=\"num\">Total<br>↑ / ↓</th>");
    let mut rows = String::new();
    for u in users {
        let mut cells = format!(
            "<td><b>{}</b><br><span class=\"muted\">{}</span></td>",
            esc(u.name.as_deref().unwrap_or("(no name)")),
            esc(&u.id[..u.id.len().min(8)])
        );
        for n in nodes {
            let cell = match u.nodes.iter().find(|t| t.node_id == n.id) {
                Some(t) => format!(
                    "{} / {}{}",
                    kib(t.incoming),
                    kib(t.outcoming),
                    if t.connected {
                        ""
                    } else {
                        " <span class=\"off\">•</span>"
                    }
                ),
                None => "–".into(),
            };
            cells.push_str(&format!("<td class=\"num\">{cell}</td>"));
        }
        cells.push_str(&format!(
            "<td class=\"num\"><b>{} / {}</b></td>",
            kib(u.total_incoming),
            kib(u.total_outcoming)
        ));
        rows.push_str(&format!(
            "<tr id=\"user-{}\" data-total-kib=\"{}\">{cells}</tr>",
            esc(&u.id),
            u.total_incoming + u.total_outcoming
        ));
    }
    if users.is_empty() {
        rows.push_str(&format!(
            "<tr><td colspan=\"{}\" class=\"muted\">No users yet: POST /users/new.</td></tr>",
            nodes.len() + 2
        ));
    }
    format!(
        "<section><h2>Users</h2><p class=\"muted\">↑ sent by the user, ↓ received; \
         <span class=\"off\">•</span> not on that node yet.</p><div class=\"scroll\"><table>\
         <thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></section>"
    )
}

/// Traffic of the last 24 hours, one stacked bar per hour (sent below received), as SVG.
fn chart(now: i64) -> Result<String, ApiError> {
    let current = now - now.rem_euclid(HOUR_MS);
    let first = current - 23 * HOUR_MS;
    let rows = Pool.query(
        "SELECT hour, CAST(SUM(incoming) AS BIGINT) AS i, CAST(SUM(outcoming) AS BIGINT) AS o \
         FROM usage_hourly WHERE hour >= $1 GROUP BY hour",
        &[first.into()],
    )?;
    let mut buckets = [(0i64, 0i64); 24];
    for r in rows.iter() {
        let idx = (r.i64("hour")? - first) / HOUR_MS;
        if (0..24).contains(&idx) {
            buckets[idx as usize] = (r.i64("i")?, r.i64("o")?);
        }
    }
    let max = buckets.iter().map(|(i, o)| i + o).max().unwrap_or(0).max(1);
    let (w, h, left, bottom) = (360.0_f64, 140.0_f64, 4.0_f64, 18.0_f64);
    let plot_h = h - bottom - 14.0;
    let bar_w = (w - left * 2.0) / 24.0;
    let mut bars = String::new();
    for (k, (i, o)) in buckets.iter().enumerate() {
        let x = left + k as f64 * bar_w + 1.0;
        let hi = *i as f64 / max as f64 * plot_h;
        let ho = *o as f64 / max as f64 * plot_h;
        let base = h - bottom;
        if *o > 0 {
            bars.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{ho:.1}\" fill=\"#2f6fed\"><title>{}</title></rect>",
                base - hi - ho,
                bar_w - 2.0,
                esc(&kib(*o))
            ));
        }
        if *i > 0 {
            bars.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{hi:.1}\" fill=\"#f08c2e\"><title>{}</title></rect>",
                base - hi,
                bar_w - 2.0,
                esc(&kib(*i))
            ));
        }
    }
    let total: i64 = buckets.iter().map(|(i, o)| i + o).sum();
    Ok(format!(
        "<section><h2>Traffic, last 24 hours</h2>\
         <svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"hourly traffic\">\
         <line x1=\"{left}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#c8ced8\"/>\
         <text x=\"{left}\" y=\"11\">peak {peak}/h</text>\
         <text x=\"{left}\" y=\"{label_y}\">-24 h</text>\
         <text x=\"{right}\" y=\"{label_y}\" text-anchor=\"end\">now</text>{bars}</svg>\
         <p class=\"muted legend\">total {total}<i style=\"background:#2f6fed\"></i>received\
         <i style=\"background:#f08c2e\"></i>sent</p></section>",
        base = h - bottom,
        right = w - left,
        label_y = h - 4.0,
        peak = esc(&kib(max)),
        total = esc(&kib(total)),
    ))
}

/// `application/x-www-form-urlencoded` value decoding (`+` is a space).
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| form_decode(k) == name)
        .map(|(_, v)| form_decode(v))
}

/// `GET /` as the document shows it: a page, whoever asks.
pub fn documented_index(route: Route) -> Route {
    route
        .media(
            nexuma_sdk::html::MEDIA_TYPE,
            page_schema("the monitoring page for an admin's cookie, else the login form"),
        )
        .other_answer(
            403,
            "A signed-in account that is not an admin",
            nexuma_sdk::html::MEDIA_TYPE,
            page_schema("a page saying so, with a sign-out button"),
        )
}

/// `POST /ui/login` as the document shows it: a form in, the cookie and a redirect home out, or
/// the form again with why.
pub fn documented_login(route: Route) -> Route {
    let form = serde_json::json!({
        "type": "object",
        "required": ["email", "password"],
        "properties": {
            "email": { "type": "string", "maxLength": 254 },
            "password": { "type": "string", "maxLength": 1024 }
        }
    });
    let again = |route: Route, status, when| {
        route.other_answer(
            status,
            when,
            nexuma_sdk::html::MEDIA_TYPE,
            page_schema("the login form with the reason"),
        )
    };
    let route = documented_redirect(route.request_media("application/x-www-form-urlencoded", form));
    let route = again(route, 400, "An email or password is missing or too long");
    let route = again(
        route,
        401,
        "Wrong credentials, or an account that may not see the page",
    );
    again(
        route,
        429,
        "Too many sign-in attempts (Retry-After says how long to wait)",
    )
}

/// The 303 home that login and logout answer, with the cookie set or cleared.
pub fn documented_redirect(route: Route) -> Route {
    route
        .header::<String>("location", "The monitoring page")
        .header::<String>(
            "set-cookie",
            "The access-token cookie (HttpOnly, SameSite=Strict; cleared on logout)",
        )
}

fn page_schema(what: &str) -> serde_json::Value {
    serde_json::json!({ "type": "string", "description": what })
}

fn redirect_home(cookie: String) -> Response {
    Response {
        status: 303,
        headers: vec![
            ("location".into(), "/".into()),
            ("set-cookie".into(), cookie),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Vec::new(),
    }
}

pub fn login(req: &Request) -> Result<Response, ApiError> {
    let body = String::from_utf8_lossy(&req.body);
    let email = form_field(&body, "email")
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    let password = form_field(&body, "password").unwrap_or_default();
    if email.is_empty() || password.is_empty() || email.len() > 254 || password.len() > 1024 {
        return Ok(html(
            400,
            login_form(Some("Enter your email and password.")),
        ));
    }
    // The same counters as `/auth/login`, reserved before anything is looked up.
    let attempt = match throttle::reserve_login(&email, &req.remote_addr) {
        Ok(attempt) => attempt,
        Err(err) if err.status == 429 => return Ok(too_many(err)),
        Err(err) => return Err(err),
    };
    let found = admin_with(&email, &password);
    match &found {
        Ok(Some(_)) => attempt.succeeded(),
        // A guess that failed stays counted.
        Ok(None) => {}
        // The database could not answer: no guess was decided.
        Err(_) => attempt.undecided(),
    }
    let Some(id) = found? else {
        // A wrong password and a right one of an account that may not see the page answer
        // alike, so this form never confirms a guess.
        log::info("monitoring login failed", &[("reason", "credentials")]);
        return Ok(html(401, login_form(Some(WRONG_CREDENTIALS))));
    };
    let token = tokens::issue_access(&id, "admin");
    log::info("monitoring login", &[("userId", &id)]);
    Ok(redirect_home(nexuma_sdk::html::access_cookie(
        &token.token,
        token.expires_in,
    )))
}

/// The id of the active, unblocked admin with this email and password; `None` for anything else
/// (no such account, a wrong password, or an account that may not see the page).
fn admin_with(email: &str, password: &str) -> Result<Option<String>, ApiError> {
    let rows = Pool.query(
        "SELECT id, password_hash, role, status, blocked FROM users WHERE email = $1",
        &[email.into()],
    )?;
    let user = rows.first();
    let verified = match user
        .map(|u| u.opt_string("password_hash"))
        .transpose()?
        .flatten()
    {
        Some(hash) => passwords::verify(password, &hash),
        None => {
            // About the time of a real check, so timing does not tell which emails exist.
            let _ = passwords::hash(password);
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        return Ok(None);
    };
    let allowed =
        user.str("role")? == "admin" && user.str("status")? == "active" && !user.bool("blocked")?;
    if !allowed {
        return Ok(None);
    }
    Ok(Some(user.string("id")?))
}

/// The form again with the throttle's 429 and its `retry-after`.
fn too_many(err: ApiError) -> Response {
    let mut page = html(
        429,
        login_form(Some("Too many sign-in attempts; try again later.")),
    );
    page.headers.extend(err.headers);
    page
}

pub fn logout(_req: &Request) -> Result<Response, ApiError> {
    Ok(redirect_home(nexuma_sdk::html::access_cookie("", 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_escaping() {
        assert_eq!(form_decode("a+b%40c.io%2"), "a b@c.io%2");
        assert_eq!(
            form_field("email=x%40y.io&password=p%26w", "password").as_deref(),
            Some("p&w")
        );
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
    }
}
