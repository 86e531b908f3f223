//! CURVE certificates in czmq's `zcert` file format, so that keys made for an existing ZeroMQ
//! deployment (czmq's `zcert_save`, `zmakecert`, or ringmq's own [`Certificate::save`]) work here
//! and the other way round.
//!
//! A certificate named `NAME` is two files in ZPL, ZeroMQ's property language (RFC 4):
//! - `NAME`, the public certificate, holding `curve/public-key` and optional `metadata` entries,
//!   safe to hand out;
//! - `NAME_secret`, the secret certificate, holding `curve/public-key` and `curve/secret-key`,
//!   created with mode 0600 and never to leave its owner.
//!
//! ```text
//! #   ****  Generated on 2026-11-22 12:00:00 by ringmq  ****
//! #   ZeroMQ CURVE Public Certificate
//! #   ...
//!
//! metadata
//!     name = "broker-1"
//! curve
//!     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//! ```
//!
//! Keys are 40-character Z85 text. Reading is tolerant: `#` comments, blank lines, any consistent
//! indentation, quoted (`"..."`, `'...'`) or bare values, and unknown sections are skipped. Errors
//! name the file and line but never quote the file's contents, so no key material reaches a log.
//! This module reads and writes files; it opens no socket.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind};
use crate::security::{generate_keypair, KeyPair, PublicKey, SecretKey};

/// Largest certificate file read, in bytes. czmq's certificates are a few hundred bytes; the
/// bound keeps a wrong path (a device, a log) from being read whole.
const FILE_SIZE_MAX: u64 = 64 * 1024;

/// Suffix of the secret certificate's file name (czmq's convention).
const SECRET_SUFFIX: &str = "_secret";

