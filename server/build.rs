//! Makes sure the UI folder that `rust-embed` reads exists, so the server builds (with a notice
//! page instead of the UI) before the UI has been built with Trunk.
fn main() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist");
    if !dist.exists() {
        let _ = std::fs::create_dir_all(&dist);
    }
    println!("cargo:rerun-if-changed=../dist");
}
