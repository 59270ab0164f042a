//! The negotiated Child SA transform and its keyed state.

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::EspError;

/// IANA IKEv2 transform IDs that name the ESP transforms this engine implements
/// (RFC 7296 section 3.3.2, IANA "IKEv2 Transform Type 1/3 Transform IDs").
pub mod iana {
    /// Transform type 1: AES in CBC mode (RFC 3602).
    pub const ENCR_AES_CBC: u16 = 12;
    /// Transform type 1: AES-GCM with a 16-octet ICV (RFC 4106).
    pub const ENCR_AES_GCM_16: u16 = 20;
    /// Transform type 3: no integrity transform (the only one allowed with AES-GCM).
    pub const AUTH_NONE: u16 = 0;
    /// Transform type 3: HMAC-SHA1-96 (RFC 2404).
    pub const AUTH_HMAC_SHA1_96: u16 = 2;
    /// Transform type 3: HMAC-SHA2-256-128 (RFC 4868).
    pub const AUTH_HMAC_SHA2_256_128: u16 = 12;
    /// Transform type 3: HMAC-SHA2-384-192 (RFC 4868).
    pub const AUTH_HMAC_SHA2_384_192: u16 = 13;
    /// Transform type 3: HMAC-SHA2-512-256 (RFC 4868).
    pub const AUTH_HMAC_SHA2_512_256: u16 = 14;
}

/// Length of the ESP header proper: SPI and sequence number (RFC 4303 section 2).
pub const ESP_HEADER_LEN: usize = 8;
/// Length of the AES-GCM salt that follows the key in the key material (RFC 4106 section 8.1).
pub const GCM_SALT_LEN: usize = 4;
/// The most headroom any supported transform needs: SPI, sequence number, 16-byte CBC IV.
pub const MAX_HEADROOM: usize = ESP_HEADER_LEN + 16;
/// The most tailroom any supported transform needs: 15 bytes of CBC padding, pad length,
/// next header and the 32-byte ICV of HMAC-SHA2-512-256.
pub const MAX_TAILROOM: usize = 15 + 2 + 32;

/// AES key size of a transform (the IKE Key Length attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    /// 128-bit key.
    Aes128,
    /// 256-bit key.
    Aes256,
}

impl AesKeySize {
    /// From the Key Length attribute, in bits; only 128 and 256 are supported.
    pub const fn from_bits(bits: u16) -> Option<Self> {
        match bits {
            128 => Some(Self::Aes128),
            256 => Some(Self::Aes256),
            _ => None,
        }
    }

    /// The key length in bits.
    pub const fn bits(self) -> u16 {
        match self {
            Self::Aes128 => 128,
            Self::Aes256 => 256,
        }
    }

    /// The key length in bytes.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes256 => 32,
        }
    }
}

/// An ESP integrity algorithm (RFC 2404, RFC 4868), used with AES-CBC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    /// AUTH_HMAC_SHA1_96: 20-byte key, 12-byte ICV.
    HmacSha1_96,
    /// AUTH_HMAC_SHA2_256_128: 32-byte key, 16-byte ICV.
    HmacSha2_256_128,
    /// AUTH_HMAC_SHA2_384_192: 48-byte key, 24-byte ICV.
    HmacSha2_384_192,
    /// AUTH_HMAC_SHA2_512_256: 64-byte key, 32-byte ICV.
    HmacSha2_512_256,
}

impl IntegrityAlgorithm {
    /// All supported integrity algorithms.
    pub const ALL: [Self; 4] = [
        Self::HmacSha1_96,
        Self::HmacSha2_256_128,
        Self::HmacSha2_384_192,
        Self::HmacSha2_512_256,
    ];

