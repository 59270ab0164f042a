//! Protection of the SK payload (RFC 7296 3.14) and SKF fragments (RFC 7383).
//!
//! The caller lays out the IKE header and the SK/SKF generic payload header (with their
//! final lengths, see [`SkCipher::sealed_len`]); [`SkCipher::seal`] then appends the IV,
//! the encrypted inner payloads with padding, and the ICV. With AES-CBC the ICV is a
//! truncated HMAC over the whole message up to the ICV; with AES-GCM (RFC 5282) the IKE
//! header and the SK payload header are the additional authenticated data and the nonce
//! is `salt | IV`.

use crate::integ::IntegKey;
use crate::{CryptoError, Integ, Random};
use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use ring::aead;
use zeroize::Zeroizing;

/// Encryption algorithms (IANA "Transform Type 1") with their key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// ENCR_AES_CBC (12), 128-bit key.
    AesCbc128,
    /// ENCR_AES_CBC (12), 256-bit key.
    AesCbc256,
    /// ENCR_AES_GCM_16 (20), 128-bit key.
    AesGcm16_128,
    /// ENCR_AES_GCM_16 (20), 256-bit key.
    AesGcm16_256,
}

impl Encr {
    /// All supported encryption algorithms.
    pub const ALL: [Encr; 4] = [
        Encr::AesCbc128,
        Encr::AesCbc256,
        Encr::AesGcm16_128,
        Encr::AesGcm16_256,
    ];

    /// From the IANA transform ID and the Key Length attribute (bits).
    pub fn from_id(id: u16, key_bits: Option<u16>) -> Option<Self> {
        Some(match (id, key_bits) {
            (12, Some(128)) => Encr::AesCbc128,
            (12, Some(256)) => Encr::AesCbc256,
            (20, Some(128)) => Encr::AesGcm16_128,
            (20, Some(256)) => Encr::AesGcm16_256,
            _ => return None,
        })
    }

    /// The IANA transform ID.
    pub fn id(self) -> u16 {
        match self {
            Encr::AesCbc128 | Encr::AesCbc256 => 12,
            Encr::AesGcm16_128 | Encr::AesGcm16_256 => 20,
        }
    }

    /// The Key Length attribute value in bits.
    pub fn key_bits(self) -> u16 {
        match self {
            Encr::AesCbc128 | Encr::AesGcm16_128 => 128,
            Encr::AesCbc256 | Encr::AesGcm16_256 => 256,
        }
    }

    /// Whether this is an AEAD (combined-mode) cipher that needs no integrity transform.
    pub fn is_aead(self) -> bool {
        matches!(self, Encr::AesGcm16_128 | Encr::AesGcm16_256)
    }

    /// Bytes of keying material: the key, plus the 4-byte salt for AES-GCM (RFC 4106 8.1, RFC 5282 7.1).
    pub fn key_material_len(self) -> usize {
        self.key_bits() as usize / 8 + if self.is_aead() { 4 } else { 0 }
    }

    /// Length of the IV in the SK payload.
    pub fn iv_len(self) -> usize {
        if self.is_aead() {
            8
        } else {
            16
        }
    }

    /// Name in the style of the IANA registry.
    pub fn name(self) -> &'static str {
        match self {
            Encr::AesCbc128 => "ENCR_AES_CBC-128",
            Encr::AesCbc256 => "ENCR_AES_CBC-256",
            Encr::AesGcm16_128 => "ENCR_AES_GCM_16-128",
            Encr::AesGcm16_256 => "ENCR_AES_GCM_16-256",
        }
    }
}

impl std::fmt::Display for Encr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

enum Cipher {
    Cbc128(Zeroizing<[u8; 16]>, IntegKey),
    Cbc256(Zeroizing<[u8; 32]>, IntegKey),
    Gcm(Box<aead::LessSafeKey>, [u8; 4]),
}

/// One direction's SK payload protection: cipher, key and (for CBC) integrity key.
pub struct SkCipher {
    encr: Encr,
    cipher: Cipher,
}

impl std::fmt::Debug for SkCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SkCipher")
            .field("encr", &self.encr)
            .finish_non_exhaustive()
    }
}

