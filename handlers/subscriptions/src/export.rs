//! `GET /sub/:uuid` and `GET /sub/:uuid/:format`: the subscription VPN clients poll, the Core's
//! hottest public path.
//!
//! A rendered answer is cached in the key-value store under the content epoch, the link, the
//! format asked for and the User-Agent (which picks the format), so a repeated poll costs two
//! key-value reads and no database work; anything users are shown that changes moves the epoch
//! (`nexuma_sdk::cache`), and entries expire after [`TTL_MS`] anyway (which bounds how old the
//! traffic figures in `subscription-userinfo` can be).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use nexuma_sdk::db::Pool;
use nexuma_sdk::{cache, id, kv, log, settings as core, ApiError, Request, Response};
use sha2::{Digest, Sha256};

use crate::access::{self, LinkView};
use crate::format::{self, Format};
use crate::{rules, settings};

const TTL_MS: u64 = 10 * 60 * 1000;

/// A cached answer: the ETag, the headers, the body.
struct Cached {
    etag: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Cached {
    fn encode(&self) -> String {
        let headers = serde_json::to_string(&self.headers).unwrap_or_else(|_| "[]".into());
        format!("{}\n{headers}\n{}", self.etag, self.body)
    }

    fn decode(raw: &str) -> Option<Cached> {
        let (etag, rest) = raw.split_once('\n')?;
        let (headers, body) = rest.split_once('\n')?;
        Some(Cached {
            etag: etag.to_string(),
            headers: serde_json::from_str(headers).ok()?,
            body: body.to_string(),
        })
    }

    /// 200 with the body, or 304 when the client has this ETag already.
    fn respond(self, req: &Request) -> Response {
        let mut headers = self.headers;
        headers.push(("etag".into(), self.etag.clone()));
        headers.push(("cache-control".into(), "no-cache".into()));
        let fresh = req.header("if-none-match").is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == self.etag)
        });
        if fresh {
            headers.retain(|(k, _)| k != "content-type");
            return Response {
                status: 304,
                headers,
                body: Vec::new(),
            };
        }
        Response {
            status: 200,
            headers,
            body: self.body.into_bytes(),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn not_found() -> ApiError {
    // The same answer for every unknown address: it reveals nothing.
    ApiError::not_found("not_found", "there is no subscription at this address")
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
                format!("`{name}` is not a subscription format ({})", format::NAMES),
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
    let agent = req.header("user-agent").unwrap_or("");
    let epoch = cache::epoch()?;
    let material = format!(
        "{uuid}\0{}\0{agent}",
        forced.map(Format::name).unwrap_or("")
    );
    let key = format!(
        "sub:{epoch}:{}",
        &hex(&Sha256::digest(material.as_bytes()))[..32]
    );
    if let Some(hit) = kv::get(&key)?.as_deref().and_then(Cached::decode) {
        return Ok(hit.respond(req));
    }

    let view = access::by_uuid(&Pool, &uuid)?.ok_or_else(not_found)?;
    let format = match forced {
        Some(f) => f,
        None => rules::pick(&rules::load(&Pool)?, |h| req.header(h).map(str::to_string))
            .unwrap_or(Format::V2ray),
    };
    let answer = render(&view, format)?;
    if let Err(e) = kv::set(&key, &answer.encode(), Some(TTL_MS)) {
        log::warn("subscription not cached", &[("error", &e.message)]);
    }
    Ok(answer.respond(req))
}

/// The answer for a link in a format: its connections (or one entry saying why there are none)
/// and the headers clients read.
fn render(view: &LinkView, format: Format) -> Result<Cached, ApiError> {
    let connections = match view.inactive_reason() {
        None => access::connections(&Pool, view)?,
        Some(reason) => vec![xray::Connection::remark(reason)],
    };
    let body = format.render(&connections);
    let s = settings::load(&Pool)?;
    let base = core::public_url();
    let title = &s.profile_title;
    let mut headers = vec![
        (
            "content-type".to_string(),
            format.content_type().to_string(),
        ),
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
    ];
    if let Some(url) = &s.support_url {
        headers.push(("support-url".into(), url.clone()));
    }
    let etag = format!("\"{}\"", &hex(&Sha256::digest(body.as_bytes()))[..32]);
    Ok(Cached {
        etag,
        headers,
        body,
    })
}

/// `attachment` with an ASCII file name and the UTF-8 one (RFC 6266).
fn disposition(title: &str, format: Format) -> String {
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
