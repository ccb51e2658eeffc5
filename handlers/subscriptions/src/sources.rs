//! External subscription sources (`/admin/external-subscriptions`): subscriptions of other
//! providers whose entries are appended to the exports of users whose tariff names them. A job
//! fetches each on its interval through the host's outbound HTTP; a source that fails keeps its
//! last good entries.

use nexuma_sdk::db::{Executor, Pool, Row, Value};
use nexuma_sdk::record;
use nexuma_sdk::{clock, db, http, id, log, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xray::link::Entries;
use xray::Connection;

const COLUMNS: &str = "id, name, url, enabled, interval_minutes, entries, entries_count, \
     last_fetched_at, last_ok_at, last_error, created_at, updated_at";
const FETCH_TIMEOUT_MS: u32 = 10_000;
const MAX_ENTRIES: usize = 1000;
/// Sources fetched per job tick at most.
const PER_TICK: i64 = 10;
const NAME_MAX: usize = 100;
/// In bytes, as `validate` counts (the schema's `maxLength` counts characters: equal for ASCII).
const URL_MAX: usize = 2000;
/// An address `validate` takes (once trimmed): http(s), no spaces or control characters.
const URL_PATTERN: &str = r"^https?://[^ \u0000-\u001f\u007f-\u009f]*$";
const INTERVAL_MIN: i64 = 5;
/// A week.
const INTERVAL_MAX: i64 = 10_080;
const DEFAULT_INTERVAL: i64 = 60;

/// A source as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, Clone, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    #[schemars(extend("format" = "uuid"))]
    id: String,
    #[schemars(length(min = 1, max = NAME_MAX))]
    name: String,
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    url: String,
    enabled: bool,
    #[schemars(range(min = INTERVAL_MIN, max = INTERVAL_MAX))]
    interval_minutes: i64,
    #[serde(skip)]
    entries: Vec<String>,
    /// Share links held from the last good fetch.
    #[schemars(range(min = 0))]
    entries_count: i64,
    /// Epoch milliseconds; null: not fetched yet.
    last_fetched_at: Option<i64>,
    /// Epoch milliseconds of the last good fetch.
    last_ok_at: Option<i64>,
    /// Why the last fetch failed; null when it did not.
    last_error: Option<String>,
    /// Epoch milliseconds.
    created_at: i64,
    /// Epoch milliseconds.
    updated_at: i64,
}

