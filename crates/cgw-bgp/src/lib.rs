//! A sans-IO BGP-4 speaker for the gateway's tunnels, in the style of quinn-proto.
//!
//! - [`Message`] and [`Framer`]: the codec (RFC 4271 4; capabilities RFC 5492, 4-octet AS
//!   numbers RFC 6793, route refresh RFC 2918, revised UPDATE error handling RFC 7606). IPv4
//!   unicast only: MP_REACH_NLRI / MP_UNREACH_NLRI are ignored.
//! - [`Session`]: the per-peer finite state machine (RFC 4271 8). It never opens a socket or
//!   reads a clock: the driver owns the TCP connection, feeds it bytes and the time, writes
//!   out what it returns and acts on its [`Event`]s.
//! - [`Rib`]: the Adj-RIB-In of each session and the Loc-RIB with best-path selection
//!   (RFC 4271 9.1) and optional ECMP, reporting [`RouteChange`]s for the kernel.
//!
//! A typical driver loop for one tunnel: `session.start(now)`; on [`Event::WantConnect`]
//! connect to the peer's port [`BGP_PORT`] and call [`Session::connected`]; pass every read
//! to [`Session::handle_bytes`], write every [`Session::poll_transmit`], sleep until
//! [`Session::poll_timeout`] and call [`Session::handle_timeout`]; give
//! [`Event::Established`] to [`Rib::session_up`], [`Event::Update`] to [`Rib::update`],
//! [`Event::Down`] to [`Rib::session_down`], and apply the [`RouteChange`]s to the kernel.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attributes;
mod framer;
mod message;
mod notification;
mod peer;
mod prefix;
mod rib;
mod session;

pub use attributes::{
    attribute_flags, attribute_name, attribute_type, segment_type, Aggregator, AsPath,
    AsPathSegment, AttributeError, AttributeProblem, ErrorAction, Origin, PathAttributes,
    RawAttribute,
};
pub use framer::Framer;
pub use message::{
    capability_code, decode_header, Capability, DecodeError, EncodeError, Header, Message,
    MessageType, OpenMessage, RouteRefreshMessage, UpdateMessage, WireOptions,
    PARAMETER_CAPABILITIES,
};
pub use notification::{
    cease, error_code, error_code_name, error_subcode_name, fsm_error, header_error, open_error,
    route_refresh_error, update_error, NotificationMessage,
};
pub use peer::{ConnId, Peer, PeerEvent};
pub use prefix::{Ipv4Prefix, NlriError, PrefixError};
pub use rib::{PeerInfo, Rib, RibConfig, Route, RouteChange, SessionId, DEFAULT_LOCAL_PREF};
pub use session::{
    resolve_collision, DownReason, Event, Keep, LocalRoute, Session, SessionConfig, SessionError,
    SessionStats, State,
};

/// BGP's TCP port.
pub const BGP_PORT: u16 = 179;
/// The protocol version.
pub const BGP_VERSION: u8 = 4;
/// AS_TRANS (RFC 6793): stands in for a 4-octet AS where only two octets fit.
pub const AS_TRANS: u32 = 23456;
/// The header marker: sixteen 0xFF octets.
pub const MARKER: [u8; 16] = [0xFF; 16];
/// Octets in a message header, and the length of a KEEPALIVE.
pub const HEADER_LEN: usize = 19;
/// The largest message (RFC 4271 4.1).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Address Family Identifier for IPv4.
pub const AFI_IPV4: u16 = 1;
/// Subsequent Address Family Identifier for unicast.
pub const SAFI_UNICAST: u8 = 1;

#[doc(hidden)]
pub mod fuzzing;