    /// From the IANA transform type 3 ID.
    pub const fn from_iana_id(id: u16) -> Option<Self> {
        match id {
            iana::AUTH_HMAC_SHA1_96 => Some(Self::HmacSha1_96),
            iana::AUTH_HMAC_SHA2_256_128 => Some(Self::HmacSha2_256_128),
            iana::AUTH_HMAC_SHA2_384_192 => Some(Self::HmacSha2_384_192),
            iana::AUTH_HMAC_SHA2_512_256 => Some(Self::HmacSha2_512_256),
            _ => None,
        }
    }

    /// The IANA transform type 3 ID.
    pub const fn iana_id(self) -> u16 {
        match self {
            Self::HmacSha1_96 => iana::AUTH_HMAC_SHA1_96,
            Self::HmacSha2_256_128 => iana::AUTH_HMAC_SHA2_256_128,
            Self::HmacSha2_384_192 => iana::AUTH_HMAC_SHA2_384_192,
            Self::HmacSha2_512_256 => iana::AUTH_HMAC_SHA2_512_256,
        }
    }

    /// Integrity key length in bytes (the hash output length, RFC 4868 section 2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha2_256_128 => 32,
            Self::HmacSha2_384_192 => 48,
            Self::HmacSha2_512_256 => 64,
        }
    }

    /// Truncated ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha2_256_128 => 16,
            Self::HmacSha2_384_192 => 24,
            Self::HmacSha2_512_256 => 32,
        }
    }

    fn ring_algorithm(self) -> hmac::Algorithm {
        match self {
            Self::HmacSha1_96 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::HmacSha2_256_128 => hmac::HMAC_SHA256,
            Self::HmacSha2_384_192 => hmac::HMAC_SHA384,
            Self::HmacSha2_512_256 => hmac::HMAC_SHA512,
        }
    }
}

/// The negotiated ESP transform of a Child SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EspAlgorithm {
    /// ENCR_AES_GCM_16 (RFC 4106): key material is key || 4-byte salt, 8-byte explicit IV,
    /// 16-byte ICV, no separate integrity transform.
    AesGcm16(AesKeySize),
    /// ENCR_AES_CBC (RFC 3602) with an HMAC integrity transform: 16-byte IV, the ICV covers
    /// the ESP header, IV and ciphertext (encrypt-then-MAC).
    AesCbc(AesKeySize, IntegrityAlgorithm),
}

