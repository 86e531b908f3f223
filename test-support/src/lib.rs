//! Helpers shared by ringmq's test suites (never linked into the library or the tools).
//!
//! - [`seccomp`]: run a child process under a seccomp filter that denies the io_uring syscalls
//!   with `EPERM`, as Docker's and containerd's default profiles do.
//! - [`process`]: a child process that is killed when its guard drops, with bounded waits.
//! - [`faults`]: a fault-injecting TCP proxy (delay, drop, stall, reset) for chaos tests.

pub mod faults;
pub mod process;
pub mod seccomp;
