//! The security flags every socket command shares (`--curve-server`, `--plain-user`, ...): which
//! mechanism a socket uses, in which role, with which keys, and which peers a server accepts.
//!
//! Keys come from the command line as Z85 text or from czmq zcert certificate files
//! (`ringmq keygen --out NAME` writes them). Problems are one-line [`Failure`]s that never quote a
//! secret key.

use std::path::Path;

use clap::Args;
use ringmq::{Authorizer, Certificate, IpNet, KeyPair, Options, PublicKey, SecretKey};

use crate::Failure;

/// The 85 characters of Z85 (RFC 32), in value order.
const Z85_ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Where `--help` lists the security flags.
const SECURITY: &str = "Security";

/// Length of a CURVE key written as Z85.
const Z85_KEY_LEN: usize = 40;

/// How a socket authenticates its peers, and is authenticated by them. Flattened into every
/// command that opens one socket.
///
/// A Z85|FILE value is a key when it is exactly 40 Z85 characters and no file of that name
/// exists; otherwise it is a czmq certificate file.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// Be a CURVE server (ZMQ_CURVE_SERVER): encrypt every connection and authenticate clients
    /// by their keys. Needs --curve-secret-key.
    #[arg(long, help_heading = SECURITY)]
    pub curve_server: bool,
    /// This socket's CURVE secret key: Z85, a secret certificate (NAME_secret), or a public
    /// certificate whose NAME_secret sits beside it. Prefer a file: a key on the command line
    /// shows in `ps`. A client without it uses a fresh key pair and prints the public key.
    #[arg(long, help_heading = SECURITY, value_name = "Z85|FILE", allow_hyphen_values = true)]
    pub curve_secret_key: Option<String>,
    /// This socket's CURVE public key, Z85 or a certificate; optional, since it follows from the
    /// secret key: when given, it must match it.
    #[arg(long, help_heading = SECURITY, value_name = "Z85|FILE", allow_hyphen_values = true)]
    pub curve_public_key: Option<String>,
    /// Be a CURVE client of the server with this public key (ZMQ_CURVE_SERVERKEY): Z85 or the
    /// server's public certificate.
    #[arg(long, help_heading = SECURITY, value_name = "Z85|FILE", allow_hyphen_values = true)]
    pub curve_serverkey: Option<String>,
    /// Be a PLAIN client logging in as USER (needs --plain-password). PLAIN sends both in clear
    /// text: use it on ipc or inside an encrypted tunnel.
    #[arg(long, help_heading = SECURITY, value_name = "USER")]
    pub plain_user: Option<String>,
    /// The PLAIN client's password (it shows in `ps`, and crosses the network in clear text).
    #[arg(long, help_heading = SECURITY, value_name = "PASSWORD", allow_hyphen_values = true)]
    pub plain_password: Option<String>,
    /// Be a PLAIN server (ZMQ_PLAIN_SERVER); --allow-user and --password-file say who may log in.
    #[arg(long, help_heading = SECURITY)]
    pub plain_server: bool,
    /// CURVE server: accept only clients with this public key (Z85 or a public certificate;
    /// repeatable). Default: any client that knows the server's key.
    #[arg(long = "allow-key", help_heading = SECURITY, value_name = "Z85|FILE", allow_hyphen_values = true)]
    pub allow_keys: Vec<String>,
    /// PLAIN server: accept USER with PASSWORD (repeatable).
    #[arg(long = "allow-user", help_heading = SECURITY, value_name = "USER:PASSWORD", allow_hyphen_values = true)]
    pub allow_users: Vec<String>,
    /// PLAIN server: accept the users of FILE, one `user:hash` a line (Argon2id hashes as
    /// libsodium's crypto_pwhash_str writes them; `#` comments).
    #[arg(long, help_heading = SECURITY, value_name = "FILE")]
    pub password_file: Option<String>,
    /// CURVE or PLAIN server: accept peers only from this address or network, e.g. 10.0.0.0/8
    /// (repeatable).
    #[arg(long = "allow-address", help_heading = SECURITY, value_name = "CIDR")]
    pub allow_addresses: Vec<String>,
}

/// The mechanism a command line asks for, and the socket's side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    CurveServer,
    CurveClient,
    PlainServer,
    PlainClient,
}

