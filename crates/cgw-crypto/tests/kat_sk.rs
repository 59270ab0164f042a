//! Known-answer tests of SK payload protection (`SkCipher`) built from published AES-GCM and
//! AES-CBC vectors (`tests/vectors/aes_gcm.txt`, `aes_cbc.txt`).
//!
//! An SK payload body is `IV | ciphertext | ICV`, where the ciphertext encrypts
//! `inner payloads | padding | Pad Length` (RFC 7296 3.14). A published vector therefore maps
//! onto `SkCipher::open` directly: its plaintext's last byte acts as the Pad Length, and `open`
//! must return the plaintext without that byte and the `Pad Length` bytes before it (or
//! report a malformed payload when that byte is too large). Where the plaintext ends in a zero
//! byte, sealing `plaintext[..len - 1]` (no padding, Pad Length 0) with the vector's IV must
//! reproduce the published ciphertext exactly.
//!
//! For AES-GCM (RFC 5282) SK_e is `key | salt`, the nonce is `salt | 8-byte IV`, and the AAD
//! is everything before the SK body, so a vector with a 96-bit IV is replayed with
//! `salt = IV[..4]`, the body's IV = `IV[4..]` and the message prefix = the vector's AAD.

mod common;

use cgw_crypto::{CryptoError, Encr, Integ, SkCipher};
use common::{load, FixedRandom, Record};
use ring::hmac;

/// What `open` must return for a published plaintext, per the RFC 7296 padding rule.
fn expected_open(pt: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let pad = *pt.last().expect("non-empty plaintext") as usize;
    if pad + 1 > pt.len() {
        Err(CryptoError::Malformed(
            "pad length longer than the plaintext",
        ))
    } else {
        Ok(pt[..pt.len() - pad - 1].to_vec())
    }
}

fn open(c: &SkCipher, msg: &[u8], body_start: usize) -> Result<Vec<u8>, CryptoError> {
    c.open(msg, body_start).map(|p| p.to_vec())
}

fn flip(msg: &[u8], at: usize) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[at] ^= 0x01;
    m
}

// ------------------------------------------------------------------------------ AES-GCM

fn gcm_cipher(r: &Record) -> (SkCipher, Vec<u8>) {
    let (key, iv) = (r.hex("key"), r.hex("iv"));
    assert_eq!(iv.len(), 12, "{}: 96-bit IV", r.at);
    let encr = match key.len() {
        16 => Encr::AesGcm16_128,
        32 => Encr::AesGcm16_256,
        n => panic!("{}: {n}-byte key", r.at),
    };
    let sk_e = [&key[..], &iv[..4]].concat();
    (SkCipher::new(encr, &sk_e, None, &[]).unwrap(), iv)
}

#[test]
fn aes_gcm_vectors_open_through_sk_cipher() {
    let recs = load("aes_gcm.txt");
    assert_eq!(recs.len(), 13);
    let (mut opened, mut malformed) = (0, 0);
    for r in &recs {
        let (c, iv) = gcm_cipher(r);
        let (aad, pt, ct, tag) = (
            r.hex("aad"),
            r.hex("plaintext"),
            r.hex("ciphertext"),
            r.hex("tag"),
        );
        assert_eq!((pt.len(), tag.len()), (ct.len(), 16), "{}", r.at);
        let msg = [&aad[..], &iv[4..], &ct[..], &tag[..]].concat();
        let start = aad.len();
        let want = expected_open(&pt);
        assert_eq!(open(&c, &msg, start), want, "{}", r.at);
        match want {
            Ok(_) => opened += 1,
            Err(_) => malformed += 1,
        }
        // The tag covers the AAD, the nonce (salt | IV) and the ciphertext.
        let tag_at = msg.len() - 16;
        let mut positions = vec![start, start + 7, start + 8, tag_at, msg.len() - 1];
        if start > 0 {
            positions.push(0);
            positions.push(start - 1);
        }
        for at in positions {
            assert_eq!(
                open(&c, &flip(&msg, at), start),
                Err(CryptoError::IntegrityCheckFailed),
                "{}: byte {at} flipped",
                r.at
            );
        }
        // Moving the AAD/body boundary changes the AAD: must fail.
        if start > 0 {
            assert_eq!(
                open(&c, &msg, start - 1).map(|_| ()),
                Err(CryptoError::IntegrityCheckFailed),
                "{}",
                r.at
            );
        }
        // The salt is part of the nonce.
        let mut wrong_salt = [&r.hex("key")[..], &iv[..4]].concat();
        *wrong_salt.last_mut().unwrap() ^= 1;
        let c2 = SkCipher::new(c.encr(), &wrong_salt, None, &[]).unwrap();
        assert_eq!(
            open(&c2, &msg, start),
            Err(CryptoError::IntegrityCheckFailed),
            "{}",
            r.at
        );
    }
    assert!(
        opened >= 8 && malformed >= 2,
        "{opened} opened, {malformed} malformed"
    );
}

