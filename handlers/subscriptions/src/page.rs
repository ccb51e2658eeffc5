//! The page a person sees who opens a subscription address in a browser (the `browser` format,
//! picked by the default `Accept: text/html` rule): the plan, its state, traffic and expiry, the
//! address to add to a VPN app, and each connection's share link. No scripts; everything shown
//! is escaped.

use nexuma_sdk::html::{escape, size};

use crate::access::LinkView;
use crate::settings::Settings;

/// What the page shows.
pub struct Page<'a> {
    pub view: &'a LinkView,
    pub connections: &'a [xray::Connection],
    pub settings: &'a Settings,
    /// The subscription's own address (`{PUBLIC_URL}/sub/{uuid}`).
    pub address: &'a str,
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1c2330;background:#f3f5f8}\
main{max-width:760px;margin:0 auto;padding:16px}\
h1{font-size:22px;margin:8px 0 12px}\
h2{font-size:16px;margin:0 0 8px}\
section{background:#fff;border-radius:10px;padding:14px 16px;margin:0 0 12px;box-shadow:0 1px 2px rgba(0,0,0,.06)}\
.state{font-weight:600}.on{color:#12833b}.off{color:#b3261e}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0 0}dt{color:#5b6475}dd{margin:0}\
input,textarea{width:100%;font:13px ui-monospace,SFMono-Regular,Menlo,monospace;padding:6px;border:1px solid #d5d9e0;border-radius:6px;background:#fafbfc}\
textarea{height:4.5em;resize:vertical}\
ul{list-style:none;padding:0;margin:0}li{margin:0 0 10px}\
a{color:#1d5fd1}";

/// The whole page.
pub fn render(p: &Page<'_>) -> String {
    let title = escape(&p.settings.profile_title);
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>{STYLE}</style></head><body><main><h1>{title}</h1>"
    );
    html.push_str(&summary(p));
    if p.view.inactive_reason().is_none() {
        html.push_str(&import(p));
        html.push_str(&connections(p.connections));
    }
    if let Some(url) = &p.settings.support_url {
        html.push_str(&format!(
            "<section><a href=\"{}\" rel=\"noopener\">Support</a></section>",
            escape(url)
        ));
    }
    html.push_str("</main></body></html>");
    html
}

fn summary(p: &Page<'_>) -> String {
    let v = p.view;
    let (class, state) = match v.inactive_reason() {
        None => ("on", "✅ Active".to_string()),
        Some(reason) => ("off", reason.to_string()),
    };
    let traffic = match v.traffic_limit {
        Some(limit) if limit > 0 => format!("{} of {}", size(v.traffic_used), size(limit)),
        _ => format!("{} (unlimited)", size(v.traffic_used)),
    };
    let expires = v.expires_at.map(date).unwrap_or_else(|| "never".into());
    let link = v
        .link_name
        .as_deref()
        .map(|n| format!("<dt>Link</dt><dd>{}</dd>", escape(n)))
        .unwrap_or_default();
    format!(
        "<section><div class=\"state {class}\">{}</div><dl><dt>Plan</dt><dd>{}</dd>{link}\
         <dt>Traffic</dt><dd>{traffic}</dd><dt>Expires</dt><dd>{expires}</dd></dl></section>",
        escape(&state),
        escape(&v.tariff_name),
    )
}

fn import(p: &Page<'_>) -> String {
    let address = escape(p.address);
    format!(
        "<section><h2>Add to your VPN app</h2>\
         <p>Copy this address into v2rayN, v2rayNG, Hiddify, Streisand, Clash Verge, mihomo or \
         a sing-box app; it picks the right format for the app.</p>\
         <input readonly value=\"{address}\" aria-label=\"Subscription address\">\
         <p>Or take a format directly: <a href=\"{address}/v2ray\">links (base64)</a> · \
         <a href=\"{address}/clash\">Clash / mihomo</a> · \
         <a href=\"{address}/singbox\">sing-box</a></p></section>"
    )
}

fn connections(list: &[xray::Connection]) -> String {
    if list.is_empty() {
        return "<section><h2>Connections</h2><p>No servers are available for this plan right \
                now.</p></section>"
            .into();
    }
    let mut html = String::from("<section><h2>Connections</h2><ul>");
    for c in list {
        html.push_str(&format!(
            "<li><div>{}</div><textarea readonly aria-label=\"Share link\">{}</textarea></li>",
            escape(&c.name),
            escape(&xray::link::share_link(c))
        ));
    }
    html.push_str("</ul></section>");
    html
}

/// Epoch milliseconds as a UTC date and time.
fn date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_well() {
        assert_eq!(date(1_764_460_800_000), "2025-11-30 00:00 UTC");
    }
}
