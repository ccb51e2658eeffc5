//! `versioned`: a test component with two builds that differ only in the version they answer
//! (`GET /test/version`): this one, and `versioned-next`. Tests upload the second as a new
//! version of the first to watch every replica swap.

const VERSION: &str = "1";

include!("component.rs");