const GCM_TAG_LEN: usize = 16;

impl SkCipher {
    /// Builds a cipher from SK_e (and SK_a with `integ`; AEAD ciphers take `None` and an empty key).
    pub fn new(
        encr: Encr,
        sk_e: &[u8],
        integ: Option<Integ>,
        sk_a: &[u8],
    ) -> Result<Self, CryptoError> {
        if sk_e.len() != encr.key_material_len() {
            return Err(CryptoError::KeyLength {
                expected: encr.key_material_len(),
                got: sk_e.len(),
            });
        }
        let cipher = if encr.is_aead() {
            let klen = sk_e.len() - 4;
            let alg = if klen == 16 {
                &aead::AES_128_GCM
            } else {
                &aead::AES_256_GCM
            };
            let key =
                aead::UnboundKey::new(alg, &sk_e[..klen]).map_err(|_| CryptoError::KeyLength {
                    expected: klen,
                    got: sk_e.len(),
                })?;
            let mut salt = [0u8; 4];
            salt.copy_from_slice(&sk_e[klen..]);
            Cipher::Gcm(Box::new(aead::LessSafeKey::new(key)), salt)
        } else {
            let integ = integ.ok_or(CryptoError::Malformed(
                "AES-CBC needs an integrity transform",
            ))?;
            let ik = integ.key(sk_a)?;
            match encr {
                Encr::AesCbc128 => {
                    let mut k = Zeroizing::new([0u8; 16]);
                    k.copy_from_slice(sk_e);
                    Cipher::Cbc128(k, ik)
                }
                _ => {
                    let mut k = Zeroizing::new([0u8; 32]);
                    k.copy_from_slice(sk_e);
                    Cipher::Cbc256(k, ik)
                }
            }
        };
        Ok(Self { encr, cipher })
    }

    /// The encryption algorithm.
    pub fn encr(&self) -> Encr {
        self.encr
    }

    /// Length of the ICV that ends the SK payload.
    pub fn icv_len(&self) -> usize {
        match &self.cipher {
            Cipher::Gcm(..) => GCM_TAG_LEN,
            Cipher::Cbc128(_, ik) | Cipher::Cbc256(_, ik) => ik.integ().icv_len(),
        }
    }

    fn padded_len(&self, plain_len: usize) -> usize {
        if self.encr.is_aead() {
            plain_len + 1
        } else {
            (plain_len + 1).div_ceil(16) * 16
        }
    }

    /// Length of the SK payload body (IV, ciphertext with padding and pad length, ICV)
    /// that [`seal`](Self::seal) appends for `plain_len` bytes of inner payloads.
    pub fn sealed_len(&self, plain_len: usize) -> usize {
        self.encr.iv_len() + self.padded_len(plain_len) + self.icv_len()
    }

    /// The largest inner plaintext whose sealed body fits in `body_len` bytes.
    pub fn max_plain_len(&self, body_len: usize) -> usize {
        let overhead = self.encr.iv_len() + self.icv_len();
        let room = body_len.saturating_sub(overhead);
        if self.encr.is_aead() {
            room.saturating_sub(1)
        } else {
            (room / 16 * 16).saturating_sub(1)
        }
    }

