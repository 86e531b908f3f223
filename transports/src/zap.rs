//! ZAP, the ZeroMQ Authentication Protocol (RFC 27): the request a server sends to its handler
//! about a connecting peer, and the handler's reply. Pure message (de)serialisation.
//!
//! ```text
//! request:  "1.0" | request-id | domain | address | identity | mechanism | credentials...
//! reply:    "1.0" | request-id | status-code | status-text | user-id | metadata
//! ```
//! Status codes: 200 success, 300 temporary error, 400 authentication failure, 500 internal
//! error. Handlers listen on `inproc://zeromq.zap.01`.

use bytes::Bytes;

use crate::message::Message;

/// Where ZAP handlers listen.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// The only ZAP version.
pub const ZAP_VERSION: &str = "1.0";

/// A malformed ZAP message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZapError {
    /// Wrong number of frames.
    #[error("ZAP {0}: wrong number of frames")]
    Frames(&'static str),
    /// Not version 1.0.
    #[error("ZAP version is not 1.0")]
    Version,
    /// A status code other than 200, 300, 400, 500.
    #[error("ZAP status code is not 200, 300, 400 or 500")]
    Status,
    /// A reply whose request id is not one the server asked with.
    #[error("ZAP reply's request id matches no request")]
    RequestId,
    /// A success whose metadata frame is not ZMTP metadata.
    #[error("ZAP reply's metadata is malformed")]
    Metadata,
}

impl ZapError {
    /// libzmq's `ZMQ_PROTOCOL_ERROR_ZAP_*` number for a handler's reply with this fault (the
    /// value of the server's `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`).
    pub fn zmq_protocol_error(&self) -> u32 {
        match self {
            ZapError::Frames(_) => 0x2000_0001, // MALFORMED_REPLY
            ZapError::RequestId => 0x2000_0002, // BAD_REQUEST_ID
            ZapError::Version => 0x2000_0003,   // BAD_VERSION
            ZapError::Status => 0x2000_0004,    // INVALID_STATUS_CODE
            ZapError::Metadata => 0x2000_0005,  // INVALID_METADATA
        }
    }
}

/// A ZAP request.
#[derive(Clone, PartialEq, Eq)]
pub struct ZapRequest {
    /// Correlates the reply.
    pub request_id: Bytes,
    /// The server socket's `zap_domain`.
    pub domain: String,
    /// The peer's address (IP for tcp, empty otherwise).
    pub address: String,
    /// The routing id (`ZMQ_ROUTING_ID`) of the socket that asks, as libzmq 4.3 fills this
    /// frame; empty when it has none.
    pub identity: Bytes,
    /// "NULL", "PLAIN" or "CURVE".
    pub mechanism: String,
    /// PLAIN: user name, password. CURVE: the client's 32-byte public key. NULL: none.
    pub credentials: Vec<Bytes>,
}

/// Debug never prints credentials (passwords).
impl std::fmt::Debug for ZapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapRequest")
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials.len())
            .finish_non_exhaustive()
    }
}

impl ZapRequest {
    /// The request as frames.
    pub fn to_message(&self) -> Message {
        let mut m = Message::from_frames([
            Bytes::from_static(ZAP_VERSION.as_bytes()),
            self.request_id.clone(),
            Bytes::from(self.domain.clone()),
            Bytes::from(self.address.clone()),
            self.identity.clone(),
            Bytes::from(self.mechanism.clone()),
        ]);
        for c in &self.credentials {
            m.push(c.clone());
        }
        m
    }

    /// Parse a request (what a handler receives).
    pub fn parse(msg: &Message) -> Result<ZapRequest, ZapError> {
        let f = msg.frames();
        if f.len() < 6 {
            return Err(ZapError::Frames("request"));
        }
        if f[0] != ZAP_VERSION.as_bytes() {
            return Err(ZapError::Version);
        }
        let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
        Ok(ZapRequest {
            request_id: f[1].clone(),
            domain: text(&f[2]),
            address: text(&f[3]),
            identity: f[4].clone(),
            mechanism: text(&f[5]),
            credentials: f[6..].to_vec(),
        })
    }

    /// A reply to this request.
    pub fn reply(&self, status_code: u16, status_text: &str, user_id: &str) -> ZapReply {
        ZapReply {
            request_id: self.request_id.clone(),
            status_code,
            status_text: status_text.to_owned(),
            user_id: user_id.to_owned(),
            metadata: Bytes::new(),
        }
    }
}

/// A ZAP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZapReply {
    /// The request's id.
    pub request_id: Bytes,
    /// 200, 300, 400 or 500.
    pub status_code: u16,
    /// Why, for logs.
    pub status_text: String,
    /// The authenticated user's id (becomes the `User-Id` property of the peer's messages).
    pub user_id: String,
    /// ZMTP-encoded metadata for the peer's messages.
    pub metadata: Bytes,
}

impl ZapReply {
    /// Whether the peer is accepted.
    pub fn is_success(&self) -> bool {
        self.status_code == 200
    }

    /// The reply as frames.
    pub fn to_message(&self) -> Message {
        Message::from_frames([
            Bytes::from_static(ZAP_VERSION.as_bytes()),
            self.request_id.clone(),
            Bytes::from(self.status_code.to_string()),
            Bytes::from(self.status_text.clone()),
            Bytes::from(self.user_id.clone()),
            self.metadata.clone(),
        ])
    }

    /// Parse a reply (what a server receives).
    pub fn parse(msg: &Message) -> Result<ZapReply, ZapError> {
        let f = msg.frames();
        if f.len() != 6 {
            return Err(ZapError::Frames("reply"));
        }
        if f[0] != ZAP_VERSION.as_bytes() {
            return Err(ZapError::Version);
        }
        let status_code = match &f[2][..] {
            b"200" => 200,
            b"300" => 300,
            b"400" => 400,
            b"500" => 500,
            _ => return Err(ZapError::Status),
        };
        Ok(ZapReply {
            request_id: f[1].clone(),
            status_code,
            status_text: String::from_utf8_lossy(&f[3]).into_owned(),
            user_id: String::from_utf8_lossy(&f[4]).into_owned(),
            metadata: f[5].clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rfc27_layout() {
        let req = ZapRequest {
            request_id: Bytes::from_static(b"7"),
            domain: "global".into(),
            address: "192.0.2.1".into(),
            identity: Bytes::new(),
            mechanism: "PLAIN".into(),
            credentials: vec![Bytes::from_static(b"admin"), Bytes::from_static(b"secret")],
        };
        let m = req.to_message();
        assert_eq!(m.frames()[0], "1.0");
        assert_eq!(m.frames()[5], "PLAIN");
        assert_eq!(ZapRequest::parse(&m).unwrap(), req);
        assert!(!format!("{req:?}").contains("secret"));
        let reply = req.reply(200, "OK", "admin");
        assert_eq!(ZapReply::parse(&reply.to_message()).unwrap(), reply);
        assert!(reply.is_success());
    }

    #[test]
    fn malformed_replies() {
        assert_eq!(
            ZapReply::parse(&Message::single("1.0")),
            Err(ZapError::Frames("reply"))
        );
        let bad = Message::from_frames(["2.0", "1", "200", "", "", ""]);
        assert_eq!(ZapReply::parse(&bad), Err(ZapError::Version));
        let bad = Message::from_frames(["1.0", "1", "201", "", "", ""]);
        assert_eq!(ZapReply::parse(&bad), Err(ZapError::Status));
    }
}
