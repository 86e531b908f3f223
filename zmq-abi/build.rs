//! Give the shared library libzmq's soname, so programs linked against it ask for `libzmq.so.5`.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzmq.so.5");
    println!("cargo:rerun-if-changed=build.rs");
}
