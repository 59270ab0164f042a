use crate::{EspSuite, IkeError, IkeSuite};
use cgw_crypto::Secret;
use cgw_wire::TrafficSelector;
use std::net::SocketAddr;

/// What the driver learns from [`Connection::poll_event`](crate::Connection::poll_event).
#[derive(Debug)]
pub enum Event {
    /// An IKE SA completed IKE_AUTH.
    IkeSaEstablished(IkeSaInfo),
    /// A Child SA is ready: install its ESP SAs (inbound first).
    ChildSaEstablished(ChildSaInfo),
    /// Switch outbound traffic to this Child SA's outbound SA (installed earlier with
    /// `outbound_active: false`).
    ChildSaOutboundActivated {
        /// Our inbound SPI of the Child SA.
        inbound_spi: u32,
        /// Its outbound SPI.
        outbound_spi: u32,
    },
    /// A Child SA is gone: remove its ESP SAs.
    ChildSaDeleted {
        /// Our inbound SPI.
        inbound_spi: u32,
        /// Our outbound SPI (the peer's inbound SPI).
        outbound_spi: u32,
        /// It was replaced by a rekey: keep accepting on its inbound SA for a short grace
        /// period, since packets sent just before the switch may still be in flight.
        rekeyed: bool,
    },
    /// An IKE SA was replaced by a new one (rekey); its Child SAs now belong to the new one.
    IkeSaRekeyed {
        /// SPIs of the old IKE SA.
        old: ([u8; 8], [u8; 8]),
        /// The new IKE SA.
        new: IkeSaInfo,
    },
    /// An IKE SA ended without error (deleted by us or by the peer).
    IkeSaDeleted {
        /// IKE SA initiator's SPI.
        spi_i: [u8; 8],
        /// IKE SA responder's SPI.
        spi_r: [u8; 8],
        /// Who deleted it.
        by_peer: bool,
    },
    /// An IKE SA could not be set up, or failed.
    IkeSaFailed {
        /// IKE SA initiator's SPI.
        spi_i: [u8; 8],
        /// The cause.
        error: IkeError,
        /// The IKE SA was one the peer (or anyone using its address) started and that never
        /// authenticated: a refused or expired IKE_SA_INIT, a failed IKE_AUTH. Its failure
        /// says nothing about the tunnel's established IKE SA and must not change it.
        stray: bool,
    },
    /// A rekey of ours of a Child SA failed; the Child SA stays in use and the rekey is
    /// retried (the error says when).
    ChildSaRekeyFailed {
        /// Our inbound SPI of the Child SA being rekeyed.
        inbound_spi: u32,
        /// The cause ([`IkeError::ChildRekeyFailed`]).
        error: IkeError,
    },
    /// The IKE SA is up but the Child SA requested with it could not be created.
    ChildSaFailed {
        /// The cause.
        error: IkeError,
    },
}

/// An established IKE SA.
#[derive(Debug, Clone)]
pub struct IkeSaInfo {
    /// IKE SA initiator's SPI.
    pub spi_i: [u8; 8],
    /// IKE SA responder's SPI.
    pub spi_r: [u8; 8],
    /// Whether we initiated it.
    pub initiator: bool,
    /// Negotiated algorithms.
    pub suite: IkeSuite,
    /// Our address and port for IKE now (port 4500 after NAT detection).
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// A NAT was detected in front of us.
    pub local_behind_nat: bool,
    /// A NAT was detected in front of the peer (or the peer faked NAT-D to force UDP
    /// encapsulation).
    pub remote_behind_nat: bool,
    /// The peer's identity as presented.
    pub peer_id: String,
}

/// One direction's ESP keys (wiped when dropped; a clone is wiped too).
#[derive(Clone)]
pub struct ChildSaKeys {
    /// Encryption key (for AES-GCM, key | 4-byte salt).
    pub encr_key: Secret,
    /// Integrity key (empty for AES-GCM).
    pub integ_key: Secret,
}

impl std::fmt::Debug for ChildSaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChildSaKeys { .. }")
    }
}

/// A negotiated Child SA: what the ESP engine needs.
#[derive(Debug)]
pub struct ChildSaInfo {
    /// SPI of our inbound ESP SA (chosen by us).
    pub inbound_spi: u32,
    /// SPI of our outbound ESP SA (chosen by the peer).
    pub outbound_spi: u32,
    /// Algorithms.
    pub suite: EspSuite,
    /// Keys for packets from the peer.
    pub inbound: ChildSaKeys,
    /// Keys for packets to the peer.
    pub outbound: ChildSaKeys,
    /// Our traffic selectors (inner source addresses of outbound packets).
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// ESP must be UDP-encapsulated on port 4500 (RFC 3948) because a NAT was detected.
    pub udp_encap: bool,
    /// Our outer address.
    pub local: SocketAddr,
    /// The peer's outer address.
    pub remote: SocketAddr,
    /// Configured anti-replay window.
    pub replay_window: u32,
    /// The IKE SA this Child SA belongs to (initiator's SPI, responder's SPI).
    pub ike_spis: ([u8; 8], [u8; 8]),
    /// Install the outbound SA as the one in use now. When false, install it but keep sending
    /// on the current one until [`Event::ChildSaOutboundActivated`].
    pub outbound_active: bool,
    /// The inbound SPI of the Child SA this one replaces (rekey), if any.
    pub rekey_of: Option<u32>,
}