impl EspAlgorithm {
    /// Every supported transform: AES-GCM-16 128/256 and AES-CBC 128/256 with each HMAC.
    pub const ALL: [Self; 10] = [
        Self::AesGcm16(AesKeySize::Aes128),
        Self::AesGcm16(AesKeySize::Aes256),
        Self::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha1_96),
        Self::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha2_256_128),
        Self::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha2_384_192),
        Self::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha2_512_256),
        Self::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha1_96),
        Self::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha2_256_128),
        Self::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha2_384_192),
        Self::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha2_512_256),
    ];

    /// From the negotiated IKEv2 transforms: the encryption transform ID
    /// ([`iana::ENCR_AES_CBC`] or [`iana::ENCR_AES_GCM_16`]) with its Key Length attribute in
    /// bits, and the integrity transform ID (`None` or [`iana::AUTH_NONE`] when there is none).
    pub fn from_iana(
        encr_id: u16,
        key_bits: Option<u16>,
        integ_id: Option<u16>,
    ) -> Result<Self, EspError> {
        let unsupported = EspError::UnsupportedEncryption {
            id: encr_id,
            key_bits,
        };
        let key_size = key_bits
            .and_then(AesKeySize::from_bits)
            .ok_or(unsupported)?;
        let integ = integ_id.filter(|&id| id != iana::AUTH_NONE);
        match encr_id {
            iana::ENCR_AES_GCM_16 => match integ {
                None => Ok(Self::AesGcm16(key_size)),
                Some(id) => Err(EspError::UnsupportedIntegrity { id: Some(id) }),
            },
            iana::ENCR_AES_CBC => {
                let integrity = integ
                    .and_then(IntegrityAlgorithm::from_iana_id)
                    .ok_or(EspError::UnsupportedIntegrity { id: integ })?;
                Ok(Self::AesCbc(key_size, integrity))
            }
            _ => Err(unsupported),
        }
    }

    /// Whether this is a combined-mode (AEAD) transform.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AesGcm16(_))
    }

    /// The IANA transform type 1 ID.
    pub const fn encryption_iana_id(self) -> u16 {
        match self {
            Self::AesGcm16(_) => iana::ENCR_AES_GCM_16,
            Self::AesCbc(..) => iana::ENCR_AES_CBC,
        }
    }

    /// The IANA transform type 3 ID, `None` for AES-GCM.
    pub const fn integrity_iana_id(self) -> Option<u16> {
        match self {
            Self::AesGcm16(_) => None,
            Self::AesCbc(_, integ) => Some(integ.iana_id()),
        }
    }

    /// The AES key size.
    pub const fn key_size(self) -> AesKeySize {
        match self {
            Self::AesGcm16(size) | Self::AesCbc(size, _) => size,
        }
    }

    /// Encryption key length in bytes, including the 4-byte salt for AES-GCM
    /// (RFC 4106 section 8.1).
    pub const fn encryption_key_len(self) -> usize {
        match self {
            Self::AesGcm16(size) => size.key_len() + GCM_SALT_LEN,
            Self::AesCbc(size, _) => size.key_len(),
        }
    }

    /// Integrity key length in bytes (0 for AES-GCM).
    pub const fn integrity_key_len(self) -> usize {
        match self {
            Self::AesGcm16(_) => 0,
            Self::AesCbc(_, integ) => integ.key_len(),
        }
    }

    /// How many KEYMAT bytes one direction of the Child SA takes: the encryption key (with
    /// salt) followed by the integrity key, in that order (RFC 7296 section 2.17).
    pub const fn key_material_len(self) -> usize {
        self.encryption_key_len() + self.integrity_key_len()
    }

    /// Length of the IV carried in each packet: 8 for AES-GCM, 16 for AES-CBC.
    pub const fn iv_len(self) -> usize {
        match self {
            Self::AesGcm16(_) => 8,
            Self::AesCbc(..) => 16,
        }
    }

    /// Length of the ICV: 16 for AES-GCM, the truncated HMAC length for AES-CBC.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::AesGcm16(_) => 16,
            Self::AesCbc(_, integ) => integ.icv_len(),
        }
    }

    /// The alignment of the encrypted part (inner packet, padding, pad length, next header):
    /// the 4-byte ESP alignment for AES-GCM (a stream mode), the 16-byte block for AES-CBC.
    pub const fn block_size(self) -> usize {
        match self {
            Self::AesGcm16(_) => 4,
            Self::AesCbc(..) => 16,
        }
    }

    /// Bytes the ESP header (SPI, sequence number, IV) takes before the inner packet.
    pub const fn headroom(self) -> usize {
        ESP_HEADER_LEN + self.iv_len()
    }

    /// The most bytes the ESP trailer (padding, pad length, next header) and ICV take after
    /// the inner packet, whatever its length.
    pub const fn max_tailroom(self) -> usize {
        self.block_size() - 1 + 2 + self.icv_len()
    }

    /// Length of the padding for an inner packet of `inner_len` bytes.
    pub const fn pad_len(self, inner_len: usize) -> usize {
        let block = self.block_size();
        (block - (inner_len % block + 2) % block) % block
    }

    /// Exact bytes the trailer and ICV take after an inner packet of `inner_len` bytes.
    pub const fn tailroom(self, inner_len: usize) -> usize {
        self.pad_len(inner_len) + 2 + self.icv_len()
    }

    /// Length of the whole ESP packet carrying an inner packet of `inner_len` bytes
    /// (saturating at `usize::MAX`).
    pub const fn esp_len(self, inner_len: usize) -> usize {
        inner_len.saturating_add(self.headroom() + self.tailroom(inner_len))
    }
}

