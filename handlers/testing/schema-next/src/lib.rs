//! `schema-next`: the second build of the `schema` test component (see its lib.rs). Its step 2
//! creates `test_tags`, which its answer reads: it cannot serve unless the step ran.

const VERSION: &str = "2";

fn steps() -> Vec<Migration> {
    vec![
        Migration::portable(1, "create test_notes", NOTES),
        Migration::per_backend(
            2,
            "create test_tags",
            "CREATE TABLE test_tags (name TEXT PRIMARY KEY); \
             INSERT INTO test_tags (name) VALUES ('postgres')",
            "CREATE TABLE test_tags (name TEXT PRIMARY KEY); \
             INSERT INTO test_tags (name) VALUES ('sqlite')",
        ),
    ]
}

/// The number of tags: reads the table step 2 made.
fn extra() -> Result<i64, ApiError> {
    db::count(
        &db::Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM test_tags",
        &[],
    )
}

include!("../../schema/src/component.rs");
