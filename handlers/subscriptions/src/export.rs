//! `GET /sub/:uuid` and `GET /sub/:uuid/:format`: the subscription VPN clients poll, the Core's
//! hottest public path.
//!
//! An answer is rendered under the content epoch and handed to the host's response cache, which
//! gives it again — to the same address with the same values of the headers it varies on (those
//! the format rules read and, for sing-box, User-Agent; `Vary` names them) — without running
//! this component, until the epoch moves (anything users are shown changed:
//! `nexuma_sdk::cache`), the subscription's used traffic is counted again (its traffic stamp,
//! for `subscription-userinfo`), [`TTL_MS`] passes, or a listed node would fall silent past its
//! grace (`catalog`: silence moves no epoch). The host also answers
//! `If-None-Match` from the `ETag`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use nexuma_sdk::db::Pool;
use nexuma_sdk::{
    cache, clock, html, id, log, settings as core, ApiError, Request, Response, Route,
};
use xxhash_rust::xxh3::xxh3_128;

use xray::singbox::Class as SingboxClass;

use crate::access::{self, LinkView};
use crate::catalog::{self, Catalog};
use crate::page::{self, Page};
use crate::rules;
use format_rules::Format;

const TTL_MS: u64 = 10 * 60 * 1000;

/// A rendered answer: the ETag, the headers, the body.
struct Rendered {
    etag: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Rendered {
    fn respond(self) -> Response {
        let mut headers = self.headers;
        headers.push(("etag".into(), self.etag));
        headers.push(("cache-control".into(), "no-cache".into()));
        Response {
            status: 200,
            headers,
            body: self.body.into_bytes(),
        }
    }
}

fn not_found() -> ApiError {
    // The same answer for every unknown address: it reveals nothing.
    ApiError::not_found("not_found", "there is no subscription at this address")
}

/// `subscription-userinfo`: what clients show as used, total and expiry.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // a declaration: `render` writes the header
struct UserInfo(
    #[schemars(regex(pattern = r"^upload=0; download=\d+; total=\d+; expire=\d+$"))] String,
);

/// `profile-title`: the profile's name, base64 so any script survives a header.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // a declaration: `render` writes the header
struct Title(#[schemars(regex(pattern = r"^base64:[A-Za-z0-9+/]*={0,2}$"))] String);

/// The body of each format: text, YAML, JSON or a page.
fn body_schema(format: Format) -> serde_json::Value {
    let description = match format {
        Format::V2ray => "standard base64 of share links, one per line",
        Format::Clash => "a complete Clash.Meta (mihomo) config",
        Format::Singbox => "a complete sing-box config in the form the client's version loads",
        Format::Browser => "a page for a person who opened the address in a browser",
    };
    let kind = if format == Format::Singbox {
        "object"
    } else {
        "string"
    };
    serde_json::json!({ "type": kind, "description": description })
}

/// The media type of a format, without its charset.
fn media_type(format: Format) -> &'static str {
    let full = format.content_type();
    full.split(';').next().unwrap_or(full)
}

/// What `/sub/:uuid` and `/sub/:uuid/:format` say beyond their records: a media type per
/// format, the headers clients read, and the 404 of an address that is not a subscription.
pub fn documented(route: Route) -> Route {
    let route = Format::ALL.into_iter().fold(route, |route, format| {
        route.media(media_type(format), body_schema(format))
    });
    route
        .param::<id::Uuid>("uuid", "The subscription link's UUID (any letter case)")
        .header::<UserInfo>("subscription-userinfo", "Traffic used (download) and allowed (total, 0: unlimited) in bytes, expiry in epoch seconds (0: never)")
        .header::<Title>("profile-title", "The profile's name clients show")
        .header::<u32>("profile-update-interval", "Hours between the client's updates")
        .header::<String>("profile-web-page-url", "The page clients link to: the operator's, else this subscription's info")
        .header::<String>("content-disposition", "A file name for clients that save the answer (inline for the browser page)")
        .header::<String>("etag", "The answer's version: If-None-Match with it gives 304")
        .optional_header::<String>("support-url", "The operator's support address, when set")
        .optional_header::<String>("vary", "The request headers the answer depends on (those the format rules read; user-agent for sing-box)")
        .error(404, "No subscription at this address (the same answer for every unknown one), or an unknown format")
}

/// `GET /sub/:uuid`'s query, as [`asked`] reads it (its JSON Schema is derived from this type).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // a declaration: `asked` reads the parameter
pub struct Query {
    /// A format by any of its names (v2ray, clash, singbox, browser, or an alias such as
    /// mihomo or sing-box); any other value is ignored and the format rules pick.
    #[schemars(default)]
    pub format: String,
}

/// The format the request asks for by path (forced) or `?format=` (an unknown value is ignored).
fn asked(req: &Request) -> Result<Option<Format>, ApiError> {
    // Only `/sub/:uuid/:format` has the parameter (`req.param` would log its absence).
    let forced = req
        .params
        .iter()
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v);
    if let Some(name) = forced {
        return Format::parse(name).map(Some).ok_or_else(|| {
            ApiError::not_found(
                "unknown_format",
                format!(
                    "`{name}` is not a subscription format ({})",
                    format_rules::NAMES
                ),
            )
        });
    }
    Ok(req.query("format").and_then(Format::parse))
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let uuid = req.param("uuid")?.to_ascii_lowercase();
    let forced = asked(req)?;
    if !id::is_uuid(&uuid) {
        return Err(not_found());
    }
    // The epoch before the data: a change committed meanwhile moves it past this answer's.
    let (epoch, catalog) = catalog::load(&Pool)?;
    let view = access::by_uuid(&Pool, &uuid)?.ok_or_else(not_found)?;
    let format = match forced {
        Some(f) => f,
        None => rules::pick(&catalog.rules, |h| req.header(h).map(str::to_string))
            .unwrap_or(Format::V2ray),
    };
    let vary = varies_on(forced.is_none(), format, &catalog.rules);
    // Only a sing-box answer depends on the client's core version.
    let singbox = match format {
        Format::Singbox => format_rules::singbox_class(req.header("user-agent")),
        _ => SingboxClass::WIDEST,
    };
    let mut answer = render(&view, &catalog, format, singbox)?;
    if !vary.is_empty() {
        // Shared caches and browsers must key on what the host's cache keys on.
        answer.headers.push(("vary".into(), vary.join(", ")));
    }
    // `subscription-userinfo` shows the used traffic, which moves without the epoch.
    match cache::traffic_stamp(&view.subscription_id) {
        Ok(stamp) => {
            // Silence moves no epoch: the answer goes when the catalog would list less.
            let ttl = catalog.answer_ttl_ms(clock::now_ms(), TTL_MS);
            epoch.keep_answer_showing(vary, ttl, Some(&stamp))
        }
        Err(e) => log::warn("answer not kept", &[("error", &e.message)]),
    }
    Ok(answer.respond())
}

