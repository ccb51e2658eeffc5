//! What subscription responses say about themselves (`GET/PATCH /admin/subscription-settings`):
//! the profile title, the update interval, the support and web page addresses.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, db, log, response, ApiError, Request, Response};
use serde::{Deserialize, Serialize};

const SETTING: &str = xray::SUBSCRIPTION_SETTINGS;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// `profile-title` and the file name clients name the profile after.
    pub profile_title: String,
    /// `profile-update-interval`, in hours.
    pub update_interval_hours: u32,
    /// `support-url` (sent only when set).
    pub support_url: Option<String>,
    /// `profile-web-page-url`; when unset, the subscription's own `/info` address.
    pub web_page_url: Option<String>,
    /// How long exports keep a node whose agent went silent, past the 60 s after which it counts
    /// as down: a short heartbeat gap then does not change every client's config.
    #[serde(default = "default_grace")]
    pub silent_node_grace_seconds: u32,
}

/// The grace period for silent nodes, by default (settings stored before it existed get it too).
const DEFAULT_GRACE_SECONDS: u32 = xray::SILENT_NODE_GRACE_SECONDS;
const GRACE_MAX_SECONDS: u32 = 86_400;

fn default_grace() -> u32 {
    DEFAULT_GRACE_SECONDS
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile_title: "Nexuma".into(),
            update_interval_hours: 12,
            support_url: None,
            web_page_url: None,
            silent_node_grace_seconds: DEFAULT_GRACE_SECONDS,
        }
    }
}

pub fn load(db: &impl Executor) -> Result<Settings, ApiError> {
    let rows = db.query(
        "SELECT value FROM settings WHERE key = $1",
        &[SETTING.into()],
    )?;
    let Some(raw) = rows.first().map(|r| r.string("value")).transpose()? else {
        return Ok(Settings::default());
    };
    Ok(serde_json::from_str(&raw).unwrap_or_else(|e| {
        log::warn(
            "subscription settings unreadable; using the defaults",
            &[("error", &e.to_string())],
        );
        Settings::default()
    }))
}

fn http_url(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    match value {
        Some(v)
            if !(v.starts_with("https://") || v.starts_with("http://"))
                || v.len() > 500
                || v.chars().any(char::is_control) =>
        {
            Err(ApiError::validation(
                field,
                "must be an http(s) URL of at most 500 characters",
            ))
        }
        _ => Ok(()),
    }
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool)?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Patch {
    profile_title: Option<String>,
    update_interval_hours: Option<u32>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    support_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    web_page_url: Option<Option<String>>,
    silent_node_grace_seconds: Option<u32>,
}

pub fn patch(req: &Request) -> Result<Response, ApiError> {
    let body: Patch = req.json()?;
    let before = load(&Pool)?;
    let mut s = before.clone();
    if let Some(v) = body.profile_title {
        s.profile_title = v.trim().to_string();
    }
    if let Some(v) = body.update_interval_hours {
        s.update_interval_hours = v;
    }
    if let Some(v) = body.support_url {
        s.support_url = v.filter(|v| !v.trim().is_empty());
    }
    if let Some(v) = body.web_page_url {
        s.web_page_url = v.filter(|v| !v.trim().is_empty());
    }
    if let Some(v) = body.silent_node_grace_seconds {
        s.silent_node_grace_seconds = v;
    }
    if s.profile_title.is_empty()
        || s.profile_title.chars().count() > 100
        || s.profile_title.chars().any(char::is_control)
    {
        return Err(ApiError::validation(
            "profileTitle",
            "must be 1 to 100 characters",
        ));
    }
    if !(1..=720).contains(&s.update_interval_hours) {
        return Err(ApiError::validation(
            "updateIntervalHours",
            "must be from 1 to 720",
        ));
    }
    if s.silent_node_grace_seconds > GRACE_MAX_SECONDS {
        return Err(ApiError::validation(
            "silentNodeGraceSeconds",
            format!("must be from 0 to {GRACE_MAX_SECONDS}"),
        ));
    }
    http_url("supportUrl", &s.support_url)?;
    http_url("webPageUrl", &s.web_page_url)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    db::set_setting(
        &tx,
        SETTING,
        &serde_json::to_string(&s).map_err(ApiError::internal)?,
        now,
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "subscription_settings.update",
            target_type: "settings",
            target_id: SETTING,
            before: serde_json::to_value(&before).ok(),
            after: serde_json::to_value(&s).ok(),
        },
        now,
    )?;
    tx.content_changed();
    tx.commit()?;
    response::json(200, &s)
}