/// A CURVE certificate: a public key, optionally its secret key, and metadata (czmq's `zcert`).
///
/// `Debug` shows whether a secret key is present, never the key.
#[derive(Clone)]
pub struct Certificate {
    /// The public key (`curve/public-key`).
    pub public: PublicKey,
    /// The secret key (`curve/secret-key`), when the secret certificate was loaded or generated.
    pub secret: Option<SecretKey>,
    /// `metadata` entries, in file order (czmq's `zcert_set_meta`): for example
    /// `("name", "broker-1")`.
    pub metadata: Vec<(String, String)>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("public", &self.public)
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl Certificate {
    /// A new certificate with a fresh key pair from the OS random source, and no metadata.
    pub fn generate() -> Result<Certificate, Error> {
        Ok(Certificate::from_keypair(generate_keypair()?))
    }

    /// A certificate holding `keys`, with no metadata.
    pub fn from_keypair(keys: KeyPair) -> Certificate {
        Certificate {
            public: keys.public,
            secret: Some(keys.secret),
            metadata: Vec::new(),
        }
    }

    /// A public-only certificate for `public`, with no metadata.
    pub fn from_public(public: PublicKey) -> Certificate {
        Certificate {
            public,
            secret: None,
            metadata: Vec::new(),
        }
    }

    /// Add a metadata entry (builder style). Names are ZPL names: ASCII letters, digits and
    /// `$-_@.&+/`; [`Certificate::save`] refuses others.
    pub fn with_meta(mut self, name: &str, value: &str) -> Self {
        self.metadata.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The value of the first metadata entry called `name`.
    pub fn meta(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The key pair for [`crate::Options::curve_server`] or [`crate::Options::curve_client`];
    /// `None` for a public-only certificate. The public key is derived from the secret key.
    pub fn keypair(&self) -> Option<KeyPair> {
        self.secret.clone().map(KeyPair::from_secret)
    }

    /// Where the secret certificate of the public certificate `path` lives: `path` + `_secret`.
    pub fn secret_path(path: impl AsRef<Path>) -> PathBuf {
        let mut name = path.as_ref().as_os_str().to_owned();
        name.push(SECRET_SUFFIX);
        PathBuf::from(name)
    }

    /// Read a certificate, with its secret key where one is available:
    /// - `path` holds a secret key (it is a secret certificate, normally `NAME_secret`): the key
    ///   pair comes from it; when it is named `NAME_secret` and `NAME` exists, `NAME` must carry
    ///   the same public key.
    /// - otherwise `path` is a public certificate; when `path_secret` exists its secret key is
    ///   loaded too and must belong to `path`'s public key.
    ///
    /// Errors: [`ErrorKind::Io`] when a file cannot be read, [`ErrorKind::InvalidConfig`] when
    /// one does not parse (with file and line) or the keys do not match.
    pub fn load(path: impl AsRef<Path>) -> Result<Certificate, Error> {
        let path = path.as_ref();
        let first = read_certificate(path)?
            .ok_or_else(|| not_found(path))
            .and_then(|text| parse(&text, path))?;
        if first.secret.is_some() {
            let mut cert = first.into_certificate(path)?;
            if let Some(public_path) = public_sibling(path) {
                if let Some(text) = read_certificate(&public_path)? {
                    let public = parse(&text, &public_path)?.into_public(&public_path)?;
                    if public.public != cert.public {
                        return Err(invalid(format!(
                            "{} and {} hold different public keys",
                            public_path.display(),
                            path.display()
                        )));
                    }
                    if cert.metadata.is_empty() {
                        cert.metadata = public.metadata;
                    }
                }
            }
            return Ok(cert);
        }
        let mut cert = first.into_public(path)?;
        let secret_path = Certificate::secret_path(path);
        if let Some(text) = read_certificate(&secret_path)? {
            let secret = parse(&text, &secret_path)?.into_certificate(&secret_path)?;
            if secret.public != cert.public {
                return Err(invalid(format!(
                    "{}: its secret key does not belong to the public key in {}",
                    secret_path.display(),
                    path.display()
                )));
            }
            cert.secret = secret.secret;
        }
        Ok(cert)
    }

    /// Read only the public part of the certificate in `path` (a secret key in the file is
    /// dropped unread into any result, and `path_secret` is not opened).
    pub fn load_public(path: impl AsRef<Path>) -> Result<Certificate, Error> {
        let path = path.as_ref();
        let text = read_certificate(path)?.ok_or_else(|| not_found(path))?;
        parse(&text, path)?.into_public(path)
    }

    /// Write the public certificate to `path` (mode 0644) and, when the secret key is present,
    /// the secret certificate to `path_secret`, created with mode 0600 (never readable by
    /// others, not even briefly). An existing secret certificate is not replaced: that would
    /// destroy a key; use [`Certificate::save_overwrite`] for that.
    ///
    /// The secret certificate is written first, so a refused save leaves `path` untouched.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.save_inner(path.as_ref(), false)
    }

    /// [`Certificate::save`], replacing an existing secret certificate. The new one is written
    /// to a fresh 0600 file beside it and renamed over it, so the old file's permissions do not
    /// carry over and a crash leaves either the old or the new key, whole.
    pub fn save_overwrite(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.save_inner(path.as_ref(), true)
    }

    fn save_inner(&self, path: &Path, overwrite: bool) -> Result<(), Error> {
        for (name, value) in &self.metadata {
            check_meta(name, value)?;
        }
        let generated = generated_line(std::time::SystemTime::now());
        if let Some(secret) = &self.secret {
            if secret.public_key() != self.public {
                return Err(invalid(
                    "certificate not saved: its secret key does not belong to its public key",
                ));
            }
            let text = self.secret_text(&generated, secret);
            let secret_path = Certificate::secret_path(path);
            if overwrite {
                replace_secret_file(&secret_path, text.as_bytes())?;
            } else {
                write_new_secret_file(&secret_path, text.as_bytes())?;
            }
        }
        write_public_file(path, self.public_text(&generated).as_bytes())
    }

    fn public_text(&self, generated: &str) -> String {
        let mut text = String::new();
        text.push_str(generated);
        text.push_str(
            "#   ZeroMQ CURVE Public Certificate\n\
             #   Exchange securely, or use a secure mechanism to verify the contents\n\
             #   of this file after exchange. Store public certificates in your home\n\
             #   directory, in the .curve subdirectory.\n\n",
        );
        self.push_metadata(&mut text);
        text.push_str("curve\n    public-key = \"");
        text.push_str(&self.public.to_z85());
        text.push_str("\"\n");
        text
    }

    fn secret_text(&self, generated: &str, secret: &SecretKey) -> Zeroizing<String> {
        // Reserve everything up front: a growing String would leave copies of the secret key in
        // freed buffers that Zeroizing never sees.
        let metadata_len: usize = self
            .metadata
            .iter()
            .map(|(n, v)| n.len() + v.len() + 16)
            .sum();
        let mut text = Zeroizing::new(String::with_capacity(512 + metadata_len));
        text.push_str(generated);
        text.push_str(
            "#   ZeroMQ CURVE **Secret** Certificate\n\
             #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\n",
        );
        self.push_metadata(&mut text);
        text.push_str("curve\n    public-key = \"");
        text.push_str(&self.public.to_z85());
        text.push_str("\"\n    secret-key = \"");
        text.push_str(&secret.to_z85());
        text.push_str("\"\n");
        text
    }

    fn push_metadata(&self, text: &mut String) {
        text.push_str("metadata\n");
        for (name, value) in &self.metadata {
            // check_meta made sure one of the two quotes is free.
            let quote = if value.contains('"') { '\'' } else { '"' };
            text.push_str("    ");
            text.push_str(name);
            text.push_str(" = ");
            text.push(quote);
            text.push_str(value);
            text.push(quote);
            text.push('\n');
        }
    }
}

/// The first line of a written certificate, czmq's banner with the time in UTC.
fn generated_line(now: std::time::SystemTime) -> String {
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!(
        "#   ****  Generated on {} by ringmq  ****\n",
        utc_timestamp(seconds)
    )
}

/// `YYYY-MM-DD hh:mm:ss` in UTC for seconds since the Unix epoch (the civil-from-days
/// conversion of the proleptic Gregorian calendar; no time-zone database needed).
fn utc_timestamp(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let time = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidConfig, message)
}

fn not_found(path: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("certificate {}: file not found", path.display()),
    )
}