/// The request headers an answer depends on, each once: those the format rules read when they
/// picked the format, and User-Agent for sing-box, whose version it names. The same list goes
/// into `Vary` and to the host's response cache, so both key on the same request headers.
fn varies_on(picked_by_rules: bool, format: Format, rules: &[rules::Rule]) -> Vec<String> {
    let mut names = if picked_by_rules {
        rules::headers(rules)
    } else {
        Vec::new()
    };
    if format == Format::Singbox && !names.iter().any(|n| n == "user-agent") {
        names.push("user-agent".into());
    }
    names
}

/// The answer for a link in a format: its connections (or one entry saying why there are none)
/// and the headers clients read.
fn render(
    view: &LinkView,
    catalog: &Catalog,
    format: Format,
    singbox: SingboxClass,
) -> Result<Rendered, ApiError> {
    let connections = match view.inactive_reason() {
        None => access::connections(&Pool, &catalog.nodes, view)?,
        Some(reason) => vec![xray::Connection::remark(reason)],
    };
    let s = &catalog.settings;
    let base = core::public_url();
    let body = match format.render(&connections, singbox) {
        Some(body) => body,
        None => page::render(&Page {
            view,
            connections: &connections,
            settings: s,
            address: &format!("{base}/sub/{}", view.uuid),
        }),
    };
    let title = &s.profile_title;
    let mut headers = vec![(
        "content-type".to_string(),
        format.content_type().to_string(),
    )];
    if format == Format::Browser {
        headers.extend(html::security_headers());
    }
    headers.extend([
        (
            "subscription-userinfo".into(),
            format!(
                "upload=0; download={}; total={}; expire={}",
                view.traffic_used.max(0),
                view.traffic_limit.unwrap_or(0).max(0),
                view.expires_at.map(|ms| ms / 1000).unwrap_or(0).max(0)
            ),
        ),
        (
            "profile-title".into(),
            format!("base64:{}", STANDARD.encode(title)),
        ),
        (
            "profile-update-interval".into(),
            s.update_interval_hours.to_string(),
        ),
        (
            "profile-web-page-url".into(),
            s.web_page_url
                .clone()
                .unwrap_or_else(|| format!("{base}/sub/{}/info", view.uuid)),
        ),
        ("content-disposition".into(), disposition(title, format)),
    ]);
    if let Some(url) = &s.support_url {
        headers.push(("support-url".into(), url.clone()));
    }
    // Names the body only: a validator, not a secret, so a fast hash does.
    let etag = format!("\"{:032x}\"", xxh3_128(body.as_bytes()));
    Ok(Rendered {
        etag,
        headers,
        body,
    })
}