impl Role {
    fn is_plain(self) -> bool {
        matches!(self, Role::PlainServer | Role::PlainClient)
    }

    fn is_curve(self) -> bool {
        !self.is_plain()
    }
}

impl SecurityArgs {
    /// `options` with the mechanism, keys and authorizer the flags ask for, for a socket attached
    /// to `endpoint`. Prints on standard error an ephemeral client key it made, and a warning
    /// when passwords would cross tcp in clear text.
    pub fn apply(&self, options: Options, endpoint: &str) -> Result<Options, Failure> {
        let Some((role, role_flag)) = self.role()? else {
            self.check_flags(None, "")?;
            return Ok(options);
        };
        self.check_flags(Some(role), role_flag)?;
        let authorizer = self.authorizer()?;
        // Printed once nothing can fail any more, so an error is the only line.
        let mut notes = Vec::new();
        if role.is_plain() && endpoint.starts_with("tcp://") {
            notes.push(String::from(
                "warning: PLAIN sends user names and passwords in clear text over tcp; use \
                 CURVE, or PLAIN only on ipc or inside an encrypted tunnel",
            ));
        }
        let options = match role {
            Role::CurveServer => {
                let keys = self.own_keys()?.ok_or_else(|| {
                    Failure::new(
                        "--curve-server needs --curve-secret-key Z85|FILE \
                         (`ringmq keygen --out NAME` makes one)",
                    )
                })?;
                options.curve_server(keys)
            }
            Role::CurveClient => {
                let server_key = self.curve_serverkey.as_deref().unwrap_or_default();
                let server_key = public_key("--curve-serverkey", server_key)?;
                let keys = match self.own_keys()? {
                    Some(keys) => keys,
                    None => {
                        let keys = ringmq::generate_keypair()?;
                        notes.push(format!(
                            "ephemeral CURVE client public key '{}' (a server with an \
                             allow-list needs it in --allow-key)",
                            keys.public
                        ));
                        keys
                    }
                };
                options.curve_client(keys, server_key)
            }
            Role::PlainServer => {
                if self.allow_users.is_empty() && self.password_file.is_none() {
                    notes.push(String::from(
                        "warning: a PLAIN server without --allow-user or --password-file \
                         accepts any user name and password",
                    ));
                }
                options.plain_server()
            }
            Role::PlainClient => match (&self.plain_user, &self.plain_password) {
                (Some(user), Some(password)) => options.plain_client(user, password),
                (Some(_), None) => return Err(Failure::new("--plain-user needs --plain-password")),
                (None, _) => return Err(Failure::new("--plain-password needs --plain-user")),
            },
        };
        for note in notes {
            eprintln!("ringmq: {note}");
        }
        Ok(match authorizer {
            Some(authorizer) => options.authorize(authorizer),
            None => options,
        })
    }

