//! Entry points shared by the cargo-fuzz target `esp_decapsulate` and the corpus replay test
//! (`tests/fuzz_corpus.rs`). Not part of the API.

use crate::algorithm::{Cipher, Layout};
use crate::wire::{classify_udp4500, EspPacket, Udp4500Kind};
use crate::{AesKeySize, EspAlgorithm, InboundSa, IntegrityAlgorithm, OutboundSa};

/// The SPI of every fuzzing SA.
pub const SPI: u32 = 0x0000_1000;

/// The fixed SAs fuzzed: (transform, ESN).
pub const CONFIGS: [(EspAlgorithm, bool); 4] = [
    (EspAlgorithm::AesGcm16(AesKeySize::Aes128), false),
    (EspAlgorithm::AesGcm16(AesKeySize::Aes256), true),
    (
        EspAlgorithm::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha2_256_128),
        false,
    ),
    (
        EspAlgorithm::AesCbc(AesKeySize::Aes256, IntegrityAlgorithm::HmacSha1_96),
        true,
    ),
];

const IV_KEY: [u8; 16] = [0x1f; 16];

/// The fixed key material of a fuzzing SA.
pub fn keymat(algorithm: EspAlgorithm) -> Vec<u8> {
    (0..algorithm.key_material_len())
        .map(|i| (i as u8).wrapping_mul(31) ^ 0x5a)
        .collect()
}

/// The fixed inbound SA of a configuration.
pub fn inbound(algorithm: EspAlgorithm, esn: bool) -> InboundSa {
    match InboundSa::new(SPI, algorithm, &keymat(algorithm)) {
        Ok(sa) => sa.with_esn(esn),
        Err(e) => panic!("fuzzing SA set-up failed: {e}"),
    }
}

/// The fixed outbound SA of a configuration (its packets are valid for [`inbound`]).
pub fn outbound(algorithm: EspAlgorithm, esn: bool) -> OutboundSa {
    match OutboundSa::new(SPI, algorithm, &keymat(algorithm), &IV_KEY) {
        Ok(sa) => sa.with_esn(esn),
        Err(e) => panic!("fuzzing SA set-up failed: {e}"),
    }
}

/// Feeds `data` to the engine three ways: as an ESP packet to each fixed SA, as a UDP-4500
/// datagram (classified first), and as the plaintext of an authentic packet (so the trailer,
/// next header, inner-packet and traffic-selector checks see arbitrary decrypted bytes). Panics
/// only if an invariant is broken.
pub fn decapsulate(data: &[u8]) {
    for (algorithm, esn) in CONFIGS {
        let mut sa = inbound(algorithm, esn);
        raw(&mut sa, data);
        match classify_udp4500(data) {
            Udp4500Kind::Esp(esp) => raw(&mut sa, esp),
            Udp4500Kind::Ike(ike) => assert_eq!(ike.len() + 4, data.len()),
            Udp4500Kind::NatKeepalive => assert_eq!(data, [0xff]),
            Udp4500Kind::Invalid => {}
        }
        authentic(algorithm, esn, data);
    }
    if let Ok(p) = EspPacket::new_checked(data) {
        let _ = (p.spi(), p.sequence_number(), p.payload().len());
    }
}

fn raw(sa: &mut InboundSa, data: &[u8]) {
    let mut buf = data.to_vec();
    let before = *sa.drops();
    match sa.decapsulate(&mut buf) {
        Ok(d) => {
            assert!(d.inner.end <= buf.len());
            assert!(matches!(d.next_header, 4 | 41));
            // The same packet again is a replay.
            let mut again = data.to_vec();
            assert!(matches!(
                sa.decapsulate(&mut again),
                Err(crate::EspError::Replay(_))
            ));
        }
        Err(_) => assert_eq!(sa.drops().total(), before.total() + 1),
    }
}

