//! Reading list routes' query parameters into their query types (each route declares its type
//! with `Route::query_type`, so the document names what the handler reads).

use nexuma_sdk::Request;

/// The parameter `name`; empty is as absent.
pub fn filter(req: &Request, name: &str) -> Option<String> {
    req.query(name)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}
