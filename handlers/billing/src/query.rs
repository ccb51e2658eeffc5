//! Reading list routes' query parameters into their query types (each route declares its type
//! with `Route::query_type`, so the document names what the handler reads).

use nexuma_sdk::{ApiError, Paging, Request};
use schemars::Schema;
use serde_json::Value;

/// A query type's schema transform: a parameter is absent or a string, never `null`, so an
/// `Option` field's parameter has its value's type only.
pub fn absent_not_null(schema: &mut Schema) {
    let Some(Value::Object(properties)) = schema.get_mut("properties") else {
        return;
    };
    for property in properties.values_mut() {
        if let Some(Value::Array(types)) = property.get_mut("type") {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                property["type"] = only.clone();
            }
        }
    }
}

/// `limit` and `offset`, as [`Request::paging`] reads and bounds them.
pub fn paging(req: &Request) -> Result<Paging, ApiError> {
    let (limit, offset) = req.paging()?;
    Ok(Paging { limit, offset })
}

/// The parameter `name`; empty is as absent.
pub fn filter(req: &Request, name: &str) -> Option<String> {
    req.query(name)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A request with this query string and nothing else, for the query types' tests.
#[cfg(test)]
pub fn request(query: &[(&str, &str)]) -> Request {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_optional_parameter_is_never_null() {
        let mut schema = Schema::try_from(json!({
            "properties": {
                "a": { "type": ["string", "null"] },
                "b": { "type": ["integer", "null"], "minimum": 0 },
                "c": { "type": "string" }
            }
        }))
        .expect("object");
        absent_not_null(&mut schema);
        assert_eq!(
            schema.get("properties").expect("properties"),
            &json!({
                "a": { "type": "string" },
                "b": { "type": "integer", "minimum": 0 },
                "c": { "type": "string" }
            })
        );
    }
}
