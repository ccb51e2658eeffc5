//! Identifiers. Ids are random UUID v4 text; the randomness comes from `wasi:random`, which the
//! host links.

/// A UUID as a type, for schemas: `Route::param::<id::Uuid>("id", "…")` documents `format: uuid`.
pub use uuid::Uuid;

/// A new random UUID v4 in its hyphenated lower-case form.
pub fn new_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether `s` is a UUID in any of its standard text forms (useful to reject a bad path id early).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}
