//! Metadata properties carried by READY (and INITIATE): `name-len name value-len(4, big-endian) value`.

use bytes::{BufMut, Bytes};

use crate::error::DecodeError;

/// An ordered list of metadata properties. Names compare case-insensitively (RFC 37).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    properties: Vec<(String, Bytes)>,
}

/// Most properties a peer may send; more is a protocol error, so a READY cannot allocate unboundedly.
pub const PROPERTIES_MAX: usize = 64;

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Add a property. Names are 1 to 255 bytes of `[A-Za-z0-9.+_-]`.
    pub fn insert(&mut self, name: &str, value: impl Into<Bytes>) {
        debug_assert!(valid_name(name.as_bytes()), "invalid metadata name");
        self.properties.push((name.to_owned(), value.into()));
    }

    /// Add a property this side makes up, under a name ZMTP does not allow (so no peer can
    /// send it), such as [`crate::SOURCE_FD_PROPERTY`]. It is never encoded for the wire.
    pub fn insert_local(&mut self, name: &str, value: impl Into<Bytes>) {
        debug_assert!(
            !valid_name(name.as_bytes()),
            "a local name must not be a ZMTP name"
        );
        self.properties.push((name.to_owned(), value.into()));
    }

    /// The value of `name`, case-insensitively.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.properties.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Append the wire form.
    pub fn encode(&self, out: &mut impl BufMut) {
        for (name, value) in self.wire_properties() {
            out.put_u8(name.len() as u8);
            out.put_slice(name.as_bytes());
            out.put_u32(value.len() as u32);
            out.put_slice(value);
        }
    }

    /// Length of the wire form.
    pub fn encoded_len(&self) -> usize {
        self.wire_properties()
            .map(|(n, v)| 1 + n.len() + 4 + v.len())
            .sum()
    }

    /// The properties that go on the wire: all but those added with [`Metadata::insert_local`].
    fn wire_properties(&self) -> impl Iterator<Item = &(String, Bytes)> {
        self.properties
            .iter()
            .filter(|(n, _)| valid_name(n.as_bytes()))
    }

    /// Parse the wire form; `data` is a slice of a received frame (values are zero-copy).
    pub fn decode(data: &Bytes) -> Result<Metadata, DecodeError> {
        let mut properties = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            if properties.len() >= PROPERTIES_MAX {
                return Err(DecodeError::MalformedMetadata("too many properties"));
            }
            let name_len = usize::from(data[pos]);
            pos += 1;
            if name_len == 0 {
                return Err(DecodeError::MalformedMetadata("empty property name"));
            }
            let name = data
                .get(pos..pos + name_len)
                .ok_or(DecodeError::MalformedMetadata("truncated property name"))?;
            if !valid_name(name) {
                return Err(DecodeError::MalformedMetadata("invalid property name"));
            }
            // valid_name admits ASCII only.
            let name = String::from_utf8_lossy(name).into_owned();
            pos += name_len;
            let len_bytes = data
                .get(pos..pos + 4)
                .ok_or(DecodeError::MalformedMetadata("truncated value length"))?;
            let value_len =
                u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
            pos += 4;
            let value_len = value_len as usize;
            if value_len > data.len() - pos {
                return Err(DecodeError::MalformedMetadata(
                    "value longer than the command",
                ));
            }
            properties.push((name, data.slice(pos..pos + value_len)));
            pos += value_len;
        }
        Ok(Metadata { properties })
    }
}

fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'+'))
}

/// Debug shows names and value sizes; `Identity` and user properties may be sensitive.
impl std::fmt::Debug for Metadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in &self.properties {
            if n.eq_ignore_ascii_case("Socket-Type") {
                m.entry(n, &String::from_utf8_lossy(v));
            } else {
                m.entry(n, &format_args!("<{} bytes>", v.len()));
            }
        }
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn wire_form() {
        let mut m = Metadata::new();
        m.insert("Socket-Type", &b"PUSH"[..]);
        let mut out = BytesMut::new();
        m.encode(&mut out);
        assert_eq!(&out[..], b"\x0bSocket-Type\x00\x00\x00\x04PUSH");
        assert_eq!(out.len(), m.encoded_len());
        let back = Metadata::decode(&out.freeze()).unwrap();
        assert_eq!(back.get("socket-type").unwrap(), "PUSH");
    }

    #[test]
    fn bad_lengths_are_errors() {
        for bad in [
            &b"\x00"[..],
            b"\x05Sock",
            b"\x01A\x00\x00",
            b"\x01A\xff\xff\xff\xff",
            b"\x01 \x00\x00\x00\x00",
        ] {
            assert!(
                Metadata::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn too_many_properties() {
        let mut out = BytesMut::new();
        for _ in 0..=PROPERTIES_MAX {
            out.extend_from_slice(b"\x01A\x00\x00\x00\x00");
        }
        assert!(Metadata::decode(&out.freeze()).is_err());
    }
}