    /// The one role the flags ask for (none: NULL), with the flag that asks for it. Two roles
    /// conflict: a socket has one mechanism, on one side.
    fn role(&self) -> Result<Option<(Role, &'static str)>, Failure> {
        let plain_client_flag = if self.plain_user.is_some() {
            Some("--plain-user")
        } else if self.plain_password.is_some() {
            Some("--plain-password")
        } else {
            None
        };
        let asked: Vec<(Role, &'static str)> = [
            (self.curve_server, Role::CurveServer, "--curve-server"),
            (
                self.curve_serverkey.is_some(),
                Role::CurveClient,
                "--curve-serverkey",
            ),
            (self.plain_server, Role::PlainServer, "--plain-server"),
            (
                plain_client_flag.is_some(),
                Role::PlainClient,
                plain_client_flag.unwrap_or_default(),
            ),
        ]
        .into_iter()
        .filter(|&(asked, _, _)| asked)
        .map(|(_, role, flag)| (role, flag))
        .collect();
        match asked.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            [(_, first), (_, second), ..] => Err(Failure::new(format!(
                "{first} cannot be used with {second}: a socket has one security mechanism, \
                 as either client or server"
            ))),
        }
    }

    /// Refuse flags that do not apply to `role` (asked for by `role_flag`).
    fn check_flags(&self, role: Option<Role>, role_flag: &str) -> Result<(), Failure> {
        let curve = role.is_some_and(Role::is_curve);
        let server = matches!(role, Some(Role::CurveServer | Role::PlainServer));
        let checks = [
            (
                self.curve_secret_key.is_some(),
                "--curve-secret-key",
                curve,
                "--curve-server or --curve-serverkey",
            ),
            (
                self.curve_public_key.is_some(),
                "--curve-public-key",
                curve,
                "--curve-server or --curve-serverkey",
            ),
            (
                !self.allow_keys.is_empty(),
                "--allow-key",
                role == Some(Role::CurveServer),
                "--curve-server",
            ),
            (
                !self.allow_users.is_empty(),
                "--allow-user",
                role == Some(Role::PlainServer),
                "--plain-server",
            ),
            (
                self.password_file.is_some(),
                "--password-file",
                role == Some(Role::PlainServer),
                "--plain-server",
            ),
            (
                !self.allow_addresses.is_empty(),
                "--allow-address",
                server,
                "--curve-server or --plain-server",
            ),
        ];
        for (given, flag, applies, needs) in checks {
            if given && !applies {
                return Err(Failure::new(match role {
                    None => format!("{flag} needs {needs}"),
                    Some(_) => format!("{flag} cannot be used with {role_flag} (it needs {needs})"),
                }));
            }
        }
        Ok(())
    }

    /// This socket's long-term key pair, from --curve-secret-key (checked against
    /// --curve-public-key); `None` without --curve-secret-key.
    fn own_keys(&self) -> Result<Option<KeyPair>, Failure> {
        let Some(secret) = &self.curve_secret_key else {
            if self.curve_public_key.is_some() {
                return Err(Failure::new(
                    "--curve-public-key needs --curve-secret-key: a public key alone cannot \
                     open a CURVE connection",
                ));
            }
            return Ok(None);
        };
        let keys = key_pair(secret)?;
        if let Some(public) = &self.curve_public_key {
            if public_key("--curve-public-key", public)? != keys.public {
                return Err(Failure::new(
                    "--curve-public-key does not belong to --curve-secret-key",
                ));
            }
        }
        Ok(Some(keys))
    }

    /// The authorizer the allow-lists make; `None` when there are none (any peer is accepted).
    fn authorizer(&self) -> Result<Option<Authorizer>, Failure> {
        let mut authorizer = Authorizer::new();
        for key in &self.allow_keys {
            authorizer = authorizer.allow_curve_key(public_key("--allow-key", key)?);
        }
        for entry in &self.allow_users {
            let (user, password) = entry.split_once(':').ok_or_else(|| {
                // The entry holds a password: name only the flag.
                Failure::new("--allow-user takes USER:PASSWORD, with a colon")
            })?;
            if user.is_empty() {
                return Err(Failure::new("--allow-user: the user name is empty"));
            }
            authorizer = authorizer.allow_plain_user(user, password)?;
        }
        if let Some(file) = &self.password_file {
            authorizer = authorizer.with_password_file(file)?;
        }
        for net in &self.allow_addresses {
            authorizer = authorizer
                .allow_address(IpNet::parse(net).map_err(|e| flag_error("--allow-address", e))?);
        }
        Ok((!authorizer.is_empty()).then_some(authorizer))
    }
}

/// What a Z85|FILE argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource<'a> {
    /// A key written out: exactly 40 Z85 characters, and no such file exists.
    Z85(&'a str),
    /// A certificate file (which may not exist).
    File(&'a Path),
}

fn key_source(text: &str) -> KeySource<'_> {
    let looks_like_key =
        text.len() == Z85_KEY_LEN && text.bytes().all(|b| Z85_ALPHABET.contains(&b));
    if looks_like_key && !Path::new(text).exists() {
        KeySource::Z85(text)
    } else {
        KeySource::File(Path::new(text))
    }
}

/// `flag: error`, one line.
fn flag_error(flag: &str, e: impl std::fmt::Display) -> Failure {
    Failure::new(format!("{flag}: {e}"))
}

/// A file that is not there, for a value that is not a key either.
fn neither_key_nor_file(flag: &str, shown: &str) -> Failure {
    Failure::new(format!(
        "{flag} {shown} is neither a 40-character Z85 key nor an existing certificate file"
    ))
}

