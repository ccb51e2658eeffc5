//! `versioned-trap`: a third build of the `versioned` test component (see its lib.rs) that
//! panics on every request (or, with `?fail=answer`, answers 500 itself), to be uploaded under
//! the name `versioned` as a canary that fails.

const VERSION: &str = "trap";

include!("../../versioned/src/component.rs");
