//! The operator's routes: the outbox (`GET /admin/notifications`) and the texts
//! (`/admin/notifications/templates*`).

use nexuma_sdk::db::{self, Pool, Row, Value};
use nexuma_sdk::notify::{self, Audience, Kind, KINDS};
use nexuma_sdk::record;
use nexuma_sdk::{clock, response, ApiError, Paging, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::template;

pub const STATES: [&str; 4] = ["pending", "sending", "sent", "failed"];

/// One message of the outbox as the API answers it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    id: i64,
    user_id: String,
    kind: String,
    /// The values of the text's placeholders (the SDK's writers store an object of strings).
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    params: serde_json::Value,
    #[schemars(extend("enum" = STATES))]
    state: String,
    attempts: i64,
    /// Epoch milliseconds.
    next_attempt_at: i64,
    /// Epoch milliseconds; null unless a sender holds it.
    claimed_at: Option<i64>,
    last_error: Option<String>,
    /// Epoch milliseconds.
    created_at: i64,
    /// Epoch milliseconds; null until sent.
    sent_at: Option<i64>,
}

impl Notification {
    fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(Notification {
            id: row.i64("id")?,
            user_id: row.string("user_id")?,
            kind: row.string("kind")?,
            params: serde_json::from_str(row.str("params")?).unwrap_or_default(),
            state: row.string("state")?,
            attempts: row.i64("attempts")?,
            next_attempt_at: row.i64("next_attempt_at")?,
            claimed_at: row.opt_i64("claimed_at")?,
            last_error: row.opt_string("last_error")?,
            created_at: row.i64("created_at")?,
            sent_at: row.opt_i64("sent_at")?,
        })
    }
}

/// The outbox list's query.
#[derive(JsonSchema)]
pub struct ListQuery<'a> {
    #[serde(flatten)]
    paging: Paging,
    /// Only messages in this state (blank: any).
    #[schemars(extend("enum" = [&STATES[..], &[""]].concat()))]
    state: Option<&'a str>,
}

impl<'a> ListQuery<'a> {
    /// Paging, and `state` (blank: any) one of [`STATES`], else 400 naming it.
    fn read(req: &'a Request) -> Result<Self, ApiError> {
        let paging = req.paging_query()?;
        let state = req.query("state").map(str::trim).filter(|s| !s.is_empty());
        if let Some(state) = state.filter(|s| !STATES.contains(s)) {
            return Err(ApiError::validation(
                "state",
                format!("{state:?} is not one of {}", STATES.join(", ")),
            ));
        }
        Ok(ListQuery { paging, state })
    }
}

/// `GET /admin/notifications?state&limit&offset`, newest first.
pub fn list(req: &Request) -> Result<Response, ApiError> {
    let ListQuery {
        paging: Paging { limit, offset },
        state,
    } = ListQuery::read(req)?;
    let (filter, mut params): (&str, Vec<Value>) = match state {
        Some(state) => ("WHERE state = $1", vec![state.into()]),
        None => ("", Vec::new()),
    };
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM notifications {filter}"),
        &params,
    )?;
    let n = params.len();
    params.extend([limit.into(), offset.into()]);
    let rows = db::query(
        &format!(
            "SELECT id, user_id, kind, params, state, attempts, next_attempt_at, claimed_at, \
             last_error, created_at, sent_at FROM notifications {filter} \
             ORDER BY created_at DESC, id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        &params,
    )?;
    let items = rows
        .iter()
        .map(Notification::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// A kind's text as the API answers it.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    #[schemars(extend("enum" = kind_names()))]
    kind: &'static str,
    /// Who receives it.
    #[schemars(extend("enum" = [Audience::User.name(), Audience::Admins.name()]))]
    audience: &'static str,
    /// The `{name}`s its text may use.
    placeholders: &'static [&'static str],
    text: String,
    default_text: &'static str,
    /// Whether the operator's text replaces the default.
    custom: bool,
    /// Epoch milliseconds of the operator's text; null for the default.
    updated_at: Option<i64>,
}

/// Every kind's text.
#[derive(Serialize, JsonSchema)]
pub struct Templates {
    items: Vec<TemplateView>,
}

fn view(kind: &'static Kind) -> Result<TemplateView, ApiError> {
    let custom = template::custom(&Pool, kind.name)?;
    Ok(TemplateView {
        kind: kind.name,
        audience: kind.audience.name(),
        placeholders: kind.placeholders,
        custom: custom.is_some(),
        updated_at: custom.as_ref().map(|(_, at)| *at),
        text: custom
            .map(|(text, _)| text)
            .unwrap_or_else(|| kind.default_text.to_string()),
        default_text: kind.default_text,
    })
}

/// `GET /admin/notifications/templates`: every kind with its text.
pub fn templates(_req: &Request) -> Result<Response, ApiError> {
    let items = KINDS.iter().map(view).collect::<Result<Vec<_>, _>>()?;
    response::json(200, &Templates { items })
}

fn kind_of(req: &Request) -> Result<&'static Kind, ApiError> {
    let name = req.param("kind")?;
    notify::kind(name).ok_or_else(|| {
        let known: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
        ApiError::not_found(
            "unknown_kind",
            format!(
                "no notification kind {name:?}; the kinds are {}",
                known.join(", ")
            ),
        )
    })
}

