//! Transforms from IANA IDs, and the key material and framing lengths they imply.

use cgw_esp::iana::*;
use cgw_esp::{AesKeySize, EspAlgorithm, EspError, IntegrityAlgorithm};

#[test]
fn from_iana_ids() {
    use AesKeySize::*;
    use IntegrityAlgorithm::*;
    assert_eq!(
        EspAlgorithm::from_iana(ENCR_AES_GCM_16, Some(256), None),
        Ok(EspAlgorithm::AesGcm16(Aes256))
    );
    assert_eq!(
        EspAlgorithm::from_iana(20, Some(128), Some(AUTH_NONE)),
        Ok(EspAlgorithm::AesGcm16(Aes128))
    );
    for (id, integ) in [
        (2, HmacSha1_96),
        (12, HmacSha2_256_128),
        (13, HmacSha2_384_192),
        (14, HmacSha2_512_256),
    ] {
        assert_eq!(
            EspAlgorithm::from_iana(ENCR_AES_CBC, Some(128), Some(id)),
            Ok(EspAlgorithm::AesCbc(Aes128, integ))
        );
        assert_eq!(integ.iana_id(), id);
        assert_eq!(IntegrityAlgorithm::from_iana_id(id), Some(integ));
    }
    // Refused: AES-192, missing key length, unknown transforms, GCM with an integrity
    // transform, CBC without one or with an unknown one.
    assert!(matches!(
        EspAlgorithm::from_iana(ENCR_AES_GCM_16, Some(192), None),
        Err(EspError::UnsupportedEncryption {
            id: 20,
            key_bits: Some(192)
        })
    ));
    assert!(EspAlgorithm::from_iana(ENCR_AES_GCM_16, None, None).is_err());
    assert!(EspAlgorithm::from_iana(3, Some(128), Some(2)).is_err());
    assert!(
        EspAlgorithm::from_iana(19, Some(128), None).is_err(),
        "GCM-12 not supported"
    );
    assert_eq!(
        EspAlgorithm::from_iana(ENCR_AES_GCM_16, Some(128), Some(12)),
        Err(EspError::UnsupportedIntegrity { id: Some(12) })
    );
    assert_eq!(
        EspAlgorithm::from_iana(ENCR_AES_CBC, Some(256), None),
        Err(EspError::UnsupportedIntegrity { id: None })
    );
    assert_eq!(
        EspAlgorithm::from_iana(ENCR_AES_CBC, Some(256), Some(1)),
        Err(EspError::UnsupportedIntegrity { id: Some(1) })
    );
    // Round trip through the IDs for every transform.
    for alg in EspAlgorithm::ALL {
        assert_eq!(
            EspAlgorithm::from_iana(
                alg.encryption_iana_id(),
                Some(alg.key_size().bits()),
                alg.integrity_iana_id()
            ),
            Ok(alg)
        );
    }
}

#[test]
fn key_material_and_framing_lengths() {
    use AesKeySize::*;
    use IntegrityAlgorithm::*;
    let table = [
        // (transform, encr key incl. salt, integ key, IV, ICV, headroom, max tailroom)
        (EspAlgorithm::AesGcm16(Aes128), 20, 0, 8, 16, 16, 21),
        (EspAlgorithm::AesGcm16(Aes256), 36, 0, 8, 16, 16, 21),
        (
            EspAlgorithm::AesCbc(Aes128, HmacSha1_96),
            16,
            20,
            16,
            12,
            24,
            29,
        ),
        (
            EspAlgorithm::AesCbc(Aes128, HmacSha2_256_128),
            16,
            32,
            16,
            16,
            24,
            33,
        ),
        (
            EspAlgorithm::AesCbc(Aes256, HmacSha2_384_192),
            32,
            48,
            16,
            24,
            24,
            41,
        ),
        (
            EspAlgorithm::AesCbc(Aes256, HmacSha2_512_256),
            32,
            64,
            16,
            32,
            24,
            49,
        ),
    ];
    for (alg, encr, integ, iv, icv, head, tail) in table {
        assert_eq!(alg.encryption_key_len(), encr, "{alg:?}");
        assert_eq!(alg.integrity_key_len(), integ, "{alg:?}");
        assert_eq!(alg.key_material_len(), encr + integ, "{alg:?}");
        assert_eq!(alg.iv_len(), iv, "{alg:?}");
        assert_eq!(alg.icv_len(), icv, "{alg:?}");
        assert_eq!(alg.headroom(), head, "{alg:?}");
        assert_eq!(alg.max_tailroom(), tail, "{alg:?}");
    }
    // 1400 bytes of IPv4 in AES-256-GCM: 8 header + 8 IV + 1400 + 2 padding + 2 + 16 ICV.
    assert_eq!(EspAlgorithm::AesGcm16(Aes256).esp_len(1400), 1436);
    assert_eq!(
        EspAlgorithm::AesGcm16(Aes256).esp_len(usize::MAX),
        usize::MAX
    );
}
