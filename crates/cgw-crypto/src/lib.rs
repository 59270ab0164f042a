//! The IKEv2 crypto suite of cgw (RFC 7296 section 2.13-2.18, RFC 4868, RFC 5282, RFC 5903, RFC 8031).
//!
//! Everything here is a pure function of its inputs, except that key generation and IVs take
//! randomness from a caller-provided [`Random`]; nothing reads a clock or does IO.
//!
//! * [`Prf`]: HMAC-SHA1 and HMAC-SHA2-256/384/512 PRFs and `prf+`.
//! * [`keys`]: SKEYSEED, the seven IKE SA keys, IKE SA rekey, Child SA KEYMAT.
//! * [`DhGroup`] / [`DhPrivate`]: MODP groups 2, 5, 14-18, ECP groups 19-20, Curve25519 (31),
//!   with RFC 6989 checks of the peer's public value.
//! * [`SkCipher`]: protection of the SK (and SKF) payload with AES-CBC + HMAC or AES-GCM-16.
//! * [`auth`]: pre-shared key authentication, verified in constant time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod auth;
mod dh;
mod error;
mod integ;
pub mod keys;
mod prf;
mod random;
mod sk;

pub use dh::{DhGroup, DhPrivate};
pub use error::CryptoError;
pub use integ::Integ;
pub use prf::Prf;
pub use random::{DeterministicRandom, Random, SystemRandom};
pub use sk::{Encr, SkCipher};

/// Secret bytes that are wiped from memory when dropped.
pub type Secret = zeroize::Zeroizing<Vec<u8>>;
