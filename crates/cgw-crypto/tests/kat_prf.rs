//! Known-answer tests of the PRFs (HMAC-SHA1, HMAC-SHA2) and the truncated integrity
//! algorithms against RFC 2202, RFC 4231 and RFC 4868 (`tests/vectors/hmac_*.txt`).

mod common;

use cgw_crypto::{CryptoError, Integ, Prf};
use common::{load, parse, Record};

fn prf_of(r: &Record) -> Prf {
    match r.str("prf") {
        "sha1" => Prf::HmacSha1,
        "sha256" => Prf::HmacSha2_256,
        "sha384" => Prf::HmacSha2_384,
        "sha512" => Prf::HmacSha2_512,
        other => panic!("{}: prf {other}", r.at),
    }
}

fn integ_of(prf: Prf) -> Integ {
    match prf {
        Prf::HmacSha1 => Integ::HmacSha1_96,
        Prf::HmacSha2_256 => Integ::HmacSha2_256_128,
        Prf::HmacSha2_384 => Integ::HmacSha2_384_192,
        Prf::HmacSha2_512 => Integ::HmacSha2_512_256,
    }
}

/// `prf(key, data)`, also fed in several pieces, must give `mac`.
fn check_prf(r: &Record, prf: Prf) {
    let (key, data, mac) = (r.hex("key"), r.hex("data"), r.hex("mac"));
    assert_eq!(mac.len(), prf.output_len(), "{}", r.at);
    assert_eq!(&prf.prf(&key, &[&data])[..], &mac[..], "{}", r.at);
    for cut in [0, 1, data.len() / 2, data.len()] {
        let (a, b) = data.split_at(cut);
        assert_eq!(
            &prf.prf(&key, &[a, &[], b])[..],
            &mac[..],
            "{} split at {cut}",
            r.at
        );
    }
}

/// Truncated ICV through `Integ` (key length = hash length only).
fn check_integ(r: &Record, integ: Integ, key: &[u8], data: &[u8], icv: &[u8]) {
    assert_eq!(icv.len(), integ.icv_len(), "{}", r.at);
    let k = integ.key(key).unwrap();
    let mut out = vec![0u8; integ.icv_len()];
    k.compute(data, &mut out);
    assert_eq!(out, icv, "{}: compute", r.at);
    k.verify(data, icv)
        .unwrap_or_else(|e| panic!("{}: verify: {e}", r.at));
    for i in [0, icv.len() - 1] {
        let mut bad = icv.to_vec();
        bad[i] ^= 0x80;
        assert_eq!(
            k.verify(data, &bad),
            Err(CryptoError::IntegrityCheckFailed),
            "{}",
            r.at
        );
    }
    let mut bad_data = data.to_vec();
    bad_data.push(0);
    assert_eq!(
        k.verify(&bad_data, icv),
        Err(CryptoError::IntegrityCheckFailed),
        "{}",
        r.at
    );
    assert_eq!(
        k.verify(data, &icv[..icv.len() - 1]),
        Err(CryptoError::IntegrityCheckFailed),
        "{}: short ICV",
        r.at
    );
}

#[test]
fn rfc2202_hmac_sha1() {
    let recs = load("hmac_rfc2202_sha1.txt");
    assert_eq!(recs.len(), 7);
    for r in &recs {
        check_prf(r, prf_of(r));
        // AUTH_HMAC_SHA1_96 takes 20-byte keys: cases 1, 3 and 5.
        let key = r.hex("key");
        if key.len() == 20 {
            let (data, mac) = (r.hex("data"), r.hex("mac"));
            check_integ(r, Integ::HmacSha1_96, &key, &data, &mac[..12]);
        }
    }
}

#[test]
fn rfc4231_hmac_sha2() {
    let recs = load("hmac_rfc4231.txt");
    assert_eq!(recs.len(), 18);
    for r in &recs {
        check_prf(r, prf_of(r));
    }
}

#[test]
fn rfc4231_case5_truncated_output() {
    let recs = load("hmac_rfc4231_case5.txt");
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let prf = prf_of(r);
        let prefix = r.hex("mac_prefix");
        assert_eq!(prefix.len(), 16);
        let full = prf.prf(&r.hex("key"), &[&r.hex("data")]);
        assert_eq!(&full[..16], &prefix[..], "{}", r.at);
    }
}

#[test]
fn rfc4868_prf_and_auth_vectors() {
    let recs = load("hmac_rfc4868.txt");
    let (mut prfs, mut auths) = (0, 0);
    for r in &recs {
        let prf = prf_of(r);
        match r.str("kind") {
            "prf" => {
                check_prf(r, prf);
                prfs += 1;
            }
            "auth" => {
                let integ = integ_of(prf);
                let key = r.hex("key");
                assert_eq!(key.len(), integ.key_len(), "{}", r.at);
                check_integ(r, integ, &key, &r.hex("data"), &r.hex("mac"));
                auths += 1;
            }
            other => panic!("{}: kind {other}", r.at),
        }
    }
    assert_eq!((prfs, auths), (15, 9));
}

#[test]
fn integ_rejects_keys_of_other_lengths() {
    for integ in Integ::ALL {
        for len in [0, integ.key_len() - 1, integ.key_len() + 1] {
            assert_eq!(
                integ.key(&vec![1; len]).map(|_| ()),
                Err(CryptoError::KeyLength {
                    expected: integ.key_len(),
                    got: len
                }),
                "{integ}"
            );
        }
    }
}

#[test]
fn vector_file_parser() {
    let recs = parse(
        "inline",
        "# source\n\na = 00ff\nb = text here\nc =\n\n# comment\nd = 01\n",
    );
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].hex("a"), [0x00, 0xff]);
    assert_eq!(recs[0].str("b"), "text here");
    assert!(recs[0].hex("c").is_empty());
    assert_eq!(recs[1].hex("d"), [1]);
    assert_eq!(recs[1].at, "inline:8");
}

#[test]
#[should_panic(expected = "comment header")]
fn vector_file_parser_requires_a_source_header() {
    parse("inline", "a = 00\n");
}
