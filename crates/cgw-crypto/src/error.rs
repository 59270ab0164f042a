use thiserror::Error;

/// Failures of the crypto suite. None of them carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CryptoError {
    /// A Diffie-Hellman public value failed validation (RFC 6989), e.g. not on the curve,
    /// out of range, of the wrong length, or giving an all-zero X25519 result.
    #[error("invalid Diffie-Hellman public value for group {group}: {reason}")]
    InvalidPublicValue {
        /// IANA DH group number.
        group: u16,
        /// What was wrong.
        reason: &'static str,
    },
    /// The integrity check value (HMAC or GCM tag) did not verify.
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// Ciphertext of a length the cipher cannot have produced.
    #[error("malformed encrypted payload: {0}")]
    Malformed(&'static str),
    /// A key of the wrong length was supplied.
    #[error("wrong key length: expected {expected}, got {got}")]
    KeyLength {
        /// Required length in bytes.
        expected: usize,
        /// Supplied length.
        got: usize,
    },
    /// `prf+` was asked for more than 255 blocks of output.
    #[error("prf+ output too long")]
    PrfPlusTooLong,
}
