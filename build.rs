// `sqlx::migrate!` embeds migrations/ at compile time: rebuild when a
// migration changes, not only when a Rust file does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