    /// Appends the sealed SK body for `plain` to `msg`, whose current contents (the IKE
    /// header up to and including the SK or SKF payload header, lengths already final)
    /// are authenticated.
    pub fn seal(&self, rng: &mut dyn Random, msg: &mut Vec<u8>, plain: &[u8]) {
        let aad_len = msg.len();
        let mut iv = [0u8; 16];
        let iv = &mut iv[..self.encr.iv_len()];
        rng.fill(iv);
        msg.extend_from_slice(iv);
        let ct_start = msg.len();
        msg.extend_from_slice(plain);
        let pad = self.padded_len(plain.len()) - plain.len() - 1;
        msg.resize(msg.len() + pad, 0);
        msg.push(pad as u8);
        match &self.cipher {
            Cipher::Gcm(key, salt) => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(iv);
                let (head, body) = msg.split_at_mut(ct_start);
                let tag = key
                    .seal_in_place_separate_tag(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(&head[..aad_len]),
                        body,
                    )
                    .expect("AES-GCM input is far below its length limit");
                msg.extend_from_slice(tag.as_ref());
            }
            Cipher::Cbc128(k, ik) => {
                cbc_encrypt::<aes::Aes128>(&k[..], iv, &mut msg[ct_start..]);
                append_icv(ik, msg);
            }
            Cipher::Cbc256(k, ik) => {
                cbc_encrypt::<aes::Aes256>(&k[..], iv, &mut msg[ct_start..]);
                append_icv(ik, msg);
            }
        }
    }

    /// Verifies and decrypts the SK body `msg[body_start..]` (the SK payload is the last
    /// payload, so its body runs to the end of the message); `msg[..body_start]` is
    /// authenticated. Returns the inner payloads without padding.
    pub fn open(&self, msg: &[u8], body_start: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let body = msg
            .get(body_start..)
            .ok_or(CryptoError::Malformed("SK payload outside the message"))?;
        let iv_len = self.encr.iv_len();
        let icv_len = self.icv_len();
        if body.len() < iv_len + icv_len + 1 {
            return Err(CryptoError::Malformed("SK payload too short"));
        }
        let iv = &body[..iv_len];
        let mut plain = match &self.cipher {
            Cipher::Gcm(key, salt) => {
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(iv);
                let mut buf = Zeroizing::new(body[iv_len..].to_vec());
                let n = key
                    .open_in_place(
                        aead::Nonce::assume_unique_for_key(nonce),
                        aead::Aad::from(&msg[..body_start]),
                        &mut buf,
                    )
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                buf.truncate(n);
                buf
            }
            Cipher::Cbc128(_, ik) | Cipher::Cbc256(_, ik) => {
                let ct_len = body.len() - iv_len - icv_len;
                if !ct_len.is_multiple_of(16) {
                    return Err(CryptoError::Malformed(
                        "AES-CBC ciphertext is not a whole number of blocks",
                    ));
                }
                let icv_at = msg.len() - icv_len;
                ik.verify(&msg[..icv_at], &msg[icv_at..])?;
                let mut buf = Zeroizing::new(body[iv_len..iv_len + ct_len].to_vec());
                match &self.cipher {
                    Cipher::Cbc128(k, _) => cbc_decrypt::<aes::Aes128>(&k[..], iv, &mut buf),
                    Cipher::Cbc256(k, _) => cbc_decrypt::<aes::Aes256>(&k[..], iv, &mut buf),
                    Cipher::Gcm(..) => unreachable!("matched CBC above"),
                }
                buf
            }
        };
        let pad_len = *plain
            .last()
            .ok_or(CryptoError::Malformed("empty plaintext"))? as usize;
        if pad_len + 1 > plain.len() {
            return Err(CryptoError::Malformed(
                "pad length longer than the plaintext",
            ));
        }
        let n = plain.len() - pad_len - 1;
        plain.truncate(n);
        Ok(plain)
    }
}

fn append_icv(ik: &IntegKey, msg: &mut Vec<u8>) {
    let mut icv = [0u8; 64];
    let n = ik.integ().icv_len();
    ik.compute(msg, &mut icv[..n]);
    msg.extend_from_slice(&icv[..n]);
}

fn cbc_encrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8])
where
    C: aes::cipher::BlockEncrypt + aes::cipher::BlockCipher + aes::cipher::KeyInit,
{
    let enc = cbc::Encryptor::<C>::new_from_slices(key, iv).expect("key and IV lengths checked");
    let len = buf.len();
    enc.encrypt_padded_mut::<NoPadding>(buf, len)
        .expect("buffer is a whole number of blocks");
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], buf: &mut [u8])
where
    C: aes::cipher::BlockDecrypt + aes::cipher::BlockCipher + aes::cipher::KeyInit,
{
    let dec = cbc::Decryptor::<C>::new_from_slices(key, iv).expect("key and IV lengths checked");
    dec.decrypt_padded_mut::<NoPadding>(buf)
        .expect("buffer is a whole number of blocks");
}
