//! Browser entry point: Trunk compiles this binary to WebAssembly and the
//! generated loader calls `main` once the page has loaded.

fn main() {
    // Without the hook a Rust panic surfaces as an opaque "unreachable" trap.
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
