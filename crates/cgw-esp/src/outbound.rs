//! The sending side of a Child SA.

use core::ops::Range;

use crate::algorithm::{Cipher, EspAlgorithm, IvGenerator, Layout, ESP_HEADER_LEN};
use crate::counters::{LifetimeCounters, LifetimeLimits, SaStatus};
use crate::error::EspError;
use crate::selector::{InnerPacket, TrafficSelector};

/// Without ESN, the SA reports [`SaStatus::SoftLimitReached`] once this many sequence numbers
/// are used: 2^32 - 2^28, leaving 268 million packets for the rekey to finish.
pub const SOFT_SEQUENCE_LIMIT_32: u64 = (1 << 32) - (1 << 28);
/// With ESN, the SA reports [`SaStatus::SoftLimitReached`] once this many sequence numbers are
/// used: 2^64 - 2^60.
pub const SOFT_SEQUENCE_LIMIT_64: u64 = u64::MAX - ((1 << 60) - 1);

/// The outbound (sending) half of a Child SA: SPI, transform and keys, the sequence number
/// counter and lifetime counters.
///
/// [`OutboundSa::encapsulate`] turns an inner IP packet lying in a caller's buffer into a
/// tunnel-mode ESP packet in place, writing the ESP header into the headroom before it and the
/// trailer and ICV into the tailroom after it; nothing is allocated.
///
/// IVs: AES-GCM uses the 64-bit sequence number as its IV (RFC 4106 section 3.1 allows a
/// counter; it is unique per key). AES-CBC needs unpredictable IVs (RFC 3602 section 2.4), and
/// drawing random bytes per packet would cost a system call, so the IV is the AES encryption of
/// the sequence number under a per-SA random `iv_key` that the caller draws from its RNG when
/// building the SA (the scheme of Linux's `seqiv`/`echainiv` and NIST SP 800-38A appendix C).
/// The sequence number never repeats, so neither does the IV, and without the IV key it cannot
/// be predicted. The caller supplying the key keeps this crate deterministic under test.
pub struct OutboundSa {
    spi: u32,
    algorithm: EspAlgorithm,
    cipher: Cipher,
    iv_gen: IvGenerator,
    esn: bool,
    /// The last sequence number used; 0 before the first packet.
    last_seq: u64,
    lifetime: LifetimeCounters,
    limits: LifetimeLimits,
    /// Traffic selectors: an inner packet's source must match one of `local_ts` and its
    /// destination one of `remote_ts` (RFC 4301 5.1: outbound traffic outside the SA's
    /// selectors must not use it). Empty: no check (the default).
    local_ts: Box<[TrafficSelector]>,
    remote_ts: Box<[TrafficSelector]>,
    /// Both lists admit every IPv4 (IPv6) packet: the check is skipped for that family.
    any_ipv4: bool,
    any_ipv6: bool,
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("algorithm", &self.algorithm)
            .field("esn", &self.esn)
            .field("last_seq", &self.last_seq)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Builds an outbound SA for the peer's `spi` (the SPI the peer chose for its inbound SA).
    ///
    /// `keymat` is this direction's key material, `algorithm.key_material_len()` bytes: the
    /// encryption key (with the 4-byte salt for AES-GCM) then the integrity key. `iv_key` is 16
    /// random bytes from the caller's RNG, used only to derive AES-CBC IVs (see the type's
    /// documentation); AES-GCM ignores it.
    pub fn new(
        spi: u32,
        algorithm: EspAlgorithm,
        keymat: &[u8],
        iv_key: &[u8; 16],
    ) -> Result<Self, EspError> {
        if spi < 256 {
            return Err(EspError::ReservedSpi(spi));
        }
        Ok(Self {
            spi,
            algorithm,
            cipher: Cipher::new(algorithm, keymat)?,
            iv_gen: IvGenerator::new(iv_key),
            esn: false,
            last_seq: 0,
            lifetime: LifetimeCounters::default(),
            limits: LifetimeLimits::default(),
            local_ts: Box::new([]),
            remote_ts: Box::new([]),
            any_ipv4: true,
            any_ipv6: true,
        })
    }

