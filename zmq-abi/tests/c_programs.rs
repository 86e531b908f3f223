//! Compile our C programs in `tests/c/` against `include/zmq.h` and the built `libzmq.so`, run
//! each, and require exit status 0 (each program `assert`s what it checks).
//!
//! The cdylib is found next to this test binary: cargo (and cargo-nextest, which builds with
//! `cargo test --no-run`) builds the package's library, every crate type of it, before its
//! integration tests, into `target/<profile>/deps/libzmq.so`, beside the test binary. (Only
//! `cargo build` copies it up to `target/<profile>/libzmq.so`, so that copy can be stale.) A symlink `libzmq.so.5` (the soname) in a scratch directory is what
//! the programs link and load, through `-L` and `-Wl,-rpath`, so no system libzmq can be picked.
//!
//! Each program is also built against the system libzmq and its own `zmq.h` and must pass there
//! too: the programs check libzmq's behaviour, not ours, and our header must be a drop-in.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ringmq_test_support::process::Running;

/// Longest a C program may run before it is killed and the test fails.
const RUN_TIME_MAX: Duration = Duration::from_secs(60);

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `libzmq.so` built with this test binary.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // The test binary is target/<profile>/deps/c_programs-<hash>; building it builds the
    // package's library, cdylib included, into the same deps/ directory. `cargo test` does not
    // copy it up to target/<profile>/ (only `cargo build` does), so the copy there may be stale.
    let deps = exe
        .parent()
        .expect("the test binary lies in target/<profile>/deps");
    let lib = deps.join("libzmq.so");
    assert!(
        lib.is_file(),
        "{} is missing: it is built with this test by `cargo test -p ringmq-zmq-abi`",
        lib.display()
    );
    lib
}

/// A scratch directory holding `libzmq.so` and `libzmq.so.5` links to the built library.
fn link_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringmq-zmq-abi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    let lib = cdylib();
    for link in ["libzmq.so", "libzmq.so.5"] {
        std::os::unix::fs::symlink(&lib, dir.join(link)).expect("link the library");
    }
    dir
}

/// Which library (and header) a C program is built against.
#[derive(Clone, Copy)]
enum Library {
    /// Ours: `include/zmq.h` and the `libzmq.so` built with this test.
    Ringmq,
    /// The system's libzmq and its `zmq.h`, the reference: the programs check libzmq's
    /// behaviour, so they must pass against it too.
    Reference,
}

/// Compile `tests/c/<name>.c` against `library` and run it; panics unless it exits with 0.
fn run_c_program(name: &str, library: Library) {
    let tag = match library {
        Library::Ringmq => "ringmq",
        Library::Reference => "reference",
    };
    let dir = link_dir(&format!("{name}-{tag}"));
    let source = crate_dir().join("tests/c").join(format!("{name}.c"));
    let program = dir.join(name);
    let mut gcc = Command::new("gcc");
    gcc.args([
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-g",
        "-D_GNU_SOURCE",
    ]);
    if let Library::Ringmq = library {
        gcc.arg("-I")
            .arg(crate_dir().join("include"))
            .arg("-L")
            .arg(&dir)
            .arg(format!("-Wl,-rpath,{}", dir.display()));
    }
    let output = gcc
        .arg(&source)
        .arg("-o")
        .arg(&program)
        .args(["-lzmq", "-lpthread"])
        .output()
        .expect("gcc must be installed to run the C ABI tests");
    assert!(
        output.status.success(),
        "compiling {} against {tag} (the reference needs libzmq's headers: libzmq3-dev):\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );

    let child = Command::new(&program).spawn().expect("run the C program");
    let status = Running::new(child, format!("{name} ({tag})")).wait(RUN_TIME_MAX);
    assert!(status.success(), "{name} against {tag} failed: {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Run `name` against ours and against the reference.
fn run_both(name: &str) {
    run_c_program(name, Library::Ringmq);
    run_c_program(name, Library::Reference);
}

#[test]
fn push_pull_multipart_over_inproc_and_tcp() {
    run_both("push_pull");
}

#[test]
fn req_rep_round_trip_and_efsm() {
    run_both("req_rep");
}

#[test]
fn error_numbers() {
    run_both("errors");
}

#[test]
fn messages_free_once_copy_shares() {
    run_both("msg");
}

#[test]
fn version_z85_keys_and_options() {
    run_both("misc");
}

#[test]
fn library_has_the_soname() {
    let output = Command::new("readelf")
        .arg("-d")
        .arg(cdylib())
        .output()
        .expect("readelf (binutils, installed with gcc)");
    let dynamic = String::from_utf8_lossy(&output.stdout);
    assert!(
        dynamic.contains("Library soname: [libzmq.so.5]"),
        "{dynamic}"
    );
    // The marker that tells a program (and ringmq's interop tests) this is not libzmq.
    let symbols = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(cdylib())
        .output()
        .expect("nm (binutils, installed with gcc)");
    let symbols = String::from_utf8_lossy(&symbols.stdout);
    assert!(
        symbols.lines().any(|l| l.ends_with(" ringmq_zmq_abi")),
        "no marker symbol"
    );
}

/// ringmq's interop tests and loadgen must compare against the real libzmq: their loader refuses
/// this library, by its marker symbol, even when it is the one `dlopen` finds.
#[test]
fn the_interop_loader_refuses_this_library() {
    let path: &'static str = Box::leak(cdylib().display().to_string().into_boxed_str());
    match ringmq_interop::libzmq::Lib::open(&[path]) {
        Err(e) => assert!(e.to_string().contains("ringmq's own"), "{e}"),
        Ok(lib) => panic!("loaded ringmq's library as libzmq: {lib:?}"),
    }
}