impl Source {
    fn from_row(row: Row<'_>) -> Result<Source, ApiError> {
        Ok(Source {
            id: row.string("id")?,
            name: row.string("name")?,
            url: row.string("url")?,
            enabled: row.bool("enabled")?,
            interval_minutes: row.i64("interval_minutes")?,
            entries: serde_json::from_str(row.str("entries")?).unwrap_or_default(),
            entries_count: row.i64("entries_count")?,
            last_fetched_at: row.opt_i64("last_fetched_at")?,
            last_ok_at: row.opt_i64("last_ok_at")?,
            last_error: row.opt_string("last_error")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    fn validate(&mut self) -> Result<(), ApiError> {
        self.name = self.name.trim().to_string();
        if self.name.is_empty() || self.name.chars().count() > NAME_MAX {
            return Err(ApiError::validation(
                "name",
                format!("must be 1 to {NAME_MAX} characters"),
            ));
        }
        self.url = self.url.trim().to_string();
        let scheme_ok = self.url.starts_with("https://") || self.url.starts_with("http://");
        if !scheme_ok
            || self.url.len() > URL_MAX
            || self.url.chars().any(|c| c.is_control() || c == ' ')
        {
            return Err(ApiError::validation("url", "must be an http(s) URL"));
        }
        if !(INTERVAL_MIN..=INTERVAL_MAX).contains(&self.interval_minutes) {
            return Err(ApiError::validation(
                "intervalMinutes",
                format!("must be from {INTERVAL_MIN} to {INTERVAL_MAX} (a week)"),
            ));
        }
        Ok(())
    }
}

fn load(db: &impl Executor, id: &str) -> Result<Source, ApiError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM external_subscriptions WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(Source::from_row)
    .transpose()?
    .ok_or_else(|| {
        ApiError::not_found(
            "source_not_found",
            format!("no external subscription with id {id}"),
        )
    })
}

/// Placeholders `$1, …, $n` with their values.
fn in_list(values: &[String]) -> (String, Vec<Value>) {
    let marks: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
    (marks.join(", "), values.iter().map(Into::into).collect())
}

/// The entries of these (enabled) sources as connections, in the order given.
pub fn entries(db: &impl Executor, ids: &[String]) -> Result<Vec<Connection>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (marks, params) = in_list(ids);
    let rows = db.query(
        &format!(
            "SELECT id, entries FROM external_subscriptions WHERE enabled = TRUE AND id IN ({marks})"
        ),
        &params,
    )?;
    let mut out = Vec::new();
    for id in ids {
        for row in rows
            .iter()
            .filter(|r| r.str("id").ok() == Some(id.as_str()))
        {
            let links: Vec<String> = serde_json::from_str(row.str("entries")?).unwrap_or_default();
            out.extend(links.iter().filter_map(|l| xray::link::parse(l).ok()));
        }
    }
    Ok(out)
}

/// Fetches `url`: the parsed body, or why not.
fn fetch(url: &str) -> Result<Entries, String> {
    let resp = http::Request::get(url)
        .header("user-agent", "Nexuma/external-subscription")
        .timeout_ms(FETCH_TIMEOUT_MS)
        .try_send()
        .map_err(|e| e.to_string())?;
    if !resp.is_success() {
        return Err(format!("{} answered {}", resp.host, resp.status));
    }
    let parsed = xray::link::read_body(&resp.body, MAX_ENTRIES);
    if parsed.links.is_empty() {
        return Err("the answer holds no share link Nexuma can read".into());
    }
    Ok(parsed)
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM external_subscriptions",
        &[],
    )?;
    let items = db::query(
        &format!(
            "SELECT {COLUMNS} FROM external_subscriptions ORDER BY created_at, id LIMIT $1 OFFSET $2"
        ),
        &[limit.into(), offset.into()],
    )?
    .iter()
    .map(Source::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

/// `GET /admin/external-subscriptions/:id`: the source with its entries (its JSON Schema is
/// derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct Detail {
    #[serde(flatten)]
    source: Source,
    /// The share links held, in the source's order.
    entries: Vec<String>,
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let source = load(&Pool, req.param("id")?)?;
    let entries = source.entries.clone();
    response::json(200, &Detail { source, entries })
}

/// `POST /admin/external-subscriptions`: `name` and `url` are required, `null` for either
/// answers that it is (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Create {
    #[schemars(with = "String", length(min = 1, max = NAME_MAX))]
    name: Option<String>,
    #[schemars(with = "String", length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    url: Option<String>,
    /// Absent or null: true.
    enabled: Option<bool>,
    /// Absent or null: 60.
    #[schemars(range(min = INTERVAL_MIN, max = INTERVAL_MAX))]
    interval_minutes: Option<i64>,
}