/// An operator's text ([`template::validate`] checks the bounds and the placeholders).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Plain text, not blank; `{name}` placeholders must be ones the kind has.
    #[schemars(length(min = 1, max = template::TEXT_MAX), regex(pattern = r"\S"))]
    text: String,
}

/// `PUT /admin/notifications/templates/:kind`: the operator's text for a kind.
pub fn put_template(req: &Request) -> Result<Response, ApiError> {
    let kind = kind_of(req)?;
    let body: TemplateBody = req.json()?;
    template::validate(kind, &body.text)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = template::current(&tx, kind)?;
    tx.execute(
        "INSERT INTO notification_templates (kind, text, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (kind) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at",
        &[kind.name.into(), body.text.as_str().into(), now.into()],
    )?;
    audit(
        &tx,
        req,
        kind,
        "notification_template.update",
        before,
        &body.text,
        now,
    )?;
    tx.commit()?;
    response::json(200, &view(kind)?)
}

/// `DELETE /admin/notifications/templates/:kind`: back to the built-in text.
pub fn reset_template(req: &Request) -> Result<Response, ApiError> {
    let kind = kind_of(req)?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = template::current(&tx, kind)?;
    let removed = tx.execute(
        "DELETE FROM notification_templates WHERE kind = $1",
        &[kind.name.into()],
    )?;
    if removed > 0 {
        audit(
            &tx,
            req,
            kind,
            "notification_template.reset",
            before,
            kind.default_text,
            now,
        )?;
    }
    tx.commit()?;
    response::json(200, &view(kind)?)
}

fn audit(
    tx: &db::Transaction,
    req: &Request,
    kind: &Kind,
    action: &str,
    before: String,
    after: &str,
    now: i64,
) -> Result<(), ApiError> {
    record::audit_request(
        tx,
        req,
        "notification_template",
        action,
        kind.name,
        Some(serde_json::json!({ "text": before })),
        Some(serde_json::json!({ "text": after })),
        now,
    )
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use nexuma_sdk::{answer_schema_of, query_schema_of, schema_of, MAX_LIMIT};
    use serde_json::json;

    fn request(query: &[(&str, &str)]) -> Request {
        Request::with_query(query)
    }

    /// The query's schema says what `ListQuery::read` takes: every state it lists, the paging
    /// bounds, nothing required.
    #[test]
    fn the_list_query_says_what_the_handler_reads() {
        let query = query_schema_of::<ListQuery>();
        assert!(query["required"].as_array().is_none_or(Vec::is_empty));
        let states = json!([&STATES[..], &[""]].concat());
        assert_eq!(query["properties"]["state"]["enum"], states);
        assert!(ListQuery::read(&request(&[("state", "")])).is_ok_and(|q| q.state.is_none()));
        assert_eq!(query["properties"]["state"]["type"], "string");
        assert_eq!(query["properties"]["limit"]["maximum"], json!(MAX_LIMIT));
        for state in STATES {
            let req = request(&[("state", state), ("limit", &MAX_LIMIT.to_string())]);
            let read = ListQuery::read(&req);
            assert!(read.is_ok_and(|q| q.state == Some(state) && q.paging.limit == MAX_LIMIT));
        }
        let err = ListQuery::read(&request(&[("state", "queued")])).err();
        assert_eq!(err.and_then(|e| e.field).as_deref(), Some("state"));
    }

    #[test]
    fn the_answers_say_what_is_always_there_and_what_may_be_null() {
        let item = answer_schema_of::<Notification>();
        assert_eq!(item["required"].as_array().map(Vec::len), Some(11));
        assert_eq!(item["properties"]["state"]["enum"], json!(STATES));
        assert_eq!(
            item["properties"]["sentAt"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(item["properties"]["params"]["type"], "object");

        let view = answer_schema_of::<TemplateView>();
        assert_eq!(view["required"].as_array().map(Vec::len), Some(7));
        assert_eq!(view["properties"]["kind"]["enum"], json!(kind_names()));
        assert_eq!(
            view["properties"]["updatedAt"]["type"],
            json!(["integer", "null"])
        );
        let audiences = &view["properties"]["audience"]["enum"];
        for kind in KINDS {
            let listed = audiences
                .as_array()
                .is_some_and(|a| a.contains(&json!(kind.audience.name())));
            assert!(listed, "{}'s audience is in {audiences}", kind.name);
        }
        let list = answer_schema_of::<Templates>();
        assert_eq!(list["required"], json!(["items"]));
    }

    #[test]
    fn the_template_body_is_the_text_alone() {
        let body = schema_of::<TemplateBody>();
        assert_eq!(body["required"], json!(["text"]));
        assert_eq!(body["additionalProperties"], json!(false));
        let text = &body["properties"]["text"];
        assert_eq!(text["maxLength"], json!(template::TEXT_MAX));
        assert_eq!(text["minLength"], json!(1));
        assert!(serde_json::from_value::<TemplateBody>(json!({ "text": "Hi" })).is_ok());
        let extra = json!({ "text": "Hi", "kind": "x" });
        assert!(serde_json::from_value::<TemplateBody>(extra).is_err());
        let kind = &KINDS[0];
        assert!(template::validate(kind, &"a".repeat(template::TEXT_MAX)).is_ok());
        assert!(template::validate(kind, &"a".repeat(template::TEXT_MAX + 1)).is_err());
        assert!(
            template::validate(kind, " \n").is_err(),
            "blank: the pattern refuses it"
        );
    }
}
