//! Known-answer tests of the IKEv2 key derivation against the NIST CAVP SP 800-135 IKEv2
//! KDF component vectors (`tests/vectors/ikev2_kdf_cavp.txt`).

mod common;

use cgw_crypto::{keys, CryptoError, Prf};
use common::{load, Record};

fn prf_of(r: &Record) -> Prf {
    match r.str("prf") {
        "sha1" => Prf::HmacSha1,
        "sha256" => Prf::HmacSha2_256,
        "sha384" => Prf::HmacSha2_384,
        "sha512" => Prf::HmacSha2_512,
        other => panic!("{}: prf {other}", r.at),
    }
}

fn spi(r: &Record, key: &str) -> [u8; 8] {
    r.hex(key)
        .try_into()
        .unwrap_or_else(|_| panic!("{}: {key} is not 8 bytes", r.at))
}

#[test]
fn cavp_ikev2_kdf() {
    let recs = load("ikev2_kdf_cavp.txt");
    assert_eq!(recs.len(), 12);
    let mut per_prf = std::collections::HashMap::new();
    for r in &recs {
        let prf = prf_of(r);
        *per_prf.entry(prf).or_insert(0) += 1;
        let (ni, nr, gir, gir_new) = (r.hex("ni"), r.hex("nr"), r.hex("gir"), r.hex("gir_new"));
        let (spi_i, spi_r) = (spi(r, "spii"), spi(r, "spir"));
        let dkm = r.hex("dkm");

        // SKEYSEED = prf(Ni | Nr, g^ir)
        let skeyseed = keys::skeyseed(prf, &ni, &nr, &gir);
        assert_eq!(&skeyseed[..], &r.hex("skeyseed")[..], "{}: SKEYSEED", r.at);

        // DKM = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
        let got = prf
            .prf_plus(&skeyseed, &[&ni, &nr, &spi_i, &spi_r], dkm.len())
            .unwrap();
        assert_eq!(&got[..], &dkm[..], "{}: DKM", r.at);
        // ... and every shorter prefix of it (prf+ output is a prefix-stable stream).
        for len in [
            1,
            prf.output_len() - 1,
            prf.output_len(),
            prf.output_len() + 1,
        ] {
            let got = prf
                .prf_plus(&skeyseed, &[&ni, &nr, &spi_i, &spi_r], len)
                .unwrap();
            assert_eq!(&got[..], &dkm[..len], "{}: DKM prefix {len}", r.at);
        }

        // The seven IKE SA keys are consecutive slices of the DKM (RFC 7296 2.14).
        let d = prf.key_len();
        for (encr, integ) in [(16, 20), (32, 32), (36, 0), (20, 0)] {
            let total = 3 * d + 2 * integ + 2 * encr;
            if total > dkm.len() {
                continue;
            }
            let k = keys::derive_ike_sa_keys(prf, &skeyseed, &ni, &nr, &spi_i, &spi_r, encr, integ)
                .unwrap();
            let all = [
                &k.sk_d[..],
                &k.sk_ai[..],
                &k.sk_ar[..],
                &k.sk_ei[..],
                &k.sk_er[..],
                &k.sk_pi[..],
                &k.sk_pr[..],
            ]
            .concat();
            assert_eq!(&all[..], &dkm[..total], "{}: SK_* ({encr}, {integ})", r.at);
            assert_eq!(
                (k.sk_ai.len(), k.sk_ei.len(), k.sk_pr.len()),
                (integ, encr, d),
                "{}",
                r.at
            );
        }

        // CAVP's SK_d is the first prf-output-length bytes of the DKM.
        let sk_d = &dkm[..prf.output_len()];
        let child = r.hex("dkm_child");
        let got = keys::child_keymat(prf, sk_d, None, &ni, &nr, child.len()).unwrap();
        assert_eq!(&got[..], &child[..], "{}: DKM(Child SA)", r.at);
        let child_dh = r.hex("dkm_child_dh");
        let got = keys::child_keymat(prf, sk_d, Some(&gir_new), &ni, &nr, child_dh.len()).unwrap();
        assert_eq!(&got[..], &child_dh[..], "{}: DKM(Child SA D-H)", r.at);

        // SKEYSEED for an IKE SA rekey = prf(SK_d (old), g^ir (new) | Ni | Nr)
        let got = keys::rekey_skeyseed(prf, sk_d, &gir_new, &ni, &nr);
        assert_eq!(
            &got[..],
            &r.hex("skeyseed_rekey")[..],
            "{}: SKEYSEED(Rekey)",
            r.at
        );
    }
    for prf in Prf::ALL {
        assert_eq!(per_prf.get(&prf), Some(&3), "{prf}: vectors per PRF");
    }
}

#[test]
fn prf_plus_is_limited_to_255_blocks() {
    for prf in Prf::ALL {
        let max = 255 * prf.output_len();
        assert_eq!(
            prf.prf_plus(b"k", &[b"s"], max).unwrap().len(),
            max,
            "{prf}"
        );
        assert_eq!(
            prf.prf_plus(b"k", &[b"s"], max + 1).map(|_| ()),
            Err(CryptoError::PrfPlusTooLong),
            "{prf}"
        );
        assert!(prf.prf_plus(b"k", &[b"s"], 0).unwrap().is_empty(), "{prf}");
    }
}
