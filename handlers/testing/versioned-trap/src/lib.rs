//! `versioned-trap`: a third build of the `versioned` test component (see its lib.rs) that
//! panics on every request, to be uploaded under the name `versioned` as a canary that fails.

const VERSION: &str = "trap";

include!("../../versioned/src/component.rs");