/// `PATCH /admin/external-subscriptions/:id`: absent or null leaves a field as it is (its JSON
/// Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    #[schemars(length(min = 1, max = NAME_MAX))]
    name: Option<String>,
    #[schemars(length(max = URL_MAX), regex(pattern = URL_PATTERN))]
    url: Option<String>,
    enabled: Option<bool>,
    #[schemars(range(min = INTERVAL_MIN, max = INTERVAL_MAX))]
    interval_minutes: Option<i64>,
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let body: Create = req.json()?;
    let now = clock::now_ms();
    let mut source = Source {
        id: id::new_v4(),
        name: body
            .name
            .ok_or_else(|| ApiError::validation("name", "is required"))?,
        url: body
            .url
            .ok_or_else(|| ApiError::validation("url", "is required"))?,
        enabled: body.enabled.unwrap_or(true),
        interval_minutes: body.interval_minutes.unwrap_or(DEFAULT_INTERVAL),
        entries: Vec::new(),
        entries_count: 0,
        last_fetched_at: None,
        last_ok_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    source.validate()?;
    let tx = db::begin()?;
    tx.execute(
        "INSERT INTO external_subscriptions (id, name, url, enabled, interval_minutes, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        &[
            source.id.as_str().into(),
            source.name.as_str().into(),
            source.url.as_str().into(),
            source.enabled.into(),
            source.interval_minutes.into(),
            now.into(),
        ],
    )?;
    record::audit_request(
        &tx,
        req,
        "external_subscription",
        "external_subscription.create",
        &source.id,
        None,
        Some(source.json()),
        now,
    )?;
    tx.commit()?;
    response::json(201, &source)
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: Patch = req.json()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE external_subscriptions SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let before = load(&tx, id)?;
    let mut source = before.clone();
    if let Some(v) = body.name {
        source.name = v;
    }
    if let Some(v) = body.url {
        source.url = v;
    }
    if let Some(v) = body.enabled {
        source.enabled = v;
    }
    if let Some(v) = body.interval_minutes {
        source.interval_minutes = v;
    }
    source.validate()?;
    source.updated_at = now;
    // A new address is fetched at the next tick.
    let refetch = source.url != before.url;
    tx.execute(
        "UPDATE external_subscriptions SET name = $2, url = $3, enabled = $4, \
         interval_minutes = $5, updated_at = $6, \
         last_fetched_at = CASE WHEN $7 THEN NULL ELSE last_fetched_at END WHERE id = $1",
        &[
            id.into(),
            source.name.as_str().into(),
            source.url.as_str().into(),
            source.enabled.into(),
            source.interval_minutes.into(),
            now.into(),
            refetch.into(),
        ],
    )?;
    record::audit_request(
        &tx,
        req,
        "external_subscription",
        "external_subscription.update",
        id,
        Some(before.json()),
        Some(source.json()),
        now,
    )?;
    if source.enabled != before.enabled {
        tx.content_changed();
    }
    tx.commit()?;
    response::json(200, &source)
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE external_subscriptions SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let source = load(&tx, id)?;
    let users = tx.query(
        "SELECT name FROM tariffs WHERE external_source_ids LIKE $1",
        &[format!("%\"{id}\"%").into()],
    )?;
    if let Some(tariff) = users.first() {
        return Err(ApiError::conflict(
            "source_in_use",
            format!(
                "tariff {} lists this source; take it off the tariff first",
                tariff.str("name")?
            ),
        ));
    }
    tx.execute(
        "DELETE FROM external_subscriptions WHERE id = $1",
        &[id.into()],
    )?;
    record::audit_request(
        &tx,
        req,
        "external_subscription",
        "external_subscription.delete",
        id,
        Some(source.json()),
        None,
        now,
    )?;
    tx.commit()?;
    response::no_content()
}

/// What a fetch found (nothing is stored): the entries, or why not (its JSON Schema is derived
/// from this type).
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Report {
    Fetched {
        #[schemars(extend("const" = true))]
        ok: bool,
        url: String,
        /// Share links Nexuma can read.
        entries: usize,
        /// How many of them per protocol.
        #[schemars(extend("propertyNames" = { "enum": crate::parse::PROTOCOLS }))]
        protocols: BTreeMap<&'static str, usize>,
        /// The first entries' names.
        #[schemars(length(max = NAMES_SHOWN))]
        names: Vec<String>,
        /// The first lines skipped, and why.
        #[schemars(length(max = xray::link::SKIPPED_SHOWN))]
        skipped: Vec<String>,
    },
    Failed {
        #[schemars(extend("const" = false))]
        ok: bool,
        url: String,
        error: String,
    },
}