/// Whether a metadata entry can be written as ZPL that reads back the same.
fn check_meta(name: &str, value: &str) -> Result<(), Error> {
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"$-_@.&+/".contains(&c));
    if !name_ok {
        return Err(invalid(format!(
            "certificate metadata name {name:?} is not a ZPL name (letters, digits, $-_@.&+/)"
        )));
    }
    if value.chars().any(char::is_control) || (value.contains('"') && value.contains('\'')) {
        return Err(invalid(format!(
            "certificate metadata {name:?}: the value has a control character or both quote marks"
        )));
    }
    Ok(())
}

/// `NAME` for a path `NAME_secret`.
fn public_sibling(path: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    let public = bytes.strip_suffix(SECRET_SUFFIX.as_bytes())?;
    let name = Path::new(std::ffi::OsStr::from_bytes(public)).file_name()?;
    (!name.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(public)))
}

/// Read a certificate file as text; `Ok(None)` when it does not exist. The bytes live in a
/// zeroized buffer sized so that reading never reallocates (it may be a secret certificate).
fn read_certificate(path: &Path) -> Result<Option<Zeroizing<String>>, Error> {
    let io_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("certificate {}: {e}", path.display()),
        )
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(e)),
    };
    let mode = file.metadata().map_err(io_error)?.permissions().mode();
    let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_SIZE_MAX as usize + 1));
    file.take(FILE_SIZE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > FILE_SIZE_MAX {
        return Err(invalid(format!(
            "certificate {}: larger than {FILE_SIZE_MAX} bytes",
            path.display()
        )));
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => Zeroizing::new(text.to_owned()),
        Err(e) => {
            return Err(invalid(format!(
                "certificate {}: not UTF-8 text (byte {})",
                path.display(),
                e.valid_up_to()
            )))
        }
    };
    if mode & 0o077 != 0 && text.contains("secret-key") {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", mode & 0o7777),
            "a CURVE secret certificate is readable by group or others; chmod 600 it"
        );
    }
    Ok(Some(text))
}

/// What a certificate file says.
struct Parsed {
    public: Option<PublicKey>,
    secret: Option<SecretKey>,
    metadata: Vec<(String, String)>,
}

impl Parsed {
    /// A certificate with a secret key; the file's public key, when given, must match it.
    fn into_certificate(self, path: &Path) -> Result<Certificate, Error> {
        let Some(secret) = self.secret else {
            return Err(invalid(format!(
                "{}: no curve secret-key (not a secret certificate)",
                path.display()
            )));
        };
        let public = secret.public_key();
        if self.public.is_some_and(|p| p != public) {
            return Err(invalid(format!(
                "{}: secret-key does not belong to public-key",
                path.display()
            )));
        }
        Ok(Certificate {
            public,
            secret: Some(secret),
            metadata: self.metadata,
        })
    }

