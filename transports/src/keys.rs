//! CURVE keys: 32-byte X25519 keys, printed as 40-character Z85 (RFC 32).
//!
//! [`SecretKey`] zeroizes its bytes on drop and never prints them: `Debug` shows `SecretKey(..)`.

use zeroize::Zeroize;

use crate::z85;

/// Length of a CURVE key in bytes.
pub const KEY_LEN: usize = 32;

/// A CURVE public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; KEY_LEN]);

/// A CURVE secret key. Zeroized on drop; its bytes never appear in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_LEN]);

/// A key that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 40 characters of Z85, nor 32 bytes.
    #[error("a CURVE key is 40 Z85 characters or 32 bytes, got {0} characters")]
    BadLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("invalid Z85 text")]
    BadZ85,
}

impl PublicKey {
    /// Parse 40 Z85 characters.
    pub fn from_z85(text: &str) -> Result<PublicKey, KeyError> {
        Ok(PublicKey(decode_key(text)?))
    }

    /// The 40-character Z85 form.
    pub fn to_z85(&self) -> String {
        z85::encode(&self.0).expect("32 bytes is a multiple of 4")
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl SecretKey {
    /// Wrap raw bytes (the caller's copy should be zeroized by the caller).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(bytes)
    }

    /// Parse 40 Z85 characters.
    pub fn from_z85(text: &str) -> Result<SecretKey, KeyError> {
        Ok(SecretKey(decode_key(text)?))
    }

    /// The 40-character Z85 form, for writing a certificate file. Handle with care.
    pub fn to_z85(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(z85::encode(&self.0).expect("32 bytes is a multiple of 4"))
    }

    /// The raw bytes, for the crypto.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The public key that goes with this secret key (X25519 base-point multiplication).
    pub fn public_key(&self) -> PublicKey {
        let mut public = [0u8; KEY_LEN];
        dryoc::classic::crypto_core::crypto_scalarmult_base(&mut public, &self.0);
        PublicKey(public)
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A long-term CURVE key pair.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The public key (shareable).
    pub public: PublicKey,
    /// The secret key.
    pub secret: SecretKey,
}

impl KeyPair {
    /// A key pair from 32 random bytes (the caller supplies the randomness: this crate does no
    /// I/O).
    pub fn from_random(mut random: [u8; KEY_LEN]) -> KeyPair {
        let secret = SecretKey::from_bytes(random);
        random.zeroize();
        KeyPair {
            public: secret.public_key(),
            secret,
        }
    }

    /// The pair of a known secret key.
    pub fn from_secret(secret: SecretKey) -> KeyPair {
        KeyPair {
            public: secret.public_key(),
            secret,
        }
    }
}

fn decode_key(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let text = text.trim();
    if text.len() != 40 {
        return Err(KeyError::BadLength(text.len()));
    }
    let bytes = z85::decode(text).ok_or(KeyError::BadZ85)?;
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_never_prints() {
        let kp = KeyPair::from_random([7u8; 32]);
        assert_eq!(format!("{:?}", kp.secret), "SecretKey(..)");
        assert!(!format!("{kp:?}").contains(&*kp.secret.to_z85()));
    }

    #[test]
    fn known_key_pair() {
        // The "server" key pair of libzmq's tests/testutil_security and czmq's examples:
        // secret "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6", public "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7".
        let secret = SecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
        assert_eq!(
            secret.public_key().to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
    }

    #[test]
    fn bad_keys() {
        assert_eq!(PublicKey::from_z85("short"), Err(KeyError::BadLength(5)));
        assert_eq!(
            PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\""),
            Err(KeyError::BadZ85)
        );
    }
}
