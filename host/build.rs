// The migrations are embedded by `sqlx::migrate!`: rebuild the host when one is added or edited.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