/// Seals `plaintext` (the whole encrypted part: inner packet, padding, pad length, next
/// header) into an authentic packet for the configuration and decapsulates it.
fn authentic(algorithm: EspAlgorithm, esn: bool, plaintext: &[u8]) {
    let Some(mut pkt) = seal_payload(algorithm, esn, plaintext) else {
        return;
    };
    let mut sa = inbound(algorithm, esn);
    let result = sa.decapsulate(&mut pkt);
    assert!(
        !matches!(
            result,
            Err(crate::EspError::AuthenticationFailed
                | crate::EspError::Replay(_)
                | crate::EspError::BadSpi { .. }
                | crate::EspError::BadLength(_))
        ),
        "an authentic packet was rejected: {result:?}"
    );
    if let Ok(d) = result {
        assert!(d.inner.start == algorithm.headroom() && d.inner.end <= pkt.len());
    }
}

/// An authentic ESP packet (sequence number 1) of `SPI` whose encrypted part is `plaintext`
/// (zero-extended to the cipher's block and to at least 2 bytes).
pub fn seal_payload(algorithm: EspAlgorithm, esn: bool, plaintext: &[u8]) -> Option<Vec<u8>> {
    let cipher = Cipher::new(algorithm, &keymat(algorithm)).ok()?;
    let block = if algorithm.is_aead() {
        1
    } else {
        algorithm.block_size()
    };
    let payload = plaintext.len().max(2).div_ceil(block) * block;
    let header = algorithm.headroom();
    let icv = algorithm.icv_len();
    let mut pkt = vec![0u8; header + payload + icv];
    pkt.get_mut(0..4)?.copy_from_slice(&SPI.to_be_bytes());
    pkt.get_mut(4..8)?.copy_from_slice(&1u32.to_be_bytes());
    for (i, b) in pkt.get_mut(8..header)?.iter_mut().enumerate() {
        *b = i as u8;
    }
    pkt.get_mut(header..header + plaintext.len())?
        .copy_from_slice(plaintext);
    let layout = Layout {
        header,
        payload,
        icv,
    };
    cipher.seal(&mut pkt, layout, esn.then_some(0)).ok()?;
    Some(pkt)
}

/// Small valid inputs for the seed corpus: (file name, bytes).
pub fn seed_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut inner = vec![0u8; 40];
    inner[0] = 0x45;
    inner[2..4].copy_from_slice(&40u16.to_be_bytes());
    inner[8] = 64;
    inner[9] = 17;
    inner[12..16].copy_from_slice(&[10, 0, 0, 1]);
    inner[16..20].copy_from_slice(&[10, 0, 1, 1]);
    inner[20..22].copy_from_slice(&4000u16.to_be_bytes());
    inner[22..24].copy_from_slice(&53u16.to_be_bytes());
    inner[24..26].copy_from_slice(&20u16.to_be_bytes());
    for (name, (algorithm, esn)) in [
        ("valid-gcm128", CONFIGS[0]),
        ("valid-gcm256-esn", CONFIGS[1]),
        ("valid-cbc128-sha256", CONFIGS[2]),
        ("valid-cbc256-sha1-esn", CONFIGS[3]),
    ] {
        let mut sa = outbound(algorithm, esn);
        let headroom = sa.headroom();
        let mut buf = vec![0u8; headroom + inner.len() + sa.max_tailroom()];
        buf[headroom..headroom + inner.len()].copy_from_slice(&inner);
        if let Ok(range) = sa.encapsulate(&mut buf, headroom, inner.len(), 4) {
            seeds.push((name, buf[range].to_vec()));
        }
    }
    let valid = seeds.first().map(|(_, p)| p.clone()).unwrap_or_default();
    seeds.push((
        "truncated-header",
        valid.get(..6).unwrap_or_default().to_vec(),
    ));
    seeds.push((
        "truncated-icv",
        valid
            .get(..valid.len().saturating_sub(1))
            .unwrap_or_default()
            .to_vec(),
    ));
    seeds.push(("keepalive", vec![0xff]));
    let mut ike = vec![0u8; 4];
    ike.extend_from_slice(&[0x11; 28]);
    seeds.push(("non-esp-marker-ike", ike));
    // As plaintext of an authentic packet: the inner packet and a valid trailer.
    let mut plain = inner.clone();
    plain.extend_from_slice(&[1, 2, 2, 4]);
    seeds.push(("plaintext-ipv4", plain));
    seeds.push(("empty", Vec::new()));
    seeds
}