#[test]
fn aes_gcm_seal_reproduces_published_ciphertexts() {
    let mut reproduced = 0;
    for r in &load("aes_gcm.txt") {
        let pt = r.hex("plaintext");
        if pt.last() != Some(&0) {
            continue;
        }
        let (c, iv) = gcm_cipher(r);
        let (aad, ct, tag) = (r.hex("aad"), r.hex("ciphertext"), r.hex("tag"));
        let inner = &pt[..pt.len() - 1];
        let mut rng = FixedRandom::new(&iv[4..]);
        let mut msg = aad.clone();
        c.seal(&mut rng, &mut msg, inner);
        assert!(rng.exhausted(), "{}: IV not taken from the Random", r.at);
        assert_eq!(
            msg,
            [&aad[..], &iv[4..], &ct[..], &tag[..]].concat(),
            "{}",
            r.at
        );
        assert_eq!(msg.len() - aad.len(), c.sealed_len(inner.len()), "{}", r.at);
        assert_eq!(open(&c, &msg, aad.len()).unwrap(), inner, "{}", r.at);
        reproduced += 1;
    }
    // McGrew-Viega test cases 2 and 14 and one NIST vector with AAD.
    assert_eq!(reproduced, 3);
}

// ------------------------------------------------------------------------------ AES-CBC

/// An arbitrary stand-in for the IKE header and SK payload header that precede the body.
const HEADER: &[u8] = b"IKE header+SK payload hdr....";

fn cbc_setup(r: &Record) -> (SkCipher, hmac::Key, Integ) {
    let key = r.hex("key");
    let (encr, integ, alg) = match key.len() {
        16 => (Encr::AesCbc128, Integ::HmacSha2_256_128, hmac::HMAC_SHA256),
        32 => (Encr::AesCbc256, Integ::HmacSha2_512_256, hmac::HMAC_SHA512),
        n => panic!("{}: {n}-byte key", r.at),
    };
    let sk_a: Vec<u8> = (1..=integ.key_len() as u8).collect();
    let c = SkCipher::new(encr, &key, Some(integ), &sk_a).unwrap();
    (c, hmac::Key::new(alg, &sk_a), integ)
}

/// `HEADER | IV | ciphertext | ICV`, the ICV computed with ring's HMAC directly.
fn cbc_message(r: &Record, mac: &hmac::Key, integ: Integ) -> Vec<u8> {
    let mut msg = [HEADER, &r.hex("iv"), &r.hex("ciphertext")].concat();
    let tag = hmac::sign(mac, &msg);
    msg.extend_from_slice(&tag.as_ref()[..integ.icv_len()]);
    msg
}

#[test]
fn aes_cbc_vectors_open_through_sk_cipher() {
    let recs = load("aes_cbc.txt");
    assert_eq!(recs.len(), 9);
    let (mut opened, mut malformed) = (0, 0);
    for r in &recs {
        let (c, mac, integ) = cbc_setup(r);
        let msg = cbc_message(r, &mac, integ);
        let start = HEADER.len();
        let want = expected_open(&r.hex("plaintext"));
        assert_eq!(open(&c, &msg, start), want, "{}", r.at);
        match want {
            Ok(_) => opened += 1,
            Err(_) => malformed += 1,
        }
        // The ICV covers the header, the IV and the ciphertext.
        for at in [
            0,
            start - 1,
            start,
            start + 16,
            msg.len() - integ.icv_len() - 1,
            msg.len() - 1,
        ] {
            assert_eq!(
                open(&c, &flip(&msg, at), start),
                Err(CryptoError::IntegrityCheckFailed),
                "{}: byte {at} flipped",
                r.at
            );
        }
        // A body that is not IV | whole blocks | ICV.
        let mut short = msg.clone();
        short.remove(start + 16);
        assert!(
            matches!(open(&c, &short, start), Err(CryptoError::Malformed(_))),
            "{}",
            r.at
        );
    }
    assert!(
        opened >= 6 && malformed >= 1,
        "{opened} opened, {malformed} malformed"
    );
}

#[test]
fn aes_cbc_seal_reproduces_published_ciphertexts() {
    let mut reproduced = 0;
    for r in &load("aes_cbc.txt") {
        let pt = r.hex("plaintext");
        if pt.last() != Some(&0) {
            continue;
        }
        let (c, mac, integ) = cbc_setup(r);
        let inner = &pt[..pt.len() - 1];
        let mut rng = FixedRandom::new(&r.hex("iv"));
        let mut msg = HEADER.to_vec();
        c.seal(&mut rng, &mut msg, inner);
        assert!(rng.exhausted(), "{}", r.at);
        assert_eq!(msg, cbc_message(r, &mac, integ), "{}", r.at);
        assert_eq!(
            msg.len() - HEADER.len(),
            c.sealed_len(inner.len()),
            "{}",
            r.at
        );
        assert_eq!(open(&c, &msg, HEADER.len()).unwrap(), inner, "{}", r.at);
        reproduced += 1;
    }
    assert!(reproduced >= 4, "{reproduced}");
}

#[test]
fn sk_cipher_key_lengths() {
    for encr in Encr::ALL {
        let n = encr.key_material_len();
        let integ = (!encr.is_aead()).then_some(Integ::HmacSha2_256_128);
        let sk_a = [7u8; 32];
        let sk_a: &[u8] = if encr.is_aead() { &[] } else { &sk_a };
        assert!(
            SkCipher::new(encr, &vec![1; n], integ, sk_a).is_ok(),
            "{encr}"
        );
        for bad in [n - 1, n + 1] {
            assert_eq!(
                SkCipher::new(encr, &vec![1; bad], integ, sk_a).map(|_| ()),
                Err(CryptoError::KeyLength {
                    expected: n,
                    got: bad
                }),
                "{encr}"
            );
        }
    }
    assert!(SkCipher::new(Encr::AesCbc128, &[1; 16], None, &[]).is_err());
}
