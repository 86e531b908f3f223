//! The 64-byte ZMTP 3 greeting (RFC 37 §"Version Negotiation", §"Security Handshake").
//!
//! ```text
//! signature  0xFF, 8 padding bytes, 0x7F          (10 bytes)
//! version    major 3, minor 1                     (2 bytes)
//! mechanism  name, NUL-padded                     (20 bytes)
//! as-server  0 or 1                               (1 byte)
//! filler     zeros                                (31 bytes)
//! ```
//! libzmq sends the signature, then its major version once it has seen the peer's signature, then the
//! rest once it has the peer's major version; [`crate::Connection`] does the same.

use crate::error::ProtocolError;

/// Total greeting length.
pub const GREETING_LEN: usize = 64;
/// Length of the signature that opens it.
pub const SIGNATURE_LEN: usize = 10;
/// Offset of the major version byte.
pub const MAJOR_OFFSET: usize = 10;
/// Length of the mechanism name field.
pub const MECHANISM_LEN: usize = 20;

/// Our signature: 0xFF, 8 padding bytes (libzmq sends zeros then 0x01 in the 9th), 0x7F.
pub const SIGNATURE: [u8; SIGNATURE_LEN] = [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F];

/// A parsed greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for every peer ringmq accepts).
    pub major: u8,
    /// Minor version: 0 for ZMTP 3.0, 1 for 3.1.
    pub minor: u8,
    /// Mechanism name field, NUL-padded.
    pub mechanism: [u8; MECHANISM_LEN],
    /// The as-server flag (meaningful for PLAIN and CURVE).
    pub as_server: bool,
}

impl Greeting {
    /// The ZMTP 3.1 greeting for `mechanism` ("NULL", "PLAIN", "CURVE").
    pub fn new(mechanism: &str, as_server: bool) -> Greeting {
        let mut name = [0u8; MECHANISM_LEN];
        let n = mechanism.len().min(MECHANISM_LEN);
        name[..n].copy_from_slice(&mechanism.as_bytes()[..n]);
        Greeting {
            major: 3,
            minor: 1,
            mechanism: name,
            as_server,
        }
    }

    /// The mechanism name without padding (printable ASCII; anything else escaped).
    pub fn mechanism_name(&self) -> String {
        let end = self
            .mechanism
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(MECHANISM_LEN);
        crate::command::printable(&self.mechanism[..end])
    }

    /// The full 64 bytes.
    pub fn encode(&self) -> [u8; GREETING_LEN] {
        let mut out = [0u8; GREETING_LEN];
        out[..SIGNATURE_LEN].copy_from_slice(&SIGNATURE);
        out[10] = self.major;
        out[11] = self.minor;
        out[12..32].copy_from_slice(&self.mechanism);
        out[32] = u8::from(self.as_server);
        out
    }

    /// Parse 64 received bytes. Refuses a bad signature and legacy (major < 3) peers.
    pub fn decode(bytes: &[u8; GREETING_LEN]) -> Result<Greeting, ProtocolError> {
        check_signature(&bytes[..SIGNATURE_LEN])?;
        check_major(bytes[MAJOR_OFFSET])?;
        let mut mechanism = [0u8; MECHANISM_LEN];
        mechanism.copy_from_slice(&bytes[12..32]);
        if bytes[32] > 1 {
            return Err(ProtocolError::MalformedGreeting(
                "as-server byte is not 0 or 1",
            ));
        }
        Ok(Greeting {
            major: bytes[MAJOR_OFFSET],
            minor: bytes[11],
            mechanism,
            as_server: bytes[32] == 1,
        })
    }
}

/// Check the first bytes received from a peer. A first byte other than 0xFF, or a 10th byte with its
/// low bit clear, marks an unversioned ZMTP 1.0 peer (libzmq's test), which we refuse.
pub fn check_signature(bytes: &[u8]) -> Result<(), ProtocolError> {
    if let Some(&first) = bytes.first() {
        if first != 0xFF {
            return Err(ProtocolError::LegacyPeer { major: 1 });
        }
    }
    if let Some(&tenth) = bytes.get(9) {
        if tenth & 0x01 == 0 {
            return Err(ProtocolError::LegacyPeer { major: 1 });
        }
        if tenth != 0x7F {
            return Err(ProtocolError::MalformedGreeting(
                "signature does not end in 0x7F",
            ));
        }
    }
    Ok(())
}

/// Check the peer's major version: ZMTP 2.0 (major 1 or 2 on the wire) is refused.
pub fn check_major(major: u8) -> Result<(), ProtocolError> {
    if major < 3 {
        // On the wire 0x01 is ZMTP 2.0 ("revision 1"); report the protocol's version number.
        return Err(ProtocolError::LegacyPeer {
            major: major.max(1) + 1,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_greeting_bytes() {
        // The 64 bytes libzmq 4.3 sends for a NULL-mechanism socket.
        let g = Greeting::new("NULL", false).encode();
        let mut expected = [0u8; 64];
        expected[..12].copy_from_slice(b"\xff\x00\x00\x00\x00\x00\x00\x00\x01\x7f\x03\x01");
        expected[12..16].copy_from_slice(b"NULL");
        assert_eq!(g, expected);
        let back = Greeting::decode(&g).unwrap();
        assert_eq!(back.mechanism_name(), "NULL");
        assert_eq!(back.minor, 1);
    }

    #[test]
    fn legacy_peers_refused() {
        // ZMTP 1.0: starts with a length byte, not 0xFF.
        assert_eq!(
            check_signature(&[0x05]),
            Err(ProtocolError::LegacyPeer { major: 1 })
        );
        // ZMTP 1.0 with a long length: 0xFF then a 10th byte with the low bit clear.
        assert_eq!(
            check_signature(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]),
            Err(ProtocolError::LegacyPeer { major: 1 })
        );
        // ZMTP 2.0 sends revision 0x01 in the version byte.
        assert_eq!(check_major(1), Err(ProtocolError::LegacyPeer { major: 2 }));
        assert!(check_major(3).is_ok());
    }

    #[test]
    fn bad_as_server_refused() {
        let mut g = Greeting::new("NULL", false).encode();
        g[32] = 7;
        assert!(Greeting::decode(&g).is_err());
    }
}
