use crate::CryptoError;
use ring::hmac;
use subtle::ConstantTimeEq;

/// Integrity algorithms (IANA "Transform Type 3") usable for the IKE SA and ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integ {
    /// AUTH_HMAC_SHA1_96 (2).
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128 (12).
    HmacSha2_256_128,
    /// AUTH_HMAC_SHA2_384_192 (13).
    HmacSha2_384_192,
    /// AUTH_HMAC_SHA2_512_256 (14).
    HmacSha2_512_256,
}

impl Integ {
    /// All supported integrity algorithms.
    pub const ALL: [Integ; 4] = [
        Integ::HmacSha1_96,
        Integ::HmacSha2_256_128,
        Integ::HmacSha2_384_192,
        Integ::HmacSha2_512_256,
    ];

    /// From the IANA transform ID.
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            2 => Integ::HmacSha1_96,
            12 => Integ::HmacSha2_256_128,
            13 => Integ::HmacSha2_384_192,
            14 => Integ::HmacSha2_512_256,
            _ => return None,
        })
    }

    /// The IANA transform ID.
    pub fn id(self) -> u16 {
        match self {
            Integ::HmacSha1_96 => 2,
            Integ::HmacSha2_256_128 => 12,
            Integ::HmacSha2_384_192 => 13,
            Integ::HmacSha2_512_256 => 14,
        }
    }

    /// Name as in the IANA registry.
    pub fn name(self) -> &'static str {
        match self {
            Integ::HmacSha1_96 => "AUTH_HMAC_SHA1_96",
            Integ::HmacSha2_256_128 => "AUTH_HMAC_SHA2_256_128",
            Integ::HmacSha2_384_192 => "AUTH_HMAC_SHA2_384_192",
            Integ::HmacSha2_512_256 => "AUTH_HMAC_SHA2_512_256",
        }
    }

    /// Key length in bytes (RFC 4868 2.1.1: the hash output length; SHA-1: 20).
    pub fn key_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 20,
            Integ::HmacSha2_256_128 => 32,
            Integ::HmacSha2_384_192 => 48,
            Integ::HmacSha2_512_256 => 64,
        }
    }

    /// Length of the truncated integrity check value in bytes.
    pub fn icv_len(self) -> usize {
        match self {
            Integ::HmacSha1_96 => 12,
            Integ::HmacSha2_256_128 => 16,
            Integ::HmacSha2_384_192 => 24,
            Integ::HmacSha2_512_256 => 32,
        }
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Integ::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Integ::HmacSha2_256_128 => hmac::HMAC_SHA256,
            Integ::HmacSha2_384_192 => hmac::HMAC_SHA384,
            Integ::HmacSha2_512_256 => hmac::HMAC_SHA512,
        }
    }

    /// A keyed instance for repeated use.
    pub fn key(self, key: &[u8]) -> Result<IntegKey, CryptoError> {
        if key.len() != self.key_len() {
            return Err(CryptoError::KeyLength {
                expected: self.key_len(),
                got: key.len(),
            });
        }
        Ok(IntegKey {
            integ: self,
            key: hmac::Key::new(self.algorithm(), key),
        })
    }
}

impl std::fmt::Display for Integ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An integrity algorithm with its key.
#[derive(Clone)]
pub struct IntegKey {
    integ: Integ,
    key: hmac::Key,
}

impl IntegKey {
    /// The algorithm.
    pub fn integ(&self) -> Integ {
        self.integ
    }

    /// Computes the truncated ICV over `data` into `out` (of length `icv_len()`).
    pub fn compute(&self, data: &[u8], out: &mut [u8]) {
        let tag = hmac::sign(&self.key, data);
        let n = self.integ.icv_len().min(out.len());
        out[..n].copy_from_slice(&tag.as_ref()[..n]);
    }

    /// Verifies a truncated ICV in constant time.
    pub fn verify(&self, data: &[u8], icv: &[u8]) -> Result<(), CryptoError> {
        let tag = hmac::sign(&self.key, data);
        let n = self.integ.icv_len();
        if icv.len() == n && bool::from(tag.as_ref()[..n].ct_eq(icv)) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}

impl std::fmt::Debug for IntegKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegKey")
            .field("integ", &self.integ)
            .finish_non_exhaustive()
    }
}
