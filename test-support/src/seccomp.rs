//! A seccomp filter like the default profiles of Docker 25+ and containerd 2.0 as far as io_uring
//! goes: `io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with `EPERM`, every other
//! syscall is allowed. Built with `seccompiler` (rust-vmm's BPF compiler), not by hand.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

/// The BPF program of the filter, for this machine's architecture.
pub fn deny_io_uring_program() -> BpfProgram {
    let denied: BTreeMap<i64, Vec<seccompiler::SeccompRule>> = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ]
    .into_iter()
    // An empty rule list matches the syscall whatever its arguments.
    .map(|nr| (nr, Vec::new()))
    .collect();
    let arch = std::env::consts::ARCH
        .try_into()
        .expect("seccompiler supports this architecture");
    let filter = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .expect("a valid filter");
    filter.try_into().expect("the filter compiles to BPF")
}

/// Make `command`'s process (and everything it starts) run under the filter.
pub fn deny_io_uring(command: &mut Command) -> &mut Command {
    let program = deny_io_uring_program();
    // SAFETY: the closure runs in the forked child before exec. It only calls
    // `seccompiler::apply_filter`, which issues prctl(PR_SET_NO_NEW_PRIVS) and seccomp(2) on the
    // already compiled program (no allocation, no lock), both async-signal-safe syscalls.
    unsafe {
        command.pre_exec(move || {
            seccompiler::apply_filter(&program)
                .map_err(|e| std::io::Error::other(format!("seccomp: {e}")))
        })
    }
}
