//! `ringmq keygen`: a fresh CURVE key pair, printed as Z85 or written as a czmq certificate pair.

use std::path::PathBuf;

use clap::Args;
use ringmq::{Certificate, KeyPair};

use crate::text::print;
use crate::Failure;

/// Make a CURVE key pair from the operating system's random source.
///
/// Without --out, prints `public-key = "Z85"` and `secret-key = "Z85"`. With --out NAME, writes
/// the czmq certificates NAME (public, mode 0644) and NAME_secret (secret, mode 0600), and prints
/// only the public key line; an existing NAME_secret is never replaced.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the certificate pair NAME and NAME_secret instead of printing the secret key.
    #[arg(long, value_name = "NAME")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &KeygenArgs) -> Result<(), Failure> {
    let keys = ringmq::generate_keypair()?;
    let public_line = format!("public-key = \"{}\"\n", keys.public);
    let mut out = std::io::stdout().lock();
    match &args.out {
        None => {
            // The secret key goes out in pieces, straight from its zeroized Z85 form, so no
            // other String holds a copy.
            let secret = keys.secret.to_z85();
            let _ = print(&mut out, public_line.as_bytes())?
                && print(&mut out, b"secret-key = \"")?
                && print(&mut out, secret.as_bytes())?
                && print(&mut out, b"\"\n")?;
        }
        Some(name) => {
            save(&keys, name)?;
            eprintln!(
                "ringmq: wrote {} (public) and {} (secret, mode 0600)",
                name.display(),
                Certificate::secret_path(name).display()
            );
            print(&mut out, public_line.as_bytes())?;
        }
    }
    Ok(())
}

/// Write the certificate pair for `keys` at `name`, refusing to replace a secret certificate.
fn save(keys: &KeyPair, name: &std::path::Path) -> Result<(), Failure> {
    let secret_path = Certificate::secret_path(name);
    let refuse = || {
        Failure::new(format!(
            "{} exists; not replacing a secret key (remove it first, or choose another --out)",
            secret_path.display()
        ))
    };
    // symlink_metadata: a dangling link is something in the way too.
    if std::fs::symlink_metadata(&secret_path).is_ok() {
        return Err(refuse());
    }
    Certificate::from_keypair(keys.clone())
        .save(name)
        .map_err(|e| {
            // Made in the moment since the check above.
            if secret_path.exists() && e.to_string().contains("not replacing") {
                refuse()
            } else {
                Failure::from(e)
            }
        })
}