    /// The public part; the file must name the public key.
    fn into_public(self, path: &Path) -> Result<Certificate, Error> {
        let Some(public) = self.public else {
            return Err(invalid(format!("{}: no curve public-key", path.display())));
        };
        Ok(Certificate {
            public,
            secret: None,
            metadata: self.metadata,
        })
    }
}

/// Parse ZPL certificate text. Every line is a comment, blank, `name` (opens a section) or
/// `name = value`; a line's parent is the nearest line above it with less indentation.
fn parse(text: &str, origin: &Path) -> Result<Parsed, Error> {
    let mut parsed = Parsed {
        public: None,
        secret: None,
        metadata: Vec::new(),
    };
    // (indentation, name) of the open sections, outermost first.
    let mut sections: Vec<(usize, &str)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let error = |what: &str| invalid(format!("{}:{number}: {what}", origin.display()));
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let content = line.trim_start_matches([' ', '\t']);
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent: usize = line[..line.len() - content.len()]
            .chars()
            .map(|c| if c == '\t' { 4 } else { 1 })
            .sum();
        while sections.last().is_some_and(|&(i, _)| i >= indent) {
            sections.pop();
        }
        let (name, value) = match content.split_once('=') {
            Some((name, value)) => (name.trim_end(), Some(parse_value(value).map_err(error)?)),
            None => (strip_comment(content), None),
        };
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(error("expected `name` or `name = value`"));
        }
        let parent: Vec<&str> = sections.iter().map(|&(_, n)| n).collect();
        match (parent.as_slice(), name, value) {
            (["curve"], "public-key", Some(value)) => {
                if parsed.public.is_some() {
                    return Err(error("public-key given twice"));
                }
                let key =
                    PublicKey::from_z85(value).map_err(|e| error(&format!("public-key: {e}")))?;
                parsed.public = Some(key);
            }
            (["curve"], "secret-key", Some(value)) => {
                if parsed.secret.is_some() {
                    return Err(error("secret-key given twice"));
                }
                let key =
                    SecretKey::from_z85(value).map_err(|e| error(&format!("secret-key: {e}")))?;
                parsed.secret = Some(key);
            }
            (["curve"], "public-key" | "secret-key", None) => {
                return Err(error("a key needs a value: `name = \"Z85\"`"));
            }
            (["metadata"], _, Some(value)) => {
                parsed.metadata.push((name.to_owned(), value.to_owned()));
            }
            // Other sections and entries (czmq tools add some) are not ours to judge.
            _ => {}
        }
        sections.push((indent, name));
    }
    Ok(parsed)
}

/// A value after `=`: quoted with `"` or `'` (up to the matching quote), or bare (up to a `#`
/// that follows whitespace; Z85 itself uses `#`). Only a comment may follow a quoted value.
fn parse_value(text: &str) -> Result<&str, &'static str> {
    let text = text.trim_start();
    match text.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let rest = &text[1..];
            let end = rest.find(quote).ok_or("unterminated quoted value")?;
            let after = rest[end + 1..].trim_start();
            if !after.is_empty() && !after.starts_with('#') {
                return Err("unexpected text after a quoted value");
            }
            Ok(&rest[..end])
        }
        _ => Ok(strip_comment(text)),
    }
}

/// Cut a trailing ` # comment` (a `#` after whitespace) and surrounding whitespace.
fn strip_comment(text: &str) -> &str {
    let end = text
        .char_indices()
        .find(|&(i, c)| c == '#' && i > 0 && text[..i].ends_with(char::is_whitespace))
        .map_or(text.len(), |(i, _)| i);
    text[..end].trim()
}

/// Create `path` with mode 0600, refusing to replace an existing file.
fn write_new_secret_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "secret certificate {} exists; not replacing a key (use save_overwrite)",
                        path.display()
                    ),
                )
            } else {
                Error::new(
                    ErrorKind::Io,
                    format!("secret certificate {}: {e}", path.display()),
                )
            }
        })?;
    fill_secret_file(file, path, bytes).inspect_err(|_| {
        // We created it (create_new); a half-written key must not stay behind.
        let _ = std::fs::remove_file(path);
    })
}

