//! IKEv2 message codec (RFC 7296 section 3, RFC 7383 SKF).
//!
//! [`Message::parse`] reads a datagram's IKE header and its cleartext payload chain; when the
//! chain ends in an SK (or SKF) payload, [`Message::encrypted`] says where its body starts so
//! the IKE engine can authenticate and decrypt it, then parse the inner chain with
//! [`parse_payload_chain`]. Building goes the other way: [`emit_payload_chain`] and
//! [`IkeHeader::emit`].
//!
//! Decoding never panics and allocates at most in proportion to the input. Malformed input
//! gives a [`WireError`]; an unknown payload with the critical bit set gives
//! [`WireError::UnsupportedCriticalPayload`], as RFC 7296 2.5 requires; unknown non-critical
//! payloads are kept as [`Payload::Unknown`] so they can be skipped.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod header;
mod message;
mod payload;
mod reader;
mod sa;
mod ts;
mod types;

pub use error::WireError;
pub use header::{Flags, IkeHeader, IKE_HEADER_LEN};
pub use message::{emit_payload_chain, parse_payload_chain, EncryptedPart, Message};
pub use payload::{
    Auth, ConfigAttribute, ConfigPayload, Delete, Identification, KeyExchange, Notify, Payload,
};
pub use sa::{Proposal, SaPayload, Transform, TransformType};
pub use ts::{TrafficSelector, TsType};
pub use types::{
    AuthMethod, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId,
    GENERIC_PAYLOAD_HEADER_LEN,
};
