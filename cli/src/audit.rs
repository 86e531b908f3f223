//! `ringmq audit`: the library's security audit of a deployment description, one finding a line.

use std::path::PathBuf;

use clap::Args;
use ringmq::audit::{Deployment, Severity};

use crate::text::print;
use crate::Failure;

/// Check a deployment description (TOML: runtime fields, then `[[socket]]` tables) for the
/// mistakes that expose ZeroMQ services, and print each finding, most severe first.
///
/// Each line is `[SEVERITY] socket N (TYPE ENDPOINT): problem — fix: what to change`. Exits 1
/// when a finding is at or above --fail-on, else 0. No findings means none of the checks fired,
/// not that the program is secure.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The deployment description, e.g. deploy.toml.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,
    /// Fail (exit 1) when a finding is at least this severe: low, medium or high, any case.
    #[arg(long, value_name = "SEVERITY", default_value = "high", value_parser = parse_severity)]
    pub fail_on: Severity,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    text.parse().map_err(|e: ringmq::Error| e.to_string())
}

pub fn run(args: &AuditArgs) -> Result<(), Failure> {
    let deployment =
        Deployment::from_file(&args.config).map_err(|e| Failure::new(one_line(&e.to_string())))?;
    let findings = deployment.audit();
    let mut out = std::io::stdout().lock();
    if findings.is_empty() {
        let sockets = deployment.sockets.len();
        let plural = if sockets == 1 { "" } else { "s" };
        print(
            &mut out,
            format!("no findings ({sockets} socket{plural} checked)\n").as_bytes(),
        )?;
        return Ok(());
    }
    for finding in &findings {
        if !print(&mut out, format!("{finding}\n").as_bytes())? {
            break;
        }
    }
    let failing = findings
        .iter()
        .filter(|f| f.severity >= args.fail_on)
        .count();
    match failing {
        0 => Ok(()),
        1 => Err(Failure::new(format!(
            "1 finding at or above {}",
            args.fail_on
        ))),
        n => Err(Failure::new(format!(
            "{n} findings at or above {}",
            args.fail_on
        ))),
    }
}

/// A multi-line error (toml's show the offending line with a caret under it) as one line: the
/// message lines joined by ": ", the quoted source and caret lines left out.
fn one_line(text: &str) -> String {
    let is_snippet = |line: &str| {
        let (gutter, _) = line.split_once('|').unwrap_or((line, ""));
        line.contains('|') && gutter.trim().chars().all(|c| c.is_ascii_digit())
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_snippet(line))
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_fold_into_one_line() {
        let e = Deployment::from_toml("shard = 2\n")
            .unwrap_err()
            .to_string();
        let folded = one_line(&e);
        assert!(!folded.contains('\n'), "{folded}");
        assert!(folded.contains("unknown field `shard`"), "{folded}");
        assert!(!folded.contains('^'), "{folded}");
        assert_eq!(one_line("already one line"), "already one line");
        assert_eq!(one_line("a\n  |\n1 | x = 1\n  | ^\nb\n"), "a: b");
    }

    #[test]
    fn severities_parse_in_any_case() {
        assert_eq!(parse_severity("HIGH"), Ok(Severity::High));
        assert_eq!(parse_severity("medium"), Ok(Severity::Medium));
        assert!(parse_severity("severe").is_err());
    }
}