/// An AES block cipher key schedule for CBC, either size.
/// (Boxed: the key schedules are large and would bloat every SA using AES-GCM.)
pub(crate) enum AesCbcKey {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

/// Keyed cipher state of one direction of an SA.
// The AES-GCM key stays inline (it is the hot path); only the CBC variant is small.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Cipher {
    Gcm {
        key: aead::LessSafeKey,
        salt: [u8; GCM_SALT_LEN],
    },
    Cbc {
        key: AesCbcKey,
        mac: hmac::Key,
        icv_len: usize,
    },
}

impl Drop for Cipher {
    fn drop(&mut self) {
        // The AES key schedules zeroize themselves (`aes` feature `zeroize`); ring's AEAD and
        // HMAC keys offer no way to wipe them.
        if let Cipher::Gcm { salt, .. } = self {
            salt.zeroize();
        }
    }
}

/// Byte layout of one ESP packet as seen by [`Cipher`]: `pkt[..header]` is SPI, sequence
/// number and IV; `pkt[header..header + payload]` the (to be) encrypted part; the ICV follows.
#[derive(Clone, Copy)]
pub(crate) struct Layout {
    pub header: usize,
    pub payload: usize,
    pub icv: usize,
}

impl Cipher {
    pub(crate) fn new(algorithm: EspAlgorithm, keymat: &[u8]) -> Result<Self, EspError> {
        let expected = algorithm.key_material_len();
        if keymat.len() != expected {
            return Err(EspError::KeyLength {
                expected,
                got: keymat.len(),
            });
        }
        let bad_len = EspError::KeyLength {
            expected,
            got: keymat.len(),
        };
        match algorithm {
            EspAlgorithm::AesGcm16(size) => {
                let (key, salt) = keymat.split_at(size.key_len());
                let ring_alg = match size {
                    AesKeySize::Aes128 => &aead::AES_128_GCM,
                    AesKeySize::Aes256 => &aead::AES_256_GCM,
                };
                let unbound = aead::UnboundKey::new(ring_alg, key).map_err(|_| bad_len)?;
                let salt: [u8; GCM_SALT_LEN] = salt.try_into().map_err(|_| bad_len)?;
                Ok(Cipher::Gcm {
                    key: aead::LessSafeKey::new(unbound),
                    salt,
                })
            }
            EspAlgorithm::AesCbc(size, integ) => {
                let (enc, integ_key) = keymat.split_at(size.key_len());
                let key = match size {
                    AesKeySize::Aes128 => AesCbcKey::Aes128(Box::new(
                        aes::Aes128::new_from_slice(enc).map_err(|_| bad_len)?,
                    )),
                    AesKeySize::Aes256 => AesCbcKey::Aes256(Box::new(
                        aes::Aes256::new_from_slice(enc).map_err(|_| bad_len)?,
                    )),
                };
                Ok(Cipher::Cbc {
                    key,
                    mac: hmac::Key::new(integ.ring_algorithm(), integ_key),
                    icv_len: integ.icv_len(),
                })
            }
        }
    }

