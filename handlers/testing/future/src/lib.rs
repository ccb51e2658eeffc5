//! `future`: a test component built for `nexuma:core@0.9.0`, a contract no Core knows (its WIT
//! is `wit/future.wit` beside this crate). A Core must refuse it and say which versions it takes.

wit_bindgen::generate!({
    path: "wit",
    world: "handler",
});

struct Future;

impl Guest for Future {
    fn routes() -> Vec<String> {
        vec![format!(
            "GET /test/future at {}",
            nexuma::core::clock::now_ms()
        )]
    }
}

export!(Future);