/// A public key given to `flag`: Z85, or the public key of a certificate file.
fn public_key(flag: &str, text: &str) -> Result<PublicKey, Failure> {
    match key_source(text) {
        KeySource::Z85(z85) => PublicKey::from_z85(z85).map_err(|e| flag_error(flag, e)),
        KeySource::File(path) if !path.exists() => {
            Err(neither_key_nor_file(flag, &format!("{text:?}")))
        }
        KeySource::File(path) => Certificate::load_public(path)
            .map(|cert| cert.public)
            .map_err(|e| flag_error(flag, e)),
    }
}

/// The key pair of a --curve-secret-key value: a Z85 secret key, a secret certificate, or a
/// public certificate with its `_secret` sibling. Errors never show the value (it may be a
/// mistyped secret key), except a path that exists.
fn key_pair(text: &str) -> Result<KeyPair, Failure> {
    const FLAG: &str = "--curve-secret-key";
    match key_source(text) {
        KeySource::Z85(z85) => SecretKey::from_z85(z85)
            .map(KeyPair::from_secret)
            .map_err(|e| flag_error(FLAG, e)),
        KeySource::File(path) if !path.exists() => Err(neither_key_nor_file(
            FLAG,
            &format!("(a value of {} characters)", text.chars().count()),
        )),
        KeySource::File(path) => {
            let cert = Certificate::load(path).map_err(|e| flag_error(FLAG, e))?;
            cert.keypair().ok_or_else(|| {
                Failure::new(format!(
                    "{FLAG}: {} holds no secret key, and {} does not exist: give the secret \
                     certificate",
                    path.display(),
                    Certificate::secret_path(path).display()
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The "server" key pair of libzmq's tests/testutil_security.hpp.
    const SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
    const PUBLIC: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

    fn args() -> SecurityArgs {
        SecurityArgs::default()
    }

    fn error(args: &SecurityArgs) -> String {
        args.apply(Options::default(), "ipc://@x")
            .expect_err("flags accepted")
            .to_string()
    }

    #[test]
    fn z85_or_file() {
        assert_eq!(key_source(PUBLIC), KeySource::Z85(PUBLIC));
        assert_eq!(
            key_source("server.cert"),
            KeySource::File(Path::new("server.cert"))
        );
        // 40 characters, one outside the alphabet (a space).
        let spaced = format!("{} ", &PUBLIC[..39]);
        assert_eq!(key_source(&spaced), KeySource::File(Path::new(&spaced)));
        // A file of that name wins.
        let prefix = std::env::temp_dir().join(format!("k{}", std::process::id()));
        let prefix = prefix.display().to_string();
        let name = format!(
            "{prefix}{}",
            "k".repeat(Z85_KEY_LEN.saturating_sub(prefix.len()))
        );
        if name.len() == Z85_KEY_LEN && name.bytes().all(|b| Z85_ALPHABET.contains(&b)) {
            assert_eq!(key_source(&name), KeySource::Z85(&name));
            std::fs::write(&name, "").unwrap();
            let source = key_source(&name);
            std::fs::remove_file(&name).unwrap();
            assert_eq!(source, KeySource::File(Path::new(&name)));
        }
        assert_eq!(Z85_ALPHABET.len(), 85);
    }

    #[test]
    fn keys_from_z85() {
        assert_eq!(public_key("--allow-key", PUBLIC).unwrap().to_z85(), PUBLIC);
        assert_eq!(key_pair(SECRET).unwrap().public.to_z85(), PUBLIC);
        let e = key_pair("not-a-key").unwrap_err().to_string();
        assert_eq!(
            e,
            "--curve-secret-key (a value of 9 characters) is neither a 40-character Z85 key nor \
             an existing certificate file"
        );
        assert!(public_key("--curve-serverkey", "nope")
            .unwrap_err()
            .to_string()
            .contains("\"nope\""));
    }

    #[test]
    fn roles_and_keys() {
        let server = SecurityArgs {
            curve_server: true,
            curve_secret_key: Some(SECRET.into()),
            curve_public_key: Some(PUBLIC.into()),
            allow_keys: vec![PUBLIC.into()],
            ..args()
        };
        let options = server
            .apply(Options::default(), "tcp://127.0.0.1:1")
            .unwrap();
        assert!(
            matches!(&options.security, ringmq::Mechanism::CurveServer { keys } if keys.public.to_z85() == PUBLIC)
        );
        assert!(options.authorizer.is_some());

        let client = SecurityArgs {
            curve_serverkey: Some(PUBLIC.into()),
            ..args()
        };
        let options = client
            .apply(Options::default(), "tcp://127.0.0.1:1")
            .unwrap();
        assert!(
            matches!(&options.security, ringmq::Mechanism::CurveClient { server_key, .. } if server_key.to_z85() == PUBLIC)
        );
        assert!(options.authorizer.is_none());

        let null = args().apply(Options::default(), "tcp://x:1").unwrap();
        assert!(matches!(null.security, ringmq::Mechanism::Null));
    }

    #[test]
    fn conflicts_and_misplaced_flags() {
        for (flags, expected) in [
            (
                SecurityArgs {
                    curve_server: true,
                    plain_user: Some("u".into()),
                    ..args()
                },
                "--curve-server cannot be used with --plain-user: a socket has one security \
                 mechanism, as either client or server",
            ),
            (
                SecurityArgs {
                    curve_serverkey: Some(PUBLIC.into()),
                    plain_server: true,
                    ..args()
                },
                "--curve-serverkey cannot be used with --plain-server",
            ),
            (
                SecurityArgs {
                    curve_server: true,
                    ..args()
                },
                "--curve-server needs --curve-secret-key Z85|FILE",
            ),
            (
                SecurityArgs {
                    allow_keys: vec![PUBLIC.into()],
                    ..args()
                },
                "--allow-key needs --curve-server",
            ),
            (
                SecurityArgs {
                    curve_serverkey: Some(PUBLIC.into()),
                    allow_keys: vec![PUBLIC.into()],
                    ..args()
                },
                "--allow-key cannot be used with --curve-serverkey (it needs --curve-server)",
            ),
            (
                SecurityArgs {
                    plain_server: true,
                    curve_secret_key: Some(SECRET.into()),
                    ..args()
                },
                "--curve-secret-key cannot be used with --plain-server",
            ),
            (
                SecurityArgs {
                    allow_users: vec!["a:b".into()],
                    curve_server: true,
                    curve_secret_key: Some(SECRET.into()),
                    ..args()
                },
                "--allow-user cannot be used with --curve-server (it needs --plain-server)",
            ),
            (
                SecurityArgs {
                    plain_user: Some("u".into()),
                    ..args()
                },
                "--plain-user needs --plain-password",
            ),
            (
                SecurityArgs {
                    plain_password: Some("p".into()),
                    ..args()
                },
                "--plain-password needs --plain-user",
            ),
            (
                SecurityArgs {
                    plain_server: true,
                    allow_users: vec!["nocolon".into()],
                    ..args()
                },
                "--allow-user takes USER:PASSWORD",
            ),
            (
                SecurityArgs {
                    curve_serverkey: Some(PUBLIC.into()),
                    curve_public_key: Some(PUBLIC.into()),
                    ..args()
                },
                "--curve-public-key needs --curve-secret-key",
            ),
            (
                SecurityArgs {
                    curve_server: true,
                    curve_secret_key: Some(SECRET.into()),
                    curve_public_key: Some(ringmq::generate_keypair().unwrap().public.to_z85()),
                    ..args()
                },
                "--curve-public-key does not belong to --curve-secret-key",
            ),
            (
                SecurityArgs {
                    plain_server: true,
                    allow_addresses: vec!["10.0.0.0/33".into()],
                    ..args()
                },
                "--allow-address: \"10.0.0.0/33\" is not an address or CIDR",
            ),
            (
                SecurityArgs {
                    allow_addresses: vec!["10.0.0.0/8".into()],
                    ..args()
                },
                "--allow-address needs --curve-server or --plain-server",
            ),
        ] {
            let e = error(&flags);
            assert!(e.starts_with(expected), "{e}");
            assert!(!e.contains('\n') && !e.contains(SECRET), "{e}");
        }
    }
}