    /// Encrypts `pkt`'s payload in place and writes the ICV. The header and IV must already be
    /// written. `seq_hi` is the high half of the extended sequence number when ESN is on.
    pub(crate) fn seal(
        &self,
        pkt: &mut [u8],
        layout: Layout,
        seq_hi: Option<u32>,
    ) -> Result<(), EspError> {
        let payload_end = layout.header + layout.payload;
        let fail = EspError::BufferTooSmall {
            headroom: layout.header,
            tailroom: layout.icv,
        };
        match self {
            Cipher::Gcm { key, salt } => {
                let (head, rest) = pkt.split_at_mut(layout.header.min(pkt.len()));
                let (payload, icv) = rest.split_at_mut(layout.payload.min(rest.len()));
                let nonce = gcm_nonce(salt, head).ok_or(fail)?;
                let (aad, aad_len) = gcm_aad(head, seq_hi).ok_or(fail)?;
                let aad = aead::Aad::from(aad.get(..aad_len).ok_or(fail)?);
                let icv: &mut [u8; 16] = icv
                    .get_mut(..layout.icv)
                    .and_then(|icv| icv.try_into().ok())
                    .ok_or(fail)?;
                match key.seal_in_place_separate_tag(nonce, aad, payload) {
                    Ok(tag) => {
                        icv.copy_from_slice(tag.as_ref());
                        Ok(())
                    }
                    Err(_) => Err(fail),
                }
            }
            Cipher::Cbc { key, mac, icv_len } => {
                let (head, rest) = pkt.split_at_mut(layout.header.min(pkt.len()));
                let iv = head.get(ESP_HEADER_LEN..).ok_or(fail)?;
                let payload = rest.get_mut(..layout.payload).ok_or(fail)?;
                cbc_encrypt(key, iv, payload).ok_or(fail)?;
                let signed = pkt.get(..payload_end).ok_or(fail)?;
                let tag = hmac_icv(mac, signed, seq_hi);
                let icv = pkt
                    .get_mut(payload_end..payload_end + *icv_len)
                    .ok_or(fail)?;
                icv.copy_from_slice(tag.as_ref().get(..*icv_len).ok_or(fail)?);
                Ok(())
            }
        }
    }

    /// Verifies the ICV of `pkt` (constant time). For AES-GCM verification and decryption are
    /// one operation, so on success the payload is already plaintext; for AES-CBC it is still
    /// ciphertext and [`Cipher::decrypt_verified`] must follow.
    pub(crate) fn verify(&self, pkt: &mut [u8], layout: Layout, seq_hi: Option<u32>) -> bool {
        match self {
            Cipher::Gcm { key, salt } => {
                let (head, rest) = pkt.split_at_mut(layout.header.min(pkt.len()));
                let Some(in_out) = rest.get_mut(..layout.payload + layout.icv) else {
                    return false;
                };
                let (Some(nonce), Some((aad, aad_len))) =
                    (gcm_nonce(salt, head), gcm_aad(head, seq_hi))
                else {
                    return false;
                };
                let Some(aad) = aad.get(..aad_len) else {
                    return false;
                };
                key.open_in_place(nonce, aead::Aad::from(aad), in_out)
                    .is_ok()
            }
            Cipher::Cbc { mac, icv_len, .. } => {
                let payload_end = layout.header + layout.payload;
                let (Some(signed), Some(icv)) = (
                    pkt.get(..payload_end),
                    pkt.get(payload_end..payload_end + *icv_len),
                ) else {
                    return false;
                };
                let tag = hmac_icv(mac, signed, seq_hi);
                match tag.as_ref().get(..*icv_len) {
                    Some(expected) => bool::from(expected.ct_eq(icv)),
                    None => false,
                }
            }
        }
    }

    /// Decrypts the payload of a packet whose ICV [`Cipher::verify`] accepted (a no-op for
    /// AES-GCM). Returns false only if the layout is inconsistent.
    pub(crate) fn decrypt_verified(&self, pkt: &mut [u8], layout: Layout) -> bool {
        match self {
            Cipher::Gcm { .. } => true,
            Cipher::Cbc { key, .. } => {
                let (head, rest) = pkt.split_at_mut(layout.header.min(pkt.len()));
                match (head.get(ESP_HEADER_LEN..), rest.get_mut(..layout.payload)) {
                    (Some(iv), Some(payload)) => cbc_decrypt(key, iv, payload).is_some(),
                    _ => false,
                }
            }
        }
    }
}

/// RFC 4106 section 4: nonce = salt || the packet's 8-byte IV.
fn gcm_nonce(salt: &[u8; GCM_SALT_LEN], head: &[u8]) -> Option<aead::Nonce> {
    let iv = head.get(ESP_HEADER_LEN..ESP_HEADER_LEN + 8)?;
    let mut nonce = [0u8; aead::NONCE_LEN];
    nonce[..GCM_SALT_LEN].copy_from_slice(salt);
    nonce[GCM_SALT_LEN..].copy_from_slice(iv);
    Some(aead::Nonce::assume_unique_for_key(nonce))
}

