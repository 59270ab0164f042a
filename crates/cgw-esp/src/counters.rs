//! Per-SA counters: drops by reason, lifetime usage and limits.

use crate::error::EspError;

/// Inbound packets dropped by an [`InboundSa`](crate::InboundSa), by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DropCounters {
    /// Too short for the SA's header, IV, trailer and ICV, or not a whole number of blocks.
    pub bad_length: u64,
    /// SPI is not the SA's.
    pub bad_spi: u64,
    /// Duplicate, left of the anti-replay window, or sequence number 0.
    pub replay: u64,
    /// ICV verification failed.
    pub auth_failed: u64,
    /// Pad length or padding bytes malformed.
    pub bad_padding: u64,
    /// Next header neither IPv4 (4) nor IPv6 (41).
    pub bad_next_header: u64,
    /// Dummy packets (next header 59), discarded by design.
    pub dummy: u64,
    /// The inner packet is not a well-formed IP packet.
    pub malformed_inner: u64,
    /// The inner packet matches none of the SA's traffic selectors.
    pub ts_mismatch: u64,
}

impl DropCounters {
    /// All drops together (saturating).
    pub const fn total(&self) -> u64 {
        let all = [
            self.bad_length,
            self.bad_spi,
            self.replay,
            self.auth_failed,
            self.bad_padding,
            self.bad_next_header,
            self.dummy,
            self.malformed_inner,
            self.ts_mismatch,
        ];
        let mut sum = 0u64;
        let mut i = 0;
        while i < all.len() {
            sum = sum.saturating_add(all[i]);
            i += 1;
        }
        sum
    }

    pub(crate) fn count(&mut self, err: &EspError) {
        let counter = match err {
            EspError::BadLength(_) => &mut self.bad_length,
            EspError::BadSpi { .. } => &mut self.bad_spi,
            EspError::Replay(_) => &mut self.replay,
            EspError::AuthenticationFailed => &mut self.auth_failed,
            EspError::BadPadding => &mut self.bad_padding,
            EspError::BadNextHeader(_) => &mut self.bad_next_header,
            EspError::DummyPacket => &mut self.dummy,
            EspError::MalformedInner => &mut self.malformed_inner,
            EspError::TrafficSelectorMismatch => &mut self.ts_mismatch,
            _ => return,
        };
        *counter = counter.saturating_add(1);
    }
}

/// Traffic an SA has carried: packets and inner-packet bytes (RFC 4301 section 4.4.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LifetimeCounters {
    /// Packets encapsulated (outbound) or accepted (inbound).
    pub packets: u64,
    /// Bytes of inner packets encapsulated or accepted.
    pub bytes: u64,
}

impl LifetimeCounters {
    pub(crate) fn add(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(bytes as u64);
    }
}

/// Soft and hard lifetime limits in packets and bytes (RFC 4301 section 4.4.2.1); `None`
/// means no limit. Time limits are the owner's (this crate reads no clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LifetimeLimits {
    /// Rekey once this many packets have been carried.
    pub soft_packets: Option<u64>,
    /// Rekey once this many bytes have been carried.
    pub soft_bytes: Option<u64>,
    /// The SA must not carry more packets than this.
    pub hard_packets: Option<u64>,
    /// The SA must not carry more bytes than this.
    pub hard_bytes: Option<u64>,
}

/// Where an SA stands relative to its lifetime and sequence number space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SaStatus {
    /// Nothing to do.
    Active,
    /// A soft limit is reached (or, outbound, the sequence number space is nearly used up):
    /// the owner should rekey the Child SA now.
    SoftLimitReached,
    /// A hard limit is reached (or, outbound, the sequence number is exhausted): the SA can no
    /// longer send and must be replaced.
    HardLimitReached,
}

impl LifetimeLimits {
    pub(crate) fn hard_reached(&self, c: &LifetimeCounters) -> bool {
        reached(self.hard_packets, c.packets) || reached(self.hard_bytes, c.bytes)
    }

    pub(crate) fn soft_reached(&self, c: &LifetimeCounters) -> bool {
        reached(self.soft_packets, c.packets) || reached(self.soft_bytes, c.bytes)
    }

    pub(crate) fn status(&self, c: &LifetimeCounters) -> SaStatus {
        if self.hard_reached(c) {
            SaStatus::HardLimitReached
        } else if self.soft_reached(c) {
            SaStatus::SoftLimitReached
        } else {
            SaStatus::Active
        }
    }
}

fn reached(limit: Option<u64>, value: u64) -> bool {
    matches!(limit, Some(l) if value >= l)
}
