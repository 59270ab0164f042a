//! The receiving side of a Child SA.

use core::ops::Range;

use crate::algorithm::{Cipher, EspAlgorithm, Layout};
use crate::counters::{DropCounters, LifetimeCounters, LifetimeLimits, SaStatus};
use crate::error::EspError;
use crate::replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW, MIN_REPLAY_WINDOW};
use crate::selector::{inner_header, InnerPacket, TrafficSelector, NEXT_HEADER_NO_NEXT};

/// A packet [`InboundSa::decapsulate`] accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decapsulated {
    /// Where the inner IP packet lies in the buffer that was decapsulated (without any TFC
    /// padding the sender may have added).
    pub inner: Range<usize>,
    /// The next header: 4 (IPv4) or 41 (IPv6).
    pub next_header: u8,
    /// The packet's full (with ESN, inferred 64-bit) sequence number.
    pub sequence_number: u64,
}

/// The inbound (receiving) half of a Child SA: SPI, transform and keys, the anti-replay
/// window, the traffic selectors and drop and lifetime counters.
pub struct InboundSa {
    spi: u32,
    algorithm: EspAlgorithm,
    cipher: Cipher,
    esn: bool,
    window: ReplayWindow,
    remote_ts: Box<[TrafficSelector]>,
    local_ts: Box<[TrafficSelector]>,
    /// Both lists admit every IPv4 (IPv6) packet: the per-packet match can be skipped.
    any_ipv4: bool,
    any_ipv6: bool,
    drops: DropCounters,
    lifetime: LifetimeCounters,
    limits: LifetimeLimits,
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("algorithm", &self.algorithm)
            .field("esn", &self.esn)
            .field("replay_window", &self.window.size())
            .field("highest_sequence_number", &self.window.top())
            .field("remote_ts", &self.remote_ts)
            .field("local_ts", &self.local_ts)
            .field("drops", &self.drops)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// The default anti-replay window (1024 packets, as AWS uses).
    pub const DEFAULT_REPLAY_WINDOW: u32 = DEFAULT_REPLAY_WINDOW;

    /// Builds an inbound SA for our `spi` with this direction's key material
    /// (`algorithm.key_material_len()` bytes: encryption key, with salt for AES-GCM, then the
    /// integrity key). Defaults: no ESN, a 1024-packet window, traffic selectors 0.0.0.0/0 for
    /// both ends, no lifetime limits.
    pub fn new(spi: u32, algorithm: EspAlgorithm, keymat: &[u8]) -> Result<Self, EspError> {
        if spi < 256 {
            return Err(EspError::ReservedSpi(spi));
        }
        Ok(Self {
            spi,
            algorithm,
            cipher: Cipher::new(algorithm, keymat)?,
            esn: false,
            window: ReplayWindow::new(DEFAULT_REPLAY_WINDOW),
            remote_ts: Box::new([TrafficSelector::ipv4_any()]),
            local_ts: Box::new([TrafficSelector::ipv4_any()]),
            any_ipv4: true,
            any_ipv6: false,
            drops: DropCounters::default(),
            lifetime: LifetimeCounters::default(),
            limits: LifetimeLimits::default(),
        })
    }

    /// Uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1), as negotiated.
    pub fn with_esn(mut self, esn: bool) -> Self {
        self.esn = esn;
        self
    }

    /// Sets the anti-replay window size, 64..=2048 packets.
    pub fn with_replay_window(mut self, size: u32) -> Result<Self, EspError> {
        if !(MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&size) {
            return Err(EspError::ReplayWindowSize(size));
        }
        self.window = ReplayWindow::new(size);
        Ok(self)
    }

    /// Sets the traffic selectors: an inner packet's source must match one of `remote` (the
    /// peer's side, TSi or TSr as negotiated) and its destination one of `local`.
    pub fn with_traffic_selectors(
        mut self,
        remote: &[TrafficSelector],
        local: &[TrafficSelector],
    ) -> Result<Self, EspError> {
        (self.any_ipv4, self.any_ipv6) = crate::selector::admits_whole_families(remote, local)?;
        self.remote_ts = remote.into();
        self.local_ts = local.into();
        Ok(self)
    }

