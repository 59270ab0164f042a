use thiserror::Error;

/// Why a datagram or payload could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WireError {
    /// Fewer bytes than the structure needs.
    #[error("truncated {0}")]
    Truncated(&'static str),
    /// A length field that disagrees with the data or with itself.
    #[error("bad length in {0}")]
    BadLength(&'static str),
    /// The IKE header's major version is not 2 (RFC 7296 3.1).
    #[error("IKE major version {0} is not supported")]
    UnsupportedVersion(u8),
    /// An unknown payload type with the critical bit set (RFC 7296 2.5).
    #[error("unsupported critical payload type {0}")]
    UnsupportedCriticalPayload(u8),
    /// A field value that the RFC forbids.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// Bytes after the end of a structure that should have none.
    #[error("trailing data after {0}")]
    TrailingData(&'static str),
    /// More entries than the codec accepts (protects against resource exhaustion).
    #[error("too many {0}")]
    TooMany(&'static str),
}
