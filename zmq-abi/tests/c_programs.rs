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
        .args(["-lzmq", "-lpthread", "-ldl"])
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
fn inproc_completes_sends_subscriptions_and_connects_within_the_call() {
    run_both("inproc_sync");
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
fn a_forked_child_closes_what_it_inherited_and_starts_afresh() {
    run_both("fork");
}

#[test]
fn poll_sockets_and_a_pipe_pollout_turns_and_eterm() {
    run_both("poll");
}

#[test]
fn zmq_fd_edge_triggered_contract_misses_nothing() {
    run_both("fd");
}

#[test]
fn monitor_events_endpoints_and_monitor_stopped() {
    run_both("monitor");
}

#[test]
fn proxy_steerable_statistics_pause_terminate_and_proxy_capture() {
    run_both("proxy");
}

#[test]
fn curve_and_plain_with_a_zap_handler() {
    run_both("security");
}

#[test]
fn socket_option_defaults_and_round_trips() {
    run_both("options");
}

#[test]
fn context_options_max_sockets_and_shutdown() {
    run_both("ctx");
}

#[test]
fn atomic_counters_timers_stopwatch_and_threads() {
    run_both("utility");
}

#[test]
fn sendiov_recviov_send_const_and_sendmsg() {
    run_both("send_variants");
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

/// The `#define`d names a header file declares, in order: object-like macros named `ZMQ_*` or
/// `E*` (errno values), not function-like ones (`ZMQ_MAKE_VERSION(...)`).
fn defined_names(header: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(header)
        .unwrap_or_else(|e| panic!("read {}: {e}", header.display()));
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("define") else {
            continue;
        };
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        let rest = rest.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, after) = rest.split_at(end);
        let object_like = after.is_empty() || after.starts_with([' ', '\t']);
        let ours = name.starts_with("ZMQ_")
            || (name.starts_with('E')
                && name
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        if object_like && ours && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

/// What `names` expand to after `#include <zmq.h>`, with `include` (our header's directory) or
/// the system's header: `None` for a name left undefined, else its expansion (maybe empty).
/// Found by preprocessing (`gcc -E -P`) a generated file.
fn expansions(
    names: &[String],
    include: Option<&std::path::Path>,
    tag: &str,
) -> std::collections::HashMap<String, Option<String>> {
    use std::fmt::Write;
    let mut source = String::from("#include <zmq.h>\n");
    for name in names {
        // The quoted name is not expanded; the bare one is.
        writeln!(
            source,
            "#ifdef {name}\n@@ \"{name}\" = {name} @@\n#else\n@@ \"{name}\" undefined\n#endif"
        )
        .unwrap();
    }
    let dir = std::env::temp_dir().join(format!(
        "ringmq-zmq-abi-{}-header-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    let file = dir.join("names.c");
    std::fs::write(&file, source).expect("write the generated file");
    let mut gcc = Command::new("gcc");
    gcc.args(["-E", "-P"]);
    if let Some(include) = include {
        gcc.arg("-I").arg(include);
    }
    let output = gcc.arg(&file).output().expect("gcc must be installed");
    assert!(
        output.status.success(),
        "preprocessing with the {tag} zmq.h:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    let mut found = std::collections::HashMap::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(rest) = line.trim().strip_prefix("@@ \"") else {
            continue;
        };
        let (name, rest) = rest.split_once('"').expect("a quoted name");
        let rest = rest.trim();
        let value = if rest == "undefined" {
            None
        } else {
            let value = rest
                .strip_prefix('=')
                .and_then(|v| v.strip_suffix("@@"))
                .unwrap_or_else(|| panic!("unexpected line: {line}"));
            Some(value.trim().to_owned())
        };
        found.insert(name.to_owned(), value);
    }
    assert_eq!(found.len(), names.len(), "every name must be in the output");
    found
}

/// The value of a preprocessed C integer constant expression: literals (decimal, hex, octal,
/// with `u`/`l` suffixes), parentheses, unary `-` `+` `~`, and `* / % + - << >> & ^ |`.
fn evaluate(expression: &str) -> Result<i128, String> {
    #[derive(Debug, Clone, PartialEq)]
    enum Token {
        Number(i128),
        Op(&'static str),
    }
    let mut tokens = Vec::new();
    let bytes = expression.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
                i += 1;
            }
            let literal = expression[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let value = if let Some(hex) = literal.strip_prefix("0x").or(literal.strip_prefix("0X"))
            {
                i128::from_str_radix(hex, 16)
            } else if literal.len() > 1 && literal.starts_with('0') {
                i128::from_str_radix(&literal[1..], 8)
            } else {
                literal.parse()
            };
            tokens.push(Token::Number(value.map_err(|e| format!("{literal}: {e}"))?));
        } else {
            let op = [
                "<<", ">>", "(", ")", "+", "-", "*", "/", "%", "~", "&", "^", "|",
            ]
            .into_iter()
            .find(|op| expression[i..].starts_with(op))
            .ok_or_else(|| format!("cannot evaluate `{expression}`"))?;
            tokens.push(Token::Op(op));
            i += op.len();
        }
    }
    fn precedence(op: &str) -> Option<u8> {
        Some(match op {
            "|" => 1,
            "^" => 2,
            "&" => 3,
            "<<" | ">>" => 4,
            "+" | "-" => 5,
            "*" | "/" | "%" => 6,
            _ => return None,
        })
    }
    fn parse(tokens: &[Token], pos: &mut usize, min: u8) -> Result<i128, String> {
        let mut left = match tokens.get(*pos).cloned() {
            Some(Token::Number(n)) => {
                *pos += 1;
                n
            }
            Some(Token::Op("(")) => {
                *pos += 1;
                let inner = parse(tokens, pos, 0)?;
                if tokens.get(*pos) != Some(&Token::Op(")")) {
                    return Err("unbalanced parentheses".into());
                }
                *pos += 1;
                inner
            }
            Some(Token::Op(op @ ("-" | "+" | "~"))) => {
                *pos += 1;
                let operand = parse(tokens, pos, 7)?;
                match op {
                    "-" => -operand,
                    "+" => operand,
                    _ => !operand,
                }
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        while let Some(Token::Op(op)) = tokens.get(*pos).cloned() {
            let Some(p) = precedence(op) else { break };
            if p <= min {
                break;
            }
            *pos += 1;
            let right = parse(tokens, pos, p)?;
            left = match op {
                "|" => left | right,
                "^" => left ^ right,
                "&" => left & right,
                "<<" => left << right,
                ">>" => left >> right,
                "+" => left + right,
                "-" => left - right,
                "*" => left * right,
                "/" => left.checked_div(right).ok_or("division by zero")?,
                _ => left.checked_rem(right).ok_or("division by zero")?,
            };
        }
        Ok(left)
    }
    let mut pos = 0;
    let value = parse(&tokens, &mut pos, 0)?;
    if pos != tokens.len() {
        return Err(format!("trailing tokens in `{expression}`"));
    }
    Ok(value)
}

#[test]
fn header_constant_expressions_evaluate() {
    assert_eq!(evaluate("((4) *10000 + (3) *100 + (5))"), Ok(40305));
    assert_eq!(evaluate("(156384712 + 51)"), Ok(156_384_763));
    assert_eq!(evaluate("0xFFFF"), Ok(65535));
    assert_eq!(evaluate("-1"), Ok(-1));
    assert_eq!(evaluate("1 << 4 | 1"), Ok(17));
    assert!(evaluate("sizeof (int)").is_err());
}

/// Our `zmq.h` is a drop-in for libzmq's: every `ZMQ_*` and `E*` constant it defines has the
/// value the system's `zmq.h` (libzmq 4.3, without `ZMQ_BUILD_DRAFT_API`) gives it, and every
/// such constant the system header defines, ours defines too.
#[test]
fn header_constants_match_libzmq() {
    let ours_dir = crate_dir().join("include");
    let our_names = defined_names(&ours_dir.join("zmq.h"));
    assert!(our_names.len() > 150, "too few names found: {our_names:?}");
    let ours = expansions(&our_names, Some(&ours_dir), "ringmq");
    let theirs = expansions(&our_names, None, "reference");
    // The library stands in for libzmq 4.3.5; the system's may be another 4.3 release.
    let version_specific = ["ZMQ_VERSION", "ZMQ_VERSION_PATCH"];
    let mut skipped = Vec::new();
    let mut mismatches = Vec::new();
    for name in &our_names {
        let our_value = ours[name]
            .as_deref()
            .unwrap_or_else(|| panic!("{name} is #defined in our header but expands to nothing"));
        let Some(their_value) = theirs[name].as_deref() else {
            skipped.push(name.as_str());
            continue;
        };
        if version_specific.contains(&name.as_str()) {
            continue;
        }
        if our_value.is_empty() || their_value.is_empty() {
            // A flag macro (ZMQ_HAVE_TIMERS): defined in both is what matters.
            if our_value.is_empty() != their_value.is_empty() {
                mismatches.push(format!(
                    "{name}: ours `{our_value}`, libzmq's `{their_value}`"
                ));
            }
            continue;
        }
        let a = evaluate(our_value).unwrap_or_else(|e| panic!("{name} (ours): {e}"));
        let b = evaluate(their_value).unwrap_or_else(|e| panic!("{name} (libzmq's): {e}"));
        if a != b {
            mismatches.push(format!(
                "{name}: ours {a} (`{our_value}`), libzmq's {b} (`{their_value}`)"
            ));
        }
    }
    if !skipped.is_empty() {
        eprintln!("not defined by the system zmq.h (skipped): {skipped:?}");
    }
    assert!(
        mismatches.is_empty(),
        "constants that differ from libzmq's:\n{}",
        mismatches.join("\n")
    );

    // The other way: what the system header defines outside the draft API, ours defines.
    let system_header = PathBuf::from("/usr/include/zmq.h");
    let their_names = defined_names(&system_header);
    let theirs = expansions(&their_names, None, "reference-names");
    let ours = expansions(&their_names, Some(&ours_dir), "ringmq-names");
    let missing: Vec<&str> = their_names
        .iter()
        .filter(|n| theirs[*n].is_some() && ours[*n].is_none())
        .map(String::as_str)
        .collect();
    assert!(
        missing.is_empty(),
        "libzmq's zmq.h defines these, ours does not: {missing:?}"
    );
}

/// The `zmq_*` functions a shared library exports.
fn exported_functions(library: &std::path::Path) -> std::collections::BTreeSet<String> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(library)
        .output()
        .expect("nm (binutils, installed with gcc)");
    assert!(output.status.success(), "nm {}", library.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace().rev();
            let name = fields.next()?;
            let kind = fields.next()?;
            let name = name.split('@').next()?;
            (matches!(kind, "T" | "W" | "i") && name.starts_with("zmq_")).then(|| name.to_owned())
        })
        .collect()
}

/// Every `zmq_*` function the system's libzmq.so.5 exports, ours exports too.
#[test]
fn library_exports_every_libzmq_function() {
    let output = Command::new("gcc")
        .arg("-print-file-name=libzmq.so.5")
        .output()
        .expect("gcc must be installed");
    let system = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(
        system.is_absolute() && system.exists(),
        "the system libzmq.so.5 (libzmq5) is not installed: gcc found `{}`",
        system.display()
    );
    let theirs = exported_functions(&system);
    assert!(
        theirs.len() > 50,
        "too few functions in {}: {theirs:?}",
        system.display()
    );
    let ours = exported_functions(&cdylib());
    let missing: Vec<&String> = theirs.difference(&ours).collect();
    assert!(
        missing.is_empty(),
        "libzmq exports these, ours does not: {missing:?}"
    );
}