/// Names a report shows at most.
const NAMES_SHOWN: usize = 20;

fn report(url: &str, result: Result<Entries, String>) -> Report {
    let url = url.to_string();
    match result {
        Ok(parsed) => {
            let mut protocols = std::collections::BTreeMap::<&str, usize>::new();
            let connections: Vec<Connection> = parsed
                .links
                .iter()
                .filter_map(|l| xray::link::parse(l).ok())
                .collect();
            for c in &connections {
                *protocols.entry(c.protocol.name()).or_default() += 1;
            }
            Report::Fetched {
                ok: true,
                url,
                entries: connections.len(),
                protocols,
                names: connections
                    .iter()
                    .take(NAMES_SHOWN)
                    .map(|c| c.name.clone())
                    .collect(),
                skipped: parsed.skipped,
            }
        }
        Err(error) => Report::Failed {
            ok: false,
            url,
            error,
        },
    }
}

/// `POST /admin/external-subscriptions/:id/test`: fetches the source now and says what it holds
/// (nothing is stored).
pub fn test(req: &Request) -> Result<Response, ApiError> {
    let source = load(&Pool, req.param("id")?)?;
    response::json(200, &report(&source.url, fetch(&source.url)))
}

/// `POST /admin/external-subscriptions/test` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// An http(s) address (surrounding whitespace is trimmed).
    #[schemars(regex(pattern = r"^https?://"))]
    url: String,
}

/// `POST /admin/external-subscriptions/test {url}`: the same for an address not saved yet.
pub fn test_url(req: &Request) -> Result<Response, ApiError> {
    let body: TestBody = req.json()?;
    let url = body.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError::validation("url", "must be an http(s) URL"));
    }
    response::json(200, &report(url, fetch(url)))
}

/// The `sources` job: fetches the sources that are due.
pub fn tick(now: i64) -> Result<(), ApiError> {
    // Never fetched first, then the longest waiting.
    let due = db::query(
        &format!(
            "SELECT {COLUMNS} FROM external_subscriptions WHERE enabled = TRUE AND \
             (last_fetched_at IS NULL OR last_fetched_at + interval_minutes * 60000 <= $1) \
             ORDER BY COALESCE(last_fetched_at, 0), id LIMIT $2"
        ),
        &[now.into(), PER_TICK.into()],
    )?;
    for row in due.iter() {
        // A failure is logged and recorded on the source; the others still run.
        let _ = refresh_one(&Source::from_row(row)?, now)?;
    }
    Ok(())
}

/// Fetches a source and stores what it holds; a failure is recorded and the last good
/// entries stay.
fn refresh_one(source: &Source, now: i64) -> Result<Result<usize, String>, ApiError> {
    match fetch(&source.url) {
        Ok(parsed) => {
            let changed = parsed.links != source.entries;
            db::execute(
                "UPDATE external_subscriptions SET entries = $2, entries_count = $3, \
                 last_fetched_at = $4, last_ok_at = $4, last_error = NULL WHERE id = $1",
                &[
                    source.id.as_str().into(),
                    serde_json::to_string(&parsed.links)
                        .map_err(ApiError::internal)?
                        .into(),
                    (parsed.links.len() as i64).into(),
                    now.into(),
                ],
            )?;
            if changed {
                Pool.content_changed();
            }
            Ok(Ok(parsed.links.len()))
        }
        Err(error) => {
            log::warn(
                "external subscription not fetched; its last entries stay",
                &[("sourceId", &source.id), ("error", &error)],
            );
            db::execute(
                "UPDATE external_subscriptions SET last_fetched_at = $2, last_error = $3 \
                 WHERE id = $1",
                &[source.id.as_str().into(), now.into(), error.as_str().into()],
            )?;
            Ok(Err(error))
        }
    }
}

