//! What subscription responses say about themselves (`GET/PATCH /admin/subscription-settings`):
//! the profile title, the update interval, the support and web page addresses.

use nexuma_sdk::db::{Executor, Pool};
use nexuma_sdk::pattern::NOT_BLANK;
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, db, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

const SETTING: &str = xray::SUBSCRIPTION_SETTINGS;
const TITLE_MAX: usize = 100;
const INTERVAL_MIN_HOURS: u32 = 1;
const INTERVAL_MAX_HOURS: u32 = 720;
/// In bytes, as `http_url` counts (the schema's `maxLength` counts characters: equal for ASCII).
const URL_MAX: usize = 500;
/// An address `http_url` takes: http(s), no control characters.
const URL_PATTERN: &str = r"^https?://[^\u0000-\u001f\u007f-\u009f]*$";
/// The same, or empty (which clears it).
const URL_OR_EMPTY: &str = r"^(https?://[^\u0000-\u001f\u007f-\u009f]*)?$";

/// The settings as stored and answered (their JSON Schema is derived from this type).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// `profile-title` and the file name clients name the profile after.
    #[schemars(length(min = 1, max = TITLE_MAX), regex(pattern = NOT_BLANK))]
    pub profile_title: String,
    /// `profile-update-interval`, in hours.
    #[schemars(range(min = INTERVAL_MIN_HOURS, max = INTERVAL_MAX_HOURS))]
    pub update_interval_hours: u32,
    /// `support-url` (sent only when set).
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    pub support_url: Option<String>,
    /// `profile-web-page-url`; when unset, the subscription's own `/info` address.
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    pub web_page_url: Option<String>,
    /// How long exports keep a node whose agent went silent, past the 60 s after which it counts
    /// as down: a short heartbeat gap then does not change every client's config.
    #[serde(default = "default_grace")]
    #[schemars(range(max = GRACE_MAX_SECONDS))]
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
                || v.len() > URL_MAX
                || v.chars().any(char::is_control) =>
        {
            Err(ApiError::validation(
                field,
                format!("must be an http(s) URL of at most {URL_MAX} characters"),
            ))
        }
        _ => Ok(()),
    }
}

pub fn get(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool)?)
}

/// `PATCH /admin/subscription-settings`: absent or null leaves a field as it is, except the
/// addresses, which null or an empty string clears (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// Trimmed, without control characters.
    #[schemars(length(min = 1, max = TITLE_MAX), regex(pattern = NOT_BLANK))]
    profile_title: Option<String>,
    #[schemars(range(min = INTERVAL_MIN_HOURS, max = INTERVAL_MAX_HOURS))]
    update_interval_hours: Option<u32>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<String>", length(max = URL_MAX), regex(pattern = URL_OR_EMPTY))]
    support_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<String>", length(max = URL_MAX), regex(pattern = URL_OR_EMPTY))]
    web_page_url: Option<Option<String>>,
    #[schemars(range(max = GRACE_MAX_SECONDS))]
    silent_node_grace_seconds: Option<u32>,
}

/// `PATCH /admin/subscription-settings`: the fields sent, the whole settings checked, written
/// with an audit row, and exports rebuilt.
pub fn patch(req: &Request) -> Result<Response, ApiError> {
    let body: Patch = req.json()?;
    let before = load(&Pool)?;
    let mut s = before.clone();
    body.apply(&mut s);
    s.check()?;
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

impl Patch {
    /// The fields sent, onto `s`: text trimmed, a blank URL as none.
    fn apply(self, s: &mut Settings) {
        if let Some(v) = self.profile_title {
            s.profile_title = v.trim().to_string();
        }
        if let Some(v) = self.update_interval_hours {
            s.update_interval_hours = v;
        }
        if let Some(v) = self.support_url {
            s.support_url = v.filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = self.web_page_url {
            s.web_page_url = v.filter(|v| !v.trim().is_empty());
        }
        if let Some(v) = self.silent_node_grace_seconds {
            s.silent_node_grace_seconds = v;
        }
    }
}

impl Settings {
    /// Every field within its bounds (400 naming the first that is not).
    fn check(&self) -> Result<(), ApiError> {
        if self.profile_title.is_empty()
            || self.profile_title.chars().count() > TITLE_MAX
            || self.profile_title.chars().any(char::is_control)
        {
            return Err(ApiError::validation(
                "profileTitle",
                format!("must be 1 to {TITLE_MAX} characters"),
            ));
        }
        if !(INTERVAL_MIN_HOURS..=INTERVAL_MAX_HOURS).contains(&self.update_interval_hours) {
            return Err(ApiError::validation(
                "updateIntervalHours",
                format!("must be from {INTERVAL_MIN_HOURS} to {INTERVAL_MAX_HOURS}"),
            ));
        }
        if self.silent_node_grace_seconds > GRACE_MAX_SECONDS {
            return Err(ApiError::validation(
                "silentNodeGraceSeconds",
                format!("must be from 0 to {GRACE_MAX_SECONDS}"),
            ));
        }
        http_url("supportUrl", &self.support_url)?;
        http_url("webPageUrl", &self.web_page_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The schemas' bounds are the checks' constants; the address pattern takes what `http_url`
    /// takes (and, in a patch, the empty string that clears it); `null` clears an address.
    #[test]
    fn the_schemas_say_what_the_checks_take() {
        let patch = nexuma_sdk::schema_of::<Patch>();
        assert!(patch.get("required").is_none(), "{patch}");
        assert_eq!(patch["additionalProperties"], false);
        let title = &patch["properties"]["profileTitle"];
        assert_eq!(
            (&title["minLength"], &title["maxLength"]),
            (&json!(1), &json!(TITLE_MAX))
        );
        assert_eq!(title["pattern"], NOT_BLANK);
        let hours = &patch["properties"]["updateIntervalHours"];
        assert_eq!(
            (&hours["minimum"], &hours["maximum"]),
            (&json!(INTERVAL_MIN_HOURS), &json!(INTERVAL_MAX_HOURS))
        );
        let grace = &patch["properties"]["silentNodeGraceSeconds"];
        assert_eq!(grace["maximum"], GRACE_MAX_SECONDS);
        let support = &patch["properties"]["supportUrl"];
        assert_eq!(support["type"], json!(["string", "null"]));
        let cleared: Patch = serde_json::from_value(json!({ "supportUrl": null })).expect("null");
        assert_eq!(cleared.support_url, Some(None));

        let answer = nexuma_sdk::answer_schema_of::<Settings>();
        assert_eq!(answer["required"].as_array().map(Vec::len), Some(5));
        let pattern = answer["properties"]["webPageUrl"]["pattern"].as_str();
        let stored = regex_lite::Regex::new(pattern.expect("pattern")).expect("regex");
        let patched = regex_lite::Regex::new(URL_OR_EMPTY).expect("regex");
        for (url, taken) in [
            ("https://help.example", true),
            ("http://x/y?z=1", true),
            ("ftp://x", false),
            ("HTTPS://x", false),
            ("https://x\ny", false),
            ("https://x\u{85}", false),
            ("x", false),
        ] {
            let checked = http_url("url", &Some(url.to_string())).is_ok();
            assert_eq!(checked, taken, "{url:?}");
            assert_eq!(stored.is_match(url), taken, "{url:?}");
            assert_eq!(patched.is_match(url), taken, "{url:?}");
        }
        assert!(patched.is_match("") && !stored.is_match(""));
    }
}
