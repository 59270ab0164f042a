//! The ESP engine of cgw: tunnel-mode ESP (RFC 4303) with AES-GCM-16 (RFC 4106) and AES-CBC
//! (RFC 3602) with HMAC-SHA1-96 / HMAC-SHA2 (RFC 2404, RFC 4868), extended sequence numbers,
//! the anti-replay window, traffic selector checks, and the framing of UDP encapsulation on
//! port 4500 (RFC 3948).
//!
//! The engine is sans-IO and works in place on the caller's buffers:
//!
//! * [`OutboundSa::encapsulate`] takes an inner IP packet lying in a buffer with
//!   [`headroom`](OutboundSa::headroom) bytes free before it and
//!   [`max_tailroom`](OutboundSa::max_tailroom) bytes free after it, and turns it into an ESP
//!   packet there.
//! * [`InboundSa::decapsulate`] takes one ESP packet, verifies and decrypts it in place, and
//!   says where the inner packet lies; every drop is counted by reason in [`DropCounters`].
//! * [`wire`] has the [`EspPacket`](wire::EspPacket) view and the UDP-4500 classifier.
//!
//! Nothing on the data path allocates (proved by `tests/no_alloc.rs`), reads a clock, or
//! panics on any input (property-tested and fuzzed).
//!
//! ```
//! use cgw_esp::{AesKeySize, EspAlgorithm, InboundSa, OutboundSa};
//!
//! let alg = EspAlgorithm::AesGcm16(AesKeySize::Aes256);
//! let keymat = [7u8; 36]; // alg.key_material_len(): 32-byte key + 4-byte salt
//! let mut tx = OutboundSa::new(0x1000, alg, &keymat, &[9; 16]).unwrap();
//! let mut rx = InboundSa::new(0x1000, alg, &keymat).unwrap();
//!
//! // A minimal IPv4 header (20 bytes) as the inner packet.
//! let inner = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
//! let mut buf = vec![0u8; tx.headroom() + inner.len() + tx.max_tailroom()];
//! let start = tx.headroom();
//! buf[start..start + inner.len()].copy_from_slice(&inner);
//!
//! let esp = tx.encapsulate(&mut buf, start, inner.len(), 4).unwrap();
//! let got = rx.decapsulate(&mut buf[esp.clone()]).unwrap();
//! assert_eq!(&buf[esp][got.inner], &inner);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod algorithm;
mod counters;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod inbound;
mod outbound;
mod replay;
mod selector;
pub mod wire;

pub use algorithm::{
    iana, AesKeySize, EspAlgorithm, IntegrityAlgorithm, ESP_HEADER_LEN, GCM_SALT_LEN, MAX_HEADROOM,
    MAX_TAILROOM,
};
pub use counters::{DropCounters, LifetimeCounters, LifetimeLimits, SaStatus};
pub use error::EspError;
pub use inbound::{Decapsulated, InboundSa};
pub use outbound::{OutboundSa, SOFT_SEQUENCE_LIMIT_32, SOFT_SEQUENCE_LIMIT_64};
pub use replay::{DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};
pub use selector::{
    TrafficSelector, IPPROTO_TCP, IPPROTO_UDP, NEXT_HEADER_IPV4, NEXT_HEADER_IPV6,
    NEXT_HEADER_NO_NEXT,
};