/// Write `path` through a fresh 0600 file in the same directory renamed over it.
fn replace_secret_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp{}", std::process::id()));
    let mut hidden = std::ffi::OsString::from(".");
    hidden.push(name);
    let temporary = path.with_file_name(hidden);
    // A temporary file left by a crashed run of this process id is ours to replace.
    let _ = std::fs::remove_file(&temporary);
    write_new_secret_file(&temporary, bytes)?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        Error::new(
            ErrorKind::Io,
            format!("secret certificate {}: {e}", path.display()),
        )
    })
}

fn fill_secret_file(mut file: File, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("secret certificate {}: {e}", path.display()),
        )
    };
    // The umask can only have removed bits; make it exactly 0600.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Write (or replace) the public certificate with mode 0644.
fn write_public_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io_error = |e: std::io::Error| {
        Error::new(
            ErrorKind::Io,
            format!("certificate {}: {e}", path.display()),
        )
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .map_err(io_error)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io_error)?;
    file.write_all(bytes).map_err(io_error)?;
    file.sync_all().map_err(io_error)
}

/// Fuzzing entry point (the `certificate` target, and the replay of its corpus below): `data` as
/// the text of a certificate file. Nothing panics; whatever parses as a public (or secret)
/// certificate with valid metadata prints back (as `save` writes it) to text that parses to the
/// same keys and metadata.
#[doc(hidden)]
pub fn fuzz_certificate_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let origin = Path::new("fuzz");
    let Ok(parsed) = parse(text, origin) else {
        return;
    };
    let has_secret = parsed.secret.is_some();
    let cert = if has_secret {
        parsed.into_certificate(origin)
    } else {
        parsed.into_public(origin)
    };
    let Ok(cert) = cert else {
        return;
    };
    if cert
        .metadata
        .iter()
        .any(|(name, value)| check_meta(name, value).is_err())
    {
        return; // `save` refuses such metadata, so there is no text to compare
    }
    let printed = cert.public_text("# fuzz\n");
    let again = parse(&printed, origin)
        .and_then(|p| p.into_public(origin))
        .expect("a printed certificate parses");
    assert_eq!(again.public, cert.public);
    assert_eq!(again.metadata, cert.metadata);
    if let Some(secret) = &cert.secret {
        let printed = cert.secret_text("# fuzz\n", secret);
        let again = parse(&printed, origin)
            .and_then(|p| p.into_certificate(origin))
            .expect("a printed secret certificate parses");
        assert_eq!(again.public, cert.public);
        assert_eq!(again.metadata, cert.metadata);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The "server" key pair of libzmq's tests/testutil_security.hpp and czmq's examples.
    const SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    const PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

    /// A fresh directory removed when the test ends.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ringmq-cert-{}-{test}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn parse_text(text: &str) -> Result<Parsed, Error> {
        parse(text, Path::new("test.cert"))
    }

    #[test]
    fn round_trip() {
        let dir = TempDir::new("round-trip");
        let path = dir.path("server");
        let cert = Certificate::generate()
            .unwrap()
            .with_meta("name", "broker \"one\"")
            .with_meta("email", "ops@example.com");
        cert.save(&path).unwrap();

        let loaded = Certificate::load(&path).unwrap();
        assert_eq!(loaded.public, cert.public);
        assert_eq!(loaded.secret, cert.secret);
        assert_eq!(loaded.metadata, cert.metadata);
        assert_eq!(loaded.meta("name"), Some("broker \"one\""));
        assert_eq!(loaded.keypair().unwrap().public, cert.public);

        // The secret file alone gives the whole certificate too.
        let from_secret = Certificate::load(Certificate::secret_path(&path)).unwrap();
        assert_eq!(from_secret.secret, cert.secret);
        assert_eq!(from_secret.metadata, cert.metadata);

        let public = Certificate::load_public(&path).unwrap();
        assert_eq!(public.public, cert.public);
        assert!(public.secret.is_none() && public.keypair().is_none());

        // A public-only certificate saves only the public file.
        let only = dir.path("client");
        Certificate::from_public(cert.public).save(&only).unwrap();
        assert!(!Certificate::secret_path(&only).exists());
        assert!(Certificate::load(&only).unwrap().secret.is_none());
    }

    #[test]
    fn file_modes_and_no_silent_overwrite() {
        let dir = TempDir::new("modes");
        let path = dir.path("server");
        let secret_path = Certificate::secret_path(&path);
        let first = Certificate::generate().unwrap();
        first.save(&path).unwrap();
        assert_eq!(mode(&secret_path), 0o600);
        assert_eq!(mode(&path), 0o644);
        let text = std::fs::read_to_string(&secret_path).unwrap();
        assert!(text.contains("#   ZeroMQ CURVE **Secret** Certificate\n"));
        assert!(text.contains(&format!(
            "    secret-key = \"{}\"\n",
            &*first.secret.as_ref().unwrap().to_z85()
        )));
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains("secret-key"));

        let second = Certificate::generate().unwrap();
        let e = second.save(&path).unwrap_err();
        assert!(e.to_string().contains("save_overwrite"), "{e}");
        assert_eq!(Certificate::load(&path).unwrap().public, first.public);

        // Replacing goes through a new 0600 file even when the old one was made readable.
        std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        second.save_overwrite(&path).unwrap();
        assert_eq!(mode(&secret_path), 0o600);
        assert_eq!(Certificate::load(&path).unwrap().public, second.public);
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 2);
    }

    #[test]
    fn czmq_style_file_parses() {
        let dir = TempDir::new("czmq");
        let path = dir.path("server.key");
        // As czmq's zcert_save writes it, plus a tab-indented and a bare value, a trailing comment
        // and a section of someone else's.
        std::fs::write(
            &path,
            "#   ****  Generated on 2013-07-02 19:36:23 by CZMQ  ****\n\
             #   ZeroMQ CURVE Public Certificate\n\
             \n\
             metadata\n\
             \tname = 'server'   # tab-indented, single quotes\n\
             \x20   email = ops@example.com\n\
             curve\n\
             \x20   public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n\
             other\n\
             \x20   public-key = \"not ours\"\n",
        )
        .unwrap();
        std::fs::write(
            Certificate::secret_path(&path),
            format!(
                "#   ZeroMQ CURVE **Secret** Certificate\r\n\
                 metadata\r\n\
                 curve\r\n\
                 \x20   public-key = \"{PUBLIC}\"\r\n\
                 \x20   secret-key = {SECRET}\r\n"
            ),
        )
        .unwrap();
        let cert = Certificate::load(&path).unwrap();
        assert_eq!(cert.public.to_z85(), PUBLIC);
        assert_eq!(*cert.secret.as_ref().unwrap().to_z85(), SECRET);
        assert_eq!(cert.meta("name"), Some("server"));
        assert_eq!(cert.meta("email"), Some("ops@example.com"));
        assert_eq!(cert.metadata.len(), 2);

        // A bare value may contain `#` (Z85 uses it); only ` #` starts a comment.
        let parsed = parse_text("curve\n    public-key = a#b  # note\n");
        assert_eq!(
            parsed.err().unwrap().to_string(),
            "test.cert:2: public-key: a CURVE key is 40 Z85 characters or 32 bytes, got 3 characters"
        );
    }

    #[test]
    fn mismatched_pair_is_refused() {
        let dir = TempDir::new("mismatch");
        let path = dir.path("server");
        Certificate::from_public(Certificate::generate().unwrap().public)
            .save(&path)
            .unwrap();
        // The libzmq server's secret key beside someone else's public key.
        let known = KeyPair::from_secret(SecretKey::from_z85(SECRET).unwrap());
        let secret_path = Certificate::secret_path(&path);
        std::fs::write(
            &secret_path,
            format!("curve\n    public-key = \"{PUBLIC}\"\n    secret-key = \"{SECRET}\"\n"),
        )
        .unwrap();
        let e = Certificate::load(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(!e.to_string().contains(SECRET) && !e.to_string().contains(PUBLIC));
        let e = Certificate::load(&secret_path).unwrap_err();
        assert!(e.to_string().contains("different public keys"), "{e}");

        // Inside one file.
        let other = Certificate::generate().unwrap().public.to_z85();
        let e = parse_text(&format!(
            "curve\n    public-key = \"{other}\"\n    secret-key = \"{SECRET}\"\n"
        ))
        .and_then(|p| p.into_certificate(Path::new("x_secret")))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x_secret: secret-key does not belong to public-key"
        );

        // And refused on save.
        let bad = Certificate {
            public: Certificate::generate().unwrap().public,
            secret: Some(known.secret),
            metadata: Vec::new(),
        };
        assert!(bad.save(dir.path("bad")).is_err());
        assert!(!dir.path("bad").exists() && !dir.path("bad_secret").exists());
    }

    #[test]
    fn debug_hides_the_secret() {
        let cert =
            Certificate::from_keypair(KeyPair::from_secret(SecretKey::from_z85(SECRET).unwrap()));
        let shown = format!("{cert:?}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(
            shown.contains(PUBLIC) && shown.contains("secret: Some(\"..\")"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        let key_line = format!("    secret-key = \"{SECRET}\" trailing");
        for (text, expected) in [
            (
                "curve\n    public-key = \"abc",
                "test.cert:2: unterminated quoted value",
            ),
            (
                "curve\n    public-key = \"abc\" x",
                "test.cert:2: unexpected text after a quoted value",
            ),
            (
                "curve\n    public-key\n",
                "test.cert:2: a key needs a value: `name = \"Z85\"`",
            ),
            (
                "curve\n    = \"x\"\n",
                "test.cert:2: expected `name` or `name = value`",
            ),
            (
                "two words\n",
                "test.cert:1: expected `name` or `name = value`",
            ),
            (
                "curve\n    secret-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"",
                "test.cert:2: secret-key: invalid Z85 text",
            ),
            (
                &format!("curve\n    public-key = \"{PUBLIC}\"\n    public-key = \"{PUBLIC}\""),
                "test.cert:3: public-key given twice",
            ),
            (
                &format!("curve\n{key_line}\n"),
                "test.cert:2: unexpected text after a quoted value",
            ),
        ] {
            let e = parse_text(text)
                .err()
                .unwrap_or_else(|| panic!("{text:?} parsed"));
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert_eq!(e.to_string(), expected);
            assert!(!e.to_string().contains(SECRET));
        }
        // Parses, but says nothing usable.
        for text in [
            "",
            "# only a comment\n",
            "metadata\n",
            "public-key = \"x\"\n",
        ] {
            let e = parse_text(text)
                .and_then(|p| p.into_public(Path::new("f")))
                .unwrap_err();
            assert_eq!(e.to_string(), "f: no curve public-key");
        }
        // Arbitrary bytes never panic.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let text: String = (0..64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let alphabet = b"curve metadata\n =\"'#\tpublic-key secret-key";
                    alphabet[(state % alphabet.len() as u64) as usize] as char
                })
                .collect();
            let _ = parse_text(&text);
        }

        let dir = TempDir::new("malformed");
        let e = Certificate::load(dir.path("missing")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        std::fs::write(dir.path("binary"), [0xff, 0xfe, 0]).unwrap();
        assert_eq!(
            Certificate::load(dir.path("binary")).unwrap_err().kind(),
            ErrorKind::InvalidConfig
        );
        std::fs::write(dir.path("huge"), vec![b'#'; FILE_SIZE_MAX as usize + 1]).unwrap();
        assert!(Certificate::load(dir.path("huge")).is_err());
        let e = Certificate::generate()
            .unwrap()
            .with_meta("bad name", "v")
            .save(dir.path("meta"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn timestamps() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc_timestamp(1_795_348_800), "2026-11-22 12:00:00");
    }

    #[test]
    fn fuzz_corpus_replays_without_panic() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/certificate");
        let mut replayed = 0;
        for entry in std::fs::read_dir(dir)
            .expect("the certificate corpus")
            .flatten()
        {
            super::fuzz_certificate_text(&std::fs::read(entry.path()).unwrap());
            replayed += 1;
        }
        assert!(replayed > 0);
        // And a generated certificate, public and secret, round-trips through the entry point.
        let cert = Certificate::generate().unwrap().with_meta("name", "fuzz");
        let secret = cert.secret.clone().unwrap();
        super::fuzz_certificate_text(cert.public_text("# x\n").as_bytes());
        super::fuzz_certificate_text(cert.secret_text("# x\n", &secret).as_bytes());
    }
}
