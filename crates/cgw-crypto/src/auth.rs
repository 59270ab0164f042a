//! Pre-shared key authentication (RFC 7296 2.15).
//!
//! `AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)`, where the initiator's
//! signed octets are `RealMessage1 | NonceRData | prf(SK_pi, RestOfInitIDPayload)` and the
//! responder's `RealMessage2 | NonceIData | prf(SK_pr, RestOfRespIDPayload)`.

use crate::{CryptoError, Prf, Secret};
use subtle::ConstantTimeEq;

/// The key pad string of RFC 7296 2.15.
pub const KEY_PAD: &[u8] = b"Key Pad for IKEv2";

/// `prf(SK_p, RestOfIDPayload)`: `id_payload_body` is the ID payload after its generic header
/// (ID type, three reserved bytes, identification data).
pub fn maced_id(prf: Prf, sk_p: &[u8], id_payload_body: &[u8]) -> Secret {
    prf.prf(sk_p, &[id_payload_body])
}

/// The AUTH payload's authentication data for a pre-shared key.
pub fn psk_auth(
    prf: Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
) -> Secret {
    let k = prf.prf(psk, &[KEY_PAD]);
    prf.prf(&k, &[real_message, peer_nonce, maced_id])
}

/// Verifies the peer's AUTH data in constant time.
pub fn verify_psk_auth(
    prf: Prf,
    psk: &[u8],
    real_message: &[u8],
    peer_nonce: &[u8],
    maced_id: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, psk, real_message, peer_nonce, maced_id);
    if expected.len() == received.len() && bool::from(expected.as_slice().ct_eq(received)) {
        Ok(())
    } else {
        Err(CryptoError::IntegrityCheckFailed)
    }
}
