//! IKEv2 key derivation (RFC 7296 2.13, 2.14, 2.17, 2.18).

use crate::{CryptoError, Prf, Secret};

/// The seven secrets of an IKE SA (RFC 7296 2.14).
pub struct IkeSaKeys {
    /// SK_d: keys Child SAs and the next IKE SA.
    pub sk_d: Secret,
    /// SK_ai: integrity, initiator to responder (empty with combined-mode ciphers).
    pub sk_ai: Secret,
    /// SK_ar: integrity, responder to initiator.
    pub sk_ar: Secret,
    /// SK_ei: encryption, initiator to responder (for AES-GCM: key | 4-byte salt).
    pub sk_ei: Secret,
    /// SK_er: encryption, responder to initiator.
    pub sk_er: Secret,
    /// SK_pi: for the initiator's AUTH payload.
    pub sk_pi: Secret,
    /// SK_pr: for the responder's AUTH payload.
    pub sk_pr: Secret,
}

impl std::fmt::Debug for IkeSaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IkeSaKeys { .. }")
    }
}

/// `SKEYSEED = prf(Ni | Nr, g^ir)` for a new IKE SA from IKE_SA_INIT.
pub fn skeyseed(prf: Prf, ni: &[u8], nr: &[u8], g_ir: &[u8]) -> Secret {
    let mut key = Vec::with_capacity(ni.len() + nr.len());
    key.extend_from_slice(ni);
    key.extend_from_slice(nr);
    let out = prf.prf(&key, &[g_ir]);
    zeroize::Zeroize::zeroize(&mut key);
    out
}

/// `SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)` for an IKE SA rekeyed with
/// CREATE_CHILD_SA (RFC 7296 2.18). `old_prf` is the PRF of the IKE SA being rekeyed.
pub fn rekey_skeyseed(old_prf: Prf, old_sk_d: &[u8], g_ir: &[u8], ni: &[u8], nr: &[u8]) -> Secret {
    old_prf.prf(old_sk_d, &[g_ir, ni, nr])
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)`.
///
/// `encr_key_len` includes the salt of combined-mode ciphers; `integ_key_len` is 0 for them.
#[allow(clippy::too_many_arguments)]
pub fn derive_ike_sa_keys(
    prf: Prf,
    skeyseed: &[u8],
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    encr_key_len: usize,
    integ_key_len: usize,
) -> Result<IkeSaKeys, CryptoError> {
    let d = prf.key_len();
    let total = 3 * d + 2 * integ_key_len + 2 * encr_key_len;
    let km = prf.prf_plus(skeyseed, &[ni, nr, spi_i, spi_r], total)?;
    let mut at = 0;
    let mut take = |n: usize| {
        let s = Secret::new(km[at..at + n].to_vec());
        at += n;
        s
    };
    Ok(IkeSaKeys {
        sk_d: take(d),
        sk_ai: take(integ_key_len),
        sk_ar: take(integ_key_len),
        sk_ei: take(encr_key_len),
        sk_er: take(encr_key_len),
        sk_pi: take(d),
        sk_pr: take(d),
    })
}

/// Child SA keying material (RFC 7296 2.17): `prf+(SK_d, Ni | Nr)`, or with PFS
/// `prf+(SK_d, g^ir (new) | Ni | Nr)`. Taken in order: initiator-to-responder encryption
/// key, its integrity key, then the responder-to-initiator pair.
pub fn child_keymat(
    prf: Prf,
    sk_d: &[u8],
    g_ir: Option<&[u8]>,
    ni: &[u8],
    nr: &[u8],
    len: usize,
) -> Result<Secret, CryptoError> {
    match g_ir {
        Some(g) => prf.prf_plus(sk_d, &[g, ni, nr], len),
        None => prf.prf_plus(sk_d, &[ni, nr], len),
    }
}
