//! The one error type of the ESP engine.

/// Why an ESP operation failed.
///
/// The first group are set-up errors (building an SA), the second are outbound errors
/// ([`OutboundSa::encapsulate`](crate::OutboundSa::encapsulate)), the last are the reasons an
/// inbound packet is dropped by [`InboundSa::decapsulate`](crate::InboundSa::decapsulate); each
/// of those is also counted in [`DropCounters`](crate::DropCounters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EspError {
    // ---- set-up ----
    /// The negotiated encryption transform (IANA transform type 1 ID and key length in bits)
    /// is not one this engine implements.
    #[error("unsupported ESP encryption transform {id} with key length {key_bits:?} (supported: ENCR_AES_CBC (12) and ENCR_AES_GCM_16 (20) with 128- or 256-bit keys)")]
    UnsupportedEncryption {
        /// IANA "Transform Type 1" ID.
        id: u16,
        /// Key Length attribute, in bits.
        key_bits: Option<u16>,
    },
    /// The negotiated integrity transform (IANA transform type 3 ID) is not implemented, or
    /// does not fit the encryption transform (AES-CBC needs one, AES-GCM must have none).
    #[error("unsupported ESP integrity transform {id:?} for this encryption transform (AES-CBC needs HMAC-SHA1-96 or HMAC-SHA2-256/384/512; AES-GCM needs none)")]
    UnsupportedIntegrity {
        /// IANA "Transform Type 3" ID, `None` when absent.
        id: Option<u16>,
    },
    /// The key material given to an SA has the wrong length.
    #[error("ESP key material is {got} bytes, the transform needs {expected}")]
    KeyLength {
        /// `EspAlgorithm::key_material_len()`.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// SPIs 0 to 255 are reserved (RFC 4303 section 2.1) and never appear on the wire.
    #[error("SPI {0:#010x} is reserved (RFC 4303 2.1: values 0-255 are not used on the wire)")]
    ReservedSpi(u32),
    /// The anti-replay window size is outside 64..=2048.
    #[error("anti-replay window size {0} is outside 64..=2048")]
    ReplayWindowSize(u32),
    /// A traffic selector is malformed (start above end, mixed address families, empty list).
    #[error("invalid traffic selector: {0}")]
    InvalidTrafficSelector(&'static str),

    // ---- outbound ----
    /// The caller's buffer has too little headroom before, or tailroom after, the inner packet.
    #[error("buffer too small for ESP: {headroom} bytes of headroom and {tailroom} bytes of tailroom are needed around the inner packet")]
    BufferTooSmall {
        /// Bytes needed before the inner packet.
        headroom: usize,
        /// Bytes needed after the inner packet (for this inner length).
        tailroom: usize,
    },
    /// `inner_start..inner_start + inner_len` does not lie inside the buffer.
    #[error("the inner packet range lies outside the buffer")]
    InnerOutOfBounds,
    /// The sequence number would cycle (RFC 4303 3.3.3): the Child SA must be rekeyed.
    #[error("ESP sequence number exhausted: the Child SA must be rekeyed")]
    SequenceExhausted,
    /// The SA's hard lifetime (bytes or packets) is reached: it must be rekeyed or deleted.
    #[error("ESP SA hard lifetime reached: the Child SA must be rekeyed")]
    LifetimeExpired,

    // ---- inbound drops ----
    /// The packet is too short for this SA's header, IV, ICV and trailer, or its ciphertext is
    /// not a whole number of cipher blocks.
    #[error("ESP packet length {0} is invalid for this SA")]
    BadLength(usize),
    /// The SPI is not this SA's.
    #[error("ESP packet for SPI {got:#010x}, this SA is {expected:#010x}")]
    BadSpi {
        /// This SA's SPI.
        expected: u32,
        /// The packet's SPI.
        got: u32,
    },
    /// The sequence number is a duplicate, lies left of the anti-replay window, or is 0.
    #[error("ESP sequence number {0} replayed or outside the anti-replay window")]
    Replay(u64),
    /// The ICV did not verify (wrong key, tampering, or a wrongly inferred ESN high half).
    #[error("ESP integrity check (ICV) failed")]
    AuthenticationFailed,
    /// Pad length exceeds the payload, or the padding bytes are not 1, 2, 3, ...
    #[error("ESP padding is malformed")]
    BadPadding,
    /// The next header is neither IPv4 (4) nor IPv6 (41): this is a tunnel-mode SA.
    #[error("ESP next header {0} is not IPv4 (4) or IPv6 (41)")]
    BadNextHeader(u8),
    /// A dummy packet (next header 59, RFC 4303 2.6): discarded by design.
    #[error("ESP dummy packet (next header 59) discarded")]
    DummyPacket,
    /// The decrypted inner packet is not a well-formed IPv4/IPv6 header matching the next
    /// header.
    #[error("the inner packet is not a well-formed IP packet")]
    MalformedInner,
    /// The inner packet's addresses, protocol or ports match none of the SA's traffic selectors.
    #[error("the inner packet does not match the Child SA's traffic selectors")]
    TrafficSelectorMismatch,
}
