//! `schema`: a test component whose table comes with it (its migration 1). Two more builds share
//! its body: `schema-next` (step 2 adds a table it reads) and `schema-broken` (a step 2 that fails
//! half-way). Tests activate them across replicas and watch the steps run once.

const VERSION: &str = "1";

fn steps() -> Vec<Migration> {
    vec![Migration::portable(1, "create test_notes", NOTES)]
}

/// Nothing beyond the notes in this build.
fn extra() -> Result<i64, ApiError> {
    Ok(0)
}

include!("component.rs");