/// RFC 4106 section 5: AAD = SPI || sequence number (32 bits), or SPI || seq-hi || seq-lo
/// with extended sequence numbers.
fn gcm_aad(head: &[u8], seq_hi: Option<u32>) -> Option<([u8; 12], usize)> {
    let spi = head.get(0..4)?;
    let seq_lo = head.get(4..8)?;
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(spi);
    match seq_hi {
        None => {
            aad[4..8].copy_from_slice(seq_lo);
            Some((aad, 8))
        }
        Some(hi) => {
            aad[4..8].copy_from_slice(&hi.to_be_bytes());
            aad[8..12].copy_from_slice(seq_lo);
            Some((aad, 12))
        }
    }
}

/// RFC 4303 section 2.2.1 / 3.3.2.1: the ICV covers SPI through the end of the ciphertext;
/// with ESN the high 32 bits of the sequence number are appended for the computation only.
fn hmac_icv(mac: &hmac::Key, signed: &[u8], seq_hi: Option<u32>) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(signed);
    if let Some(hi) = seq_hi {
        ctx.update(&hi.to_be_bytes());
    }
    ctx.sign()
}

fn cbc_encrypt(key: &AesCbcKey, iv: &[u8], payload: &mut [u8]) -> Option<()> {
    let len = payload.len();
    match key {
        AesCbcKey::Aes128(k) => cbc::Encryptor::<&aes::Aes128>::inner_iv_slice_init(&**k, iv)
            .ok()?
            .encrypt_padded_mut::<NoPadding>(payload, len)
            .ok()
            .map(|_| ()),
        AesCbcKey::Aes256(k) => cbc::Encryptor::<&aes::Aes256>::inner_iv_slice_init(&**k, iv)
            .ok()?
            .encrypt_padded_mut::<NoPadding>(payload, len)
            .ok()
            .map(|_| ()),
    }
}

fn cbc_decrypt(key: &AesCbcKey, iv: &[u8], payload: &mut [u8]) -> Option<()> {
    match key {
        AesCbcKey::Aes128(k) => cbc::Decryptor::<&aes::Aes128>::inner_iv_slice_init(&**k, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(payload)
            .ok()
            .map(|_| ()),
        AesCbcKey::Aes256(k) => cbc::Decryptor::<&aes::Aes256>::inner_iv_slice_init(&**k, iv)
            .ok()?
            .decrypt_padded_mut::<NoPadding>(payload)
            .ok()
            .map(|_| ()),
    }
}

/// The per-SA generator of AES-CBC IVs: `IV = AES-128(iv_key, 0^64 || sequence number)`.
///
/// RFC 3602 requires CBC IVs to be unpredictable to an attacker. A random IV per packet would
/// cost a `getrandom` system call (or a user-space CSPRNG) on every packet; instead the IV is
/// the encryption of the packet's unique 64-bit sequence number under a random per-SA key that
/// the caller draws once when the SA is built (the idea of Linux's `seqiv`/`echainiv` IV
/// generators, and NIST SP 800-38A appendix C's "encrypt a nonce"). The sequence number never
/// repeats within an SA, so IVs are distinct; without the IV key, which never leaves this
/// struct and is independent of the traffic keys, they cannot be predicted.
pub(crate) struct IvGenerator {
    key: aes::Aes128,
}

impl IvGenerator {
    pub(crate) fn new(iv_key: &[u8; 16]) -> Self {
        Self {
            key: aes::Aes128::new(iv_key.into()),
        }
    }

    pub(crate) fn iv(&self, seq: u64) -> [u8; 16] {
        use aes::cipher::BlockEncrypt;
        let mut block = [0u8; 16];
        block[8..].copy_from_slice(&seq.to_be_bytes());
        let mut ga = aes::Block::from(block);
        self.key.encrypt_block(&mut ga);
        ga.into()
    }
}
