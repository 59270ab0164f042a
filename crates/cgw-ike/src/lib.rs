//! A sans-IO IKEv2 engine (RFC 7296) in the style of quinn-proto.
//!
//! A [`Connection`] is the IKE relationship with one peer (one AWS tunnel endpoint). It never
//! opens a socket or reads a clock: the driver feeds it datagrams with
//! [`Connection::handle_datagram`] and the current time with [`Connection::handle_timeout`],
//! and takes out datagrams to send ([`Connection::poll_transmit`]), the next time it wants to be
//! woken ([`Connection::poll_timeout`]) and what happened ([`Connection::poll_event`]): IKE and
//! Child SAs established, with their keys for the ESP engine, or failures that name the cause.
//!
//! Inside, each IKE exchange has its own module under [`exchange`], in the manner of
//! strongSwan's tasks: `ike_sa_init`, `ike_auth`, `informational`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod connection;
mod error;
mod event;
pub mod exchange;
mod nat;
mod proposal;
mod responder;
mod sa;
mod trace;

pub use cgw_crypto::{DhGroup, Encr, Integ, Prf};
pub use config::{
    id_for_addr, Config, DpdConfig, EspProposal, IkeProposal, Lifetimes, ProposalParseError,
    RetransmitConfig,
};
pub use connection::{ChildSaTimers, Connection, ConnectionStats, IkeSaSecrets, Transmit};
pub use error::IkeError;
pub use event::{ChildSaInfo, ChildSaKeys, Event, IkeSaInfo};
pub use proposal::{EspSuite, IkeSuite};
pub use responder::{ResponderLimits, COOKIE_SECRET_LIFETIME};

/// IKE's UDP port.
pub const IKE_PORT: u16 = 500;
/// The NAT traversal port (RFC 3948); IKE messages on it carry a four-byte non-ESP marker.
pub const NAT_T_PORT: u16 = 4500;

#[doc(hidden)]
pub mod fuzzing;
