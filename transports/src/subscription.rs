//! The subscription message, the one home of its codec: a single frame whose first byte is `0x01`
//! (subscribe) or `0x00` (cancel), followed by the topic prefix. ZMTP 3.0 peers carry
//! subscriptions this way (RFC 37 replaces it with SUBSCRIBE/CANCEL commands for 3.1 peers, but
//! libzmq 4.3 still sends it to every peer and under CURVE); XPUB and XSUB applications read and
//! write it; inproc pipes carry it.

use bytes::Bytes;

use crate::Message;

/// The body of a subscription (`subscribe`) or cancellation of `topic`.
pub fn encode(topic: &[u8], subscribe: bool) -> Bytes {
    let mut body = Vec::with_capacity(topic.len() + 1);
    body.push(u8::from(subscribe));
    body.extend_from_slice(topic);
    Bytes::from(body)
}

/// The topic of a subscription message and whether it subscribes; `None` when `msg` is not one
/// (more than one frame, or a first byte other than 0 and 1).
pub fn decode(msg: &Message) -> Option<(Bytes, bool)> {
    let [body] = msg.frames() else {
        return None;
    };
    match body.first() {
        Some(&flag @ (0 | 1)) => Some((body.slice(1..), flag == 1)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_non_subscriptions() {
        for subscribe in [true, false] {
            let body = encode(b"topic", subscribe);
            assert_eq!(body[0], u8::from(subscribe));
            let (topic, s) = decode(&Message::single(body)).expect("a subscription");
            assert_eq!((&topic[..], s), (&b"topic"[..], subscribe));
        }
        assert_eq!(
            decode(&Message::single(Bytes::from_static(b"\x01"))).map(|d| d.1),
            Some(true)
        );
        assert!(decode(&Message::single(Bytes::from_static(b"\x02x"))).is_none());
        assert!(decode(&Message::single(Bytes::new())).is_none());
        assert!(decode(&Message::from_frames(["\x01a", "b"])).is_none());
    }
}