    /// Sets soft and hard lifetime limits in packets and bytes, reported by
    /// [`status`](Self::status); the owner decides when to stop accepting.
    pub fn with_limits(mut self, limits: LifetimeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Our SPI.
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

    /// The anti-replay window size.
    pub fn replay_window(&self) -> u32 {
        self.window.size()
    }

    /// The highest authenticated sequence number so far (0 before the first packet).
    pub fn highest_sequence_number(&self) -> u64 {
        self.window.top()
    }

    /// Remote traffic selectors (match the inner source).
    pub fn remote_traffic_selectors(&self) -> &[TrafficSelector] {
        &self.remote_ts
    }

    /// Local traffic selectors (match the inner destination).
    pub fn local_traffic_selectors(&self) -> &[TrafficSelector] {
        &self.local_ts
    }

    /// Packets dropped, by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// Packets and inner bytes accepted.
    pub fn lifetime(&self) -> LifetimeCounters {
        self.lifetime
    }

    /// The lifetime limits.
    pub fn limits(&self) -> LifetimeLimits {
        self.limits
    }

    /// Where the SA stands relative to its lifetime limits.
    pub fn status(&self) -> SaStatus {
        self.limits.status(&self.lifetime)
    }

    /// Forgets the anti-replay state and makes `highest` the highest sequence number seen.
    /// For tests and benchmarks only (replaying the same packet, starting an ESN SA deep in its
    /// sequence space); production code must never call it, as it re-opens the SA to replays.
    #[doc(hidden)]
    pub fn reset_replay_window_for_testing(&mut self, highest: u64) {
        self.window.reset(highest);
    }

    /// Decapsulates one ESP packet (`buf` is exactly the packet, SPI first) in place and
    /// returns where the inner IP packet lies in `buf`.
    ///
    /// Checks, in order: length; SPI; a replay pre-check (a duplicate or too old sequence
    /// number is dropped before any cryptography); the ICV, before anything else in the packet
    /// is trusted (for AES-GCM, verification and decryption are one operation and the
    /// plaintext is not looked at before the tag verified); only then is the anti-replay window
    /// updated; decryption (AES-CBC); the padding; the next header (4 or 41; 59 is a dummy
    /// packet); the inner IP header against the traffic selectors.
    ///
    /// Every drop is counted in [`drops`](Self::drops) and returned as the matching
    /// [`EspError`]. On error the buffer's contents are unspecified.
    pub fn decapsulate(&mut self, buf: &mut [u8]) -> Result<Decapsulated, EspError> {
        match self.decapsulate_inner(buf) {
            Ok(d) => {
                self.lifetime.add(d.inner.len());
                Ok(d)
            }
            Err(e) => {
                self.drops.count(&e);
                Err(e)
            }
        }
    }

    #[inline]
    fn decapsulate_inner(&mut self, buf: &mut [u8]) -> Result<Decapsulated, EspError> {
        let alg = self.algorithm;
        let header = alg.headroom();
        let icv = alg.icv_len();
        let len = buf.len();

        // 1. Length: header, IV, at least pad length and next header, ICV; CBC ciphertext is a
        //    whole number of blocks.
        let payload = len
            .checked_sub(header + icv)
            .filter(|&p| p >= 2)
            .ok_or(EspError::BadLength(len))?;
        if !alg.is_aead() && payload % alg.block_size() != 0 {
            return Err(EspError::BadLength(len));
        }

        // 2. SPI.
        let spi = read_be32(buf, 0).ok_or(EspError::BadLength(len))?;
        if spi != self.spi {
            return Err(EspError::BadSpi {
                expected: self.spi,
                got: spi,
            });
        }

        // 3. Replay pre-check (RFC 4303 3.4.3), with the ESN high half inferred (A2.1).
        let seq_lo = read_be32(buf, 4).ok_or(EspError::BadLength(len))?;
        let seq = if self.esn {
            self.window
                .infer_esn(seq_lo)
                .ok_or(EspError::Replay(u64::from(seq_lo)))?
        } else {
            u64::from(seq_lo)
        };
        if !self.window.check(seq) {
            return Err(EspError::Replay(seq));
        }

        // 4. ICV.
        let layout = Layout {
            header,
            payload,
            icv,
        };
        let seq_hi = self.esn.then_some((seq >> 32) as u32);
        if !self.cipher.verify(buf, layout, seq_hi) {
            return Err(EspError::AuthenticationFailed);
        }

        // 5. The packet is authentic: now the window moves.
        self.window.update(seq);

        // 6. Decrypt (AES-CBC; AES-GCM already did).
        if !self.cipher.decrypt_verified(buf, layout) {
            return Err(EspError::BadLength(len));
        }

        // 7. Trailer: padding 1, 2, 3, ..., pad length, next header.
        let plain = buf
            .get(header..header + payload)
            .ok_or(EspError::BadLength(len))?;
        let (inner_len, next_header) = check_trailer(plain)?;

        // 8. Next header: tunnel mode carries IPv4 or IPv6.
        if next_header == NEXT_HEADER_NO_NEXT {
            return Err(EspError::DummyPacket);
        }
        if next_header != crate::NEXT_HEADER_IPV4 && next_header != crate::NEXT_HEADER_IPV6 {
            return Err(EspError::BadNextHeader(next_header));
        }

        // 9. Inner packet against the traffic selectors (skipped when both lists admit every
        //    packet of its family).
        let inner_data = plain.get(..inner_len).ok_or(EspError::BadPadding)?;
        let (datagram_len, ipv6) =
            inner_header(next_header, inner_data).ok_or(EspError::MalformedInner)?;
        let admitted = if ipv6 { self.any_ipv6 } else { self.any_ipv4 };
        if !admitted && !self.selectors_match(next_header, inner_data) {
            return Err(EspError::TrafficSelectorMismatch);
        }

        Ok(Decapsulated {
            inner: header..header + datagram_len,
            next_header,
            sequence_number: seq,
        })
    }
}

impl InboundSa {
    /// The full selector check (addresses, protocol, ports) of a well-formed inner packet.
    fn selectors_match(&self, next_header: u8, inner: &[u8]) -> bool {
        InnerPacket::parse(next_header, inner)
            .is_some_and(|p| p.matches(&self.remote_ts, &self.local_ts))
    }
}

/// Checks the ESP trailer of a decrypted payload; returns the length of the data before the
/// padding and the next header.
#[inline]
fn check_trailer(plain: &[u8]) -> Result<(usize, u8), EspError> {
    let [data @ .., pad_len, next_header] = plain else {
        return Err(EspError::BadPadding);
    };
    let pad_len = usize::from(*pad_len);
    let inner_len = data
        .len()
        .checked_sub(pad_len)
        .ok_or(EspError::BadPadding)?;
    let padding = data.get(inner_len..).ok_or(EspError::BadPadding)?;
    // RFC 4303 2.4: the default padding is 1, 2, 3, ...; the receiver checks it.
    let mut ok = true;
    for (i, &b) in padding.iter().enumerate() {
        ok &= usize::from(b) == i + 1;
    }
    if !ok {
        return Err(EspError::BadPadding);
    }
    Ok((inner_len, *next_header))
}

fn read_be32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}
