//! `versioned-next`: the second build of the `versioned` test component (see its lib.rs); it
//! answers version "2", to be uploaded under the name `versioned`.

const VERSION: &str = "2";

include!("../../versioned/src/component.rs");