    /// Sets the traffic selectors the Child SA negotiated: an inner packet is sent only if its
    /// source matches one of `local` (our side) and its destination one of `remote` (the
    /// peer's side); others fail with [`EspError::TrafficSelectorMismatch`]. With 0.0.0.0/0 on
    /// both sides (what AWS uses) the check costs nothing.
    pub fn with_traffic_selectors(
        mut self,
        local: &[TrafficSelector],
        remote: &[TrafficSelector],
    ) -> Result<Self, EspError> {
        (self.any_ipv4, self.any_ipv6) = crate::selector::admits_whole_families(remote, local)?;
        self.local_ts = local.into();
        self.remote_ts = remote.into();
        Ok(self)
    }

    /// Uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1), as negotiated by the ESN
    /// transform. Call before the first packet.
    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    /// Sets soft and hard lifetime limits in packets and bytes.
    pub fn with_limits(mut self, limits: LifetimeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The SPI written into every packet.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The transform.
    pub fn algorithm(&self) -> EspAlgorithm {
        self.algorithm
    }

    /// Whether extended sequence numbers are on.
    pub fn esn(&self) -> bool {
        self.esn
    }

    /// Bytes needed in the buffer before the inner packet (SPI, sequence number, IV).
    pub fn headroom(&self) -> usize {
        self.algorithm.headroom()
    }

    /// The most bytes needed after the inner packet (padding, pad length, next header, ICV).
    pub fn max_tailroom(&self) -> usize {
        self.algorithm.max_tailroom()
    }

    /// The sequence number of the last packet sent (0 before the first).
    pub fn last_sequence_number(&self) -> u64 {
        self.last_seq
    }

    /// Packets and bytes sent.
    pub fn lifetime(&self) -> LifetimeCounters {
        self.lifetime
    }

    /// The lifetime limits.
    pub fn limits(&self) -> LifetimeLimits {
        self.limits
    }

    /// Whether no sequence number is left: the SA cannot send and must be replaced by a rekey.
    pub fn sequence_exhausted(&self) -> bool {
        self.next_seq().is_none()
    }

    /// Whether the owner should rekey ([`SaStatus::SoftLimitReached`]) or must stop using the
    /// SA ([`SaStatus::HardLimitReached`]): lifetime limits and sequence number space together.
    pub fn status(&self) -> SaStatus {
        if self.sequence_exhausted() {
            return SaStatus::HardLimitReached;
        }
        let soft_seq = if self.esn {
            SOFT_SEQUENCE_LIMIT_64
        } else {
            SOFT_SEQUENCE_LIMIT_32
        };
        match self.limits.status(&self.lifetime) {
            SaStatus::Active if self.last_seq >= soft_seq => SaStatus::SoftLimitReached,
            status => status,
        }
    }

    /// Makes `last` the last sequence number sent, so the next packet carries `last + 1`.
    /// For tests only (reaching the end of the sequence space, known-answer vectors deep in
    /// it); production code must never call it, as it could make the SA reuse an IV.
    #[doc(hidden)]
    pub fn set_last_sequence_number_for_testing(&mut self, last: u64) {
        self.last_seq = last;
    }

    fn next_seq(&self) -> Option<u64> {
        let next = self.last_seq.checked_add(1)?;
        if !self.esn && next > u64::from(u32::MAX) {
            return None;
        }
        Some(next)
    }

    /// Encapsulates the inner IP packet at `buf[inner_start..inner_start + inner_len]` in
    /// place and returns the range of the complete ESP packet in `buf`.
    ///
    /// The ESP header (SPI, sequence number, IV) is written into the
    /// [`headroom`](Self::headroom) bytes before the inner packet; the padding (1, 2, 3, ...),
    /// pad length, `next_header` (4 for IPv4, 41 for IPv6) and ICV after it, within
    /// [`max_tailroom`](Self::max_tailroom) bytes. Nothing is allocated.
    ///
    /// Errors, leaving the SA unchanged: [`EspError::BufferTooSmall`],
    /// [`EspError::InnerOutOfBounds`], [`EspError::SequenceExhausted`] (the sequence number
    /// would cycle: rekey), [`EspError::LifetimeExpired`] (a hard limit is reached),
    /// [`EspError::TrafficSelectorMismatch`] (the inner packet is outside the SA's traffic
    /// selectors, see [`with_traffic_selectors`](Self::with_traffic_selectors)).
    pub fn encapsulate(
        &mut self,
        buf: &mut [u8],
        inner_start: usize,
        inner_len: usize,
        next_header: u8,
    ) -> Result<Range<usize>, EspError> {
        if self.limits.hard_reached(&self.lifetime) {
            return Err(EspError::LifetimeExpired);
        }
        let admitted = match next_header {
            crate::NEXT_HEADER_IPV4 => self.any_ipv4,
            crate::NEXT_HEADER_IPV6 => self.any_ipv6,
            _ => self.any_ipv4 && self.any_ipv6,
        };
        if !admitted {
            let inner = inner_start
                .checked_add(inner_len)
                .and_then(|end| buf.get(inner_start..end))
                .ok_or(EspError::InnerOutOfBounds)?;
            let ok = InnerPacket::parse(next_header, inner)
                .is_some_and(|p| p.matches(&self.local_ts, &self.remote_ts));
            if !ok {
                return Err(EspError::TrafficSelectorMismatch);
            }
        }
        let seq = self.next_seq().ok_or(EspError::SequenceExhausted)?;
        let alg = self.algorithm;
        let header = alg.headroom();
        let pad_len = alg.pad_len(inner_len);
        let icv = alg.icv_len();
        let too_small = EspError::BufferTooSmall {
            headroom: header,
            tailroom: pad_len + 2 + icv,
        };
        let inner_end = inner_start
            .checked_add(inner_len)
            .filter(|&end| end <= buf.len())
            .ok_or(EspError::InnerOutOfBounds)?;
        let esp_start = inner_start.checked_sub(header).ok_or(too_small)?;
        let payload = inner_len + pad_len + 2;
        let esp_end = inner_end
            .checked_add(pad_len + 2 + icv)
            .filter(|&end| end <= buf.len())
            .ok_or(too_small)?;
        let pkt = buf.get_mut(esp_start..esp_end).ok_or(too_small)?;

        // ESP header: SPI, low 32 bits of the sequence number, IV.
        let (head, rest) = pkt.split_at_mut(header);
        let (fixed, iv) = head.split_at_mut(ESP_HEADER_LEN);
        fixed[..4].copy_from_slice(&self.spi.to_be_bytes());
        fixed[4..].copy_from_slice(&(seq as u32).to_be_bytes());
        match self.cipher {
            Cipher::Gcm { .. } => iv.copy_from_slice(&seq.to_be_bytes()),
            Cipher::Cbc { .. } => iv.copy_from_slice(&self.iv_gen.iv(seq)),
        }

        // Trailer: monotonic padding 1, 2, 3, ... (RFC 4303 2.4), pad length, next header.
        let trailer = rest
            .get_mut(inner_len..inner_len + pad_len + 2)
            .ok_or(too_small)?;
        let (padding, tail) = trailer.split_at_mut(pad_len);
        for (i, b) in padding.iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        tail[0] = pad_len as u8;
        tail[1] = next_header;

        let seq_hi = self.esn.then_some((seq >> 32) as u32);
        self.cipher.seal(
            pkt,
            Layout {
                header,
                payload,
                icv,
            },
            seq_hi,
        )?;
        self.last_seq = seq;
        self.lifetime.add(inner_len);
        Ok(esp_start..esp_end)
    }
}