/// `POST /admin/external-subscriptions/:id/refresh`: fetches now and stores the entries (or
/// records why not, keeping the last good ones).
pub fn refresh(req: &Request) -> Result<Response, ApiError> {
    let source = load(&Pool, req.param("id")?)?;
    let outcome = refresh_one(&source, clock::now_ms())?;
    let body = Refreshed {
        source: load(&Pool, &source.id)?,
        ok: outcome.is_ok(),
        error: outcome.err(),
    };
    response::json(200, &body)
}

/// `POST /admin/external-subscriptions/:id/refresh`: the source as stored now, and whether this
/// fetch went well (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct Refreshed {
    #[serde(flatten)]
    source: Source,
    ok: bool,
    /// Why not, when not `ok` (the last good entries stay).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The derived schemas say what the source routes take and answer: a create requires a name
    /// and an address (never `null`), a patch nothing; the bounds are the checks' constants; the
    /// address pattern takes what `validate` takes; a detail carries the entries.
    #[test]
    fn the_schemas_say_what_sources_take() {
        let create = nexuma_sdk::schema_of::<Create>();
        assert_eq!(create["required"], json!(["name", "url"]));
        assert_eq!(create["additionalProperties"], false);
        assert_eq!(create["properties"]["name"]["type"], "string");
        let interval = &create["properties"]["intervalMinutes"];
        assert_eq!(
            (&interval["minimum"], &interval["maximum"]),
            (&json!(INTERVAL_MIN), &json!(INTERVAL_MAX))
        );
        let missing: Create = serde_json::from_value(json!({ "url": null })).expect("options");
        assert!(
            missing.name.is_none() && missing.url.is_none(),
            "validate says required"
        );
        let patch = nexuma_sdk::schema_of::<Patch>();
        assert!(patch.get("required").is_none(), "{patch}");

        let pattern = create["properties"]["url"]["pattern"]
            .as_str()
            .expect("pattern");
        let pattern = regex_lite::Regex::new(pattern).expect("regex");
        for (url, taken) in [
            ("https://provider.example/sub?token=a", true),
            ("http://x", true),
            ("ftp://x", false),
            ("https://x y", false),
            ("https://x\ty", false),
        ] {
            let mut source = Source {
                id: String::new(),
                name: "n".into(),
                url: url.into(),
                enabled: true,
                interval_minutes: DEFAULT_INTERVAL,
                entries: Vec::new(),
                entries_count: 0,
                last_fetched_at: None,
                last_ok_at: None,
                last_error: None,
                created_at: 0,
                updated_at: 0,
            };
            assert_eq!(source.validate().is_ok(), taken, "{url:?}");
            assert_eq!(pattern.is_match(url), taken, "{url:?}");
        }

        let source = nexuma_sdk::answer_schema_of::<Source>();
        let required = source["required"].as_array().map(Vec::len);
        assert_eq!(required, Some(11), "every field but the entries: {source}");
        let detail = nexuma_sdk::answer_schema_of::<Detail>();
        assert_eq!(detail["properties"]["entries"]["type"], "array");
        assert_eq!(
            detail["properties"]["lastError"]["type"],
            json!(["string", "null"])
        );
    }

    /// A report is one of two shapes, told apart by `ok`.
    #[test]
    fn a_report_says_ok_or_why_not() {
        let failed = report("https://x", Err("down".into()));
        let failed = serde_json::to_value(failed).expect("report");
        assert_eq!(
            failed,
            json!({ "ok": false, "url": "https://x", "error": "down" })
        );
        let schema = nexuma_sdk::answer_schema_of::<Report>();
        let shapes: Vec<&Value> = schema["anyOf"].as_array().into_iter().flatten().collect();
        let oks: Vec<&Value> = shapes
            .iter()
            .map(|s| &s["properties"]["ok"]["const"])
            .collect();
        assert_eq!(oks, [&json!(true), &json!(false)], "{schema}");
        assert!(shapes[1]["required"].to_string().contains("error"));
    }
}
