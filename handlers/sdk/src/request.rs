//! Helpers on the request record the host hands to `handle`.

use serde::de::DeserializeOwned;

use crate::{ApiError, Caller, Request};

/// Default page size of list routes (`?limit=`).
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page size a list route accepts.
pub const MAX_LIMIT: i64 = 200;

/// The query of a paged list route, as [`Request::paging`] reads it: declare it with
/// `Route::query_type::<Paging>()`, or `#[serde(flatten)]` it into a route's own query type.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    /// Items per page.
    #[serde(default = "default_limit")]
    #[schemars(range(min = 1, max = MAX_LIMIT))]
    pub limit: i64,
    /// Items to skip from the start of the list.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub offset: i64,
}

fn default_limit() -> i64 {
    DEFAULT_LIMIT
}

impl Request {
    /// A query-string integer in `min..=max`; empty or absent gives `default`. Out of range or
    /// not a number: 400 naming the parameter.
    pub fn int_query(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.query(name).map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    let range = if max == i64::MAX {
                        format!("must be an integer of at least {min}")
                    } else {
                        format!("must be an integer from {min} to {max}")
                    };
                    ApiError::validation(name, range)
                }),
        }
    }

    /// A bare `GET` carrying only `query`: for unit tests of the code that reads a query.
    pub fn with_query(query: &[(&str, &str)]) -> Request {
        Request {
            request_id: String::new(),
            method: "GET".into(),
            route: String::new(),
            path: String::new(),
            params: Vec::new(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: Vec::new(),
            body: Vec::new(),
            caller: None,
            remote_addr: String::new(),
        }
    }

    /// `limit` (1..=`MAX_LIMIT`, default `DEFAULT_LIMIT`) and `offset` (≥ 0) of a paged list.
    pub fn paging(&self) -> Result<(i64, i64), ApiError> {
        let Paging { limit, offset } = self.paging_query()?;
        Ok((limit, offset))
    }

    /// The same, as the [`Paging`] a query type flattens in.
    pub fn paging_query(&self) -> Result<Paging, ApiError> {
        Ok(Paging {
            limit: self.int_query("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
            offset: self.int_query("offset", 0, 0, i64::MAX)?,
        })
    }

    /// A `:name` segment of the matched route. The host always fills the pattern's parameters,
    /// so a missing one is a mismatch between code and route table: 500.
    pub fn param(&self, name: &str) -> Result<&str, ApiError> {
        pair_value(&self.params, name).ok_or_else(|| {
            ApiError::internal(format!("route {} has no parameter `{name}`", self.route))
        })
    }

    /// The first query-string value named `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        pair_value(&self.query, name)
    }

    /// Every query-string value named `name`, in order.
    pub fn query_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A request header (names are matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The authenticated caller. The host sets it on every non-public route; on a public route it
    /// is absent, which answers 401.
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("unauthorized", "authentication required"))
    }

    /// Parses the body as a JSON object into `T`.
    ///
    /// Malformed JSON is 400 `invalid_json`; a missing field or a value of the wrong type is 400
    /// `validation_error` whose message (and `field`) names the field, e.g.
    /// `email: missing field `email``.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json_object(&self.body)
    }

    /// The error for a `(method, route)` that `handle` does not know: 404 `route_not_found`.
    pub fn unhandled(&self) -> ApiError {
        ApiError::not_found(
            "route_not_found",
            format!("no handler for {} {}", self.method, self.route),
        )
    }
}

/// For `Option<Option<T>>` body fields, with `#[serde(default, deserialize_with =
/// "nexuma_sdk::present")]`: absent → `None`, `null` → `Some(None)`, a value → `Some(Some(v))`
/// — so a PATCH can tell "leave it" from "clear it".
pub fn present<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(de).map(Some)
}

fn pair_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const NOT_AN_OBJECT: &str = "request body must be a JSON object";

fn parse_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    match start.map(|i| body[i]) {
        Some(b'{') => {}
        // Empty, or a JSON value that is not an object: both are the same mistake to the client.
        _ => return Err(ApiError::bad_request("invalid_json", NOT_AN_OBJECT)),
    }

    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        classify(err.into_inner(), &path)
    })?;
    de.end().map_err(|err| classify(err, "."))?;
    Ok(value)
}

fn classify(err: serde_json::Error, path: &str) -> ApiError {
    let message = strip_position(&err.to_string());
    match err.classify() {
        serde_json::error::Category::Data => {
            let field = match missing_field(&message) {
                Some(name) if path == "." => name.to_string(),
                Some(name) => format!("{path}.{name}"),
                None => path.to_string(),
            };
            if field == "." {
                ApiError::bad_request("validation_error", message)
            } else {
                ApiError::validation(field, message)
            }
        }
        _ => ApiError::bad_request("invalid_json", format!("malformed JSON: {message}")),
    }
}

/// serde_json appends " at line X column Y"; that helps nobody reading an API error.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

/// The field name in serde's "missing field `email`".
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        age: Option<u32>,
    }

    fn err(body: &str) -> ApiError {
        match parse_json_object::<Body>(body.as_bytes()) {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_query_is_read_from_a_bare_request() {
        let req = Request::with_query(&[("limit", "7"), ("state", "sent")]);
        assert_eq!(req.paging().ok(), Some((7, 0)));
        assert_eq!(req.query("state"), Some("sent"));
    }

    #[test]
    fn classifies_errors() {
        let e = err("");
        assert_eq!((e.status, e.code.as_str()), (400, "invalid_json"));
        assert_eq!(e.message, NOT_AN_OBJECT);
        assert_eq!(err("[1]").message, NOT_AN_OBJECT);
        let e = err("{\"email\": ");
        assert_eq!(e.code, "invalid_json");
        assert!(!e.message.contains("line"), "{}", e.message);
        let e = err("{}");
        assert_eq!(e.code, "validation_error");
        assert_eq!(e.field.as_deref(), Some("email"));
        assert_eq!(e.message, "email: missing field `email`");
        let e = err("{\"email\": 5}");
        assert_eq!(e.field.as_deref(), Some("email"));
        assert!(
            e.message.starts_with("email: invalid type: integer `5`"),
            "{}",
            e.message
        );
        let e = err("{\"email\": \"a\", \"age\": -1}");
        assert_eq!(e.field.as_deref(), Some("age"));
        assert_eq!(err("{\"email\": \"a\"} x").code, "invalid_json");
        assert!(parse_json_object::<Body>(b" {\"email\": \"a\"} ").is_ok());
    }
}