/// `attachment` with an ASCII file name and the UTF-8 one (RFC 6266); the browser page is shown
/// `inline`.
fn disposition(title: &str, format: Format) -> String {
    if format == Format::Browser {
        return "inline".into();
    }
    let ascii: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let utf8 = xray::link::encode(title);
    let ext = format.extension();
    format!("attachment; filename=\"{ascii}.{ext}\"; filename*=UTF-8''{utf8}.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `?format=` is an optional string, not an enum: a value `asked` does not know is ignored,
    /// not refused.
    #[test]
    fn the_format_query_is_any_string() {
        let query = nexuma_sdk::schema_of::<Query>();
        assert!(query.get("required").is_none(), "{query}");
        assert_eq!(query["properties"]["format"]["type"], "string");
        assert!(query["properties"]["format"].get("enum").is_none());
        assert_eq!(Format::parse("Sing-Box"), Some(Format::Singbox));
        assert_eq!(Format::parse("nonsense"), None);
    }

    #[test]
    fn the_browser_page_has_the_sdks_content_type() {
        assert_eq!(Format::Browser.content_type(), html::CONTENT_TYPE);
    }

    #[test]
    fn varies_on_the_headers_the_rules_read_and_the_sing_box_version() {
        let rules = rules::defaults();
        assert_eq!(
            varies_on(true, Format::V2ray, &rules),
            ["accept", "user-agent"]
        );
        assert_eq!(
            varies_on(true, Format::Singbox, &rules),
            ["accept", "user-agent"]
        );
        assert!(varies_on(false, Format::Clash, &rules).is_empty());
        assert!(varies_on(false, Format::Browser, &rules).is_empty());
        assert_eq!(varies_on(false, Format::Singbox, &rules), ["user-agent"]);
        assert!(varies_on(true, Format::V2ray, &[]).is_empty());
    }

    /// Every format's answer is documented under the media type it is served with, and the
    /// formats are the ones rules name.
    #[test]
    fn each_format_is_documented_in_its_media_type() {
        let doc = documented(Route::new("GET", "/sub/:uuid"))
            .route_doc()
            .expect("a doc");
        let op: serde_json::Value = serde_json::from_str(&doc.operation).expect("JSON");
        let content = op["responses"]["200"]["content"]
            .as_object()
            .expect("content");
        for format in Format::ALL {
            let served = format.content_type();
            assert!(
                content.keys().any(|k| served.starts_with(k.as_str())),
                "{served} is not documented"
            );
        }
        assert_eq!(content.len(), Format::ALL.len());
        let names: Vec<String> = Format::ALL
            .iter()
            .map(|f| {
                serde_json::to_value(f)
                    .expect("name")
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert_eq!(names.join(", "), format_rules::NAMES);
        assert_eq!(op["parameters"][0]["schema"]["format"], "uuid");
        assert_eq!(
            op["responses"]["200"]["headers"]["subscription-userinfo"]["required"],
            true
        );
    }
}
