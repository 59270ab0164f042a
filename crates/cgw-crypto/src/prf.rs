use crate::{CryptoError, Secret};
use ring::hmac;
use zeroize::Zeroizing;

/// IKEv2 pseudorandom functions (IANA "Transform Type 2").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prf {
    /// PRF_HMAC_SHA1 (2).
    HmacSha1,
    /// PRF_HMAC_SHA2_256 (5).
    HmacSha2_256,
    /// PRF_HMAC_SHA2_384 (6).
    HmacSha2_384,
    /// PRF_HMAC_SHA2_512 (7).
    HmacSha2_512,
}

impl Prf {
    /// All supported PRFs.
    pub const ALL: [Prf; 4] = [
        Prf::HmacSha1,
        Prf::HmacSha2_256,
        Prf::HmacSha2_384,
        Prf::HmacSha2_512,
    ];

    /// From the IANA transform ID.
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            2 => Prf::HmacSha1,
            5 => Prf::HmacSha2_256,
            6 => Prf::HmacSha2_384,
            7 => Prf::HmacSha2_512,
            _ => return None,
        })
    }

    /// The IANA transform ID.
    pub fn id(self) -> u16 {
        match self {
            Prf::HmacSha1 => 2,
            Prf::HmacSha2_256 => 5,
            Prf::HmacSha2_384 => 6,
            Prf::HmacSha2_512 => 7,
        }
    }

    /// Name as in the IANA registry.
    pub fn name(self) -> &'static str {
        match self {
            Prf::HmacSha1 => "PRF_HMAC_SHA1",
            Prf::HmacSha2_256 => "PRF_HMAC_SHA2_256",
            Prf::HmacSha2_384 => "PRF_HMAC_SHA2_384",
            Prf::HmacSha2_512 => "PRF_HMAC_SHA2_512",
        }
    }

    pub(crate) fn algorithm(self) -> hmac::Algorithm {
        match self {
            Prf::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Prf::HmacSha2_256 => hmac::HMAC_SHA256,
            Prf::HmacSha2_384 => hmac::HMAC_SHA384,
            Prf::HmacSha2_512 => hmac::HMAC_SHA512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Prf::HmacSha1 => 20,
            Prf::HmacSha2_256 => 32,
            Prf::HmacSha2_384 => 48,
            Prf::HmacSha2_512 => 64,
        }
    }

    /// The preferred key length: SK_d, SK_pi and SK_pr have this length (RFC 7296 2.14;
    /// for HMAC PRFs the output length, RFC 4868 2.6).
    pub fn key_len(self) -> usize {
        self.output_len()
    }

    /// `prf(key, data[0] | data[1] | ...)`.
    pub fn prf(self, key: &[u8], data: &[&[u8]]) -> Secret {
        let key = hmac::Key::new(self.algorithm(), key);
        let mut ctx = hmac::Context::with_key(&key);
        for d in data {
            ctx.update(d);
        }
        Zeroizing::new(ctx.sign().as_ref().to_vec())
    }

    /// `prf+(key, seed[0] | seed[1] | ...)` truncated to `len` bytes (RFC 7296 2.13):
    /// `T1 = prf(K, S | 0x01)`, `Tn = prf(K, Tn-1 | S | n)`.
    pub fn prf_plus(self, key: &[u8], seed: &[&[u8]], len: usize) -> Result<Secret, CryptoError> {
        let blocks = len.div_ceil(self.output_len());
        if blocks > 255 {
            return Err(CryptoError::PrfPlusTooLong);
        }
        let key = hmac::Key::new(self.algorithm(), key);
        let mut out = Zeroizing::new(Vec::with_capacity(blocks * self.output_len()));
        let mut prev: Option<hmac::Tag> = None;
        for n in 1..=blocks as u8 {
            let mut ctx = hmac::Context::with_key(&key);
            if let Some(t) = &prev {
                ctx.update(t.as_ref());
            }
            for s in seed {
                ctx.update(s);
            }
            ctx.update(&[n]);
            let t = ctx.sign();
            out.extend_from_slice(t.as_ref());
            prev = Some(t);
        }
        out.truncate(len);
        Ok(out)
    }
}

impl std::fmt::Display for Prf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
