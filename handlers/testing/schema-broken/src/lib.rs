//! `schema-broken`: a build of the `schema` test component whose step 2 fails after its first
//! statement (see schema's lib.rs): activating it must leave no trace of the step.

const VERSION: &str = "broken";

fn steps() -> Vec<Migration> {
    vec![
        Migration::portable(1, "create test_notes", NOTES),
        Migration::portable(
            2,
            "create test_tags, then fail",
            "CREATE TABLE test_tags (name TEXT PRIMARY KEY); \
             INSERT INTO no_such_table (name) VALUES ('x')",
        ),
    ]
}

fn extra() -> Result<i64, ApiError> {
    Ok(-1)
}

include!("../../schema/src/component.rs");
