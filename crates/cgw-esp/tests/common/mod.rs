//! Helpers shared by the integration tests.
#![allow(dead_code)]

use cgw_esp::{AesKeySize, EspAlgorithm, InboundSa, IntegrityAlgorithm, OutboundSa};

pub const SPI: u32 = 0x0000_c0de;
pub const IV_KEY: [u8; 16] = [0x42; 16];

/// Deterministic key material for a transform.
pub fn keymat(alg: EspAlgorithm) -> Vec<u8> {
    (0..alg.key_material_len())
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(7))
        .collect()
}

pub fn pair(alg: EspAlgorithm, esn: bool) -> (OutboundSa, InboundSa) {
    let k = keymat(alg);
    let tx = OutboundSa::new(SPI, alg, &k, &IV_KEY)
        .unwrap()
        .with_esn(esn);
    let rx = InboundSa::new(SPI, alg, &k)
        .unwrap()
        .with_esn(esn)
        .with_traffic_selectors(
            &[
                cgw_esp::TrafficSelector::ipv4_any(),
                cgw_esp::TrafficSelector::ipv6_any(),
            ],
            &[
                cgw_esp::TrafficSelector::ipv4_any(),
                cgw_esp::TrafficSelector::ipv6_any(),
            ],
        )
        .unwrap();
    (tx, rx)
}

/// An IPv4/UDP packet of exactly `len` (>= 28) bytes from 10.0.0.1:40000 to 10.1.0.1:53.
pub fn ipv4_udp(len: usize) -> Vec<u8> {
    ipv4_udp_from(len, [10, 0, 0, 1], [10, 1, 0, 1], 40000, 53)
}

pub fn ipv4_udp_from(len: usize, src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    assert!(len >= 28);
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(28) {
        *b = i as u8;
    }
    p
}

/// An IPv6/UDP packet of exactly `len` (>= 48) bytes.
pub fn ipv6_udp(len: usize) -> Vec<u8> {
    assert!(len >= 48);
    let mut p = vec![0u8; len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p[8..24].copy_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[24..40].copy_from_slice(
        &"2001:db8:1::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    p[40..42].copy_from_slice(&40000u16.to_be_bytes());
    p[42..44].copy_from_slice(&443u16.to_be_bytes());
    for (i, b) in p.iter_mut().enumerate().skip(48) {
        *b = (i * 3) as u8;
    }
    p
}

/// An inner packet of `len` bytes: a valid IPv4 or IPv6 packet where the length allows one
/// (alternating by length), otherwise arbitrary bytes.
pub fn inner_packet(len: usize) -> (Vec<u8>, u8) {
    if len >= 48 && len % 2 == 1 {
        (ipv6_udp(len), 41)
    } else if len >= 28 {
        (ipv4_udp(len), 4)
    } else if len >= 20 {
        // Too short for UDP: an IPv4 header with protocol 253 (experimentation) and a body.
        let mut p = ipv4_udp(28);
        p.truncate(len);
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[9] = 253;
        (p, 4)
    } else {
        ((0..len).map(|i| 0x45u8.wrapping_add(i as u8)).collect(), 4)
    }
}

/// Encapsulates `inner` and returns the ESP packet alone.
pub fn seal(tx: &mut OutboundSa, inner: &[u8], next_header: u8) -> Vec<u8> {
    let start = tx.headroom();
    let mut buf = vec![0u8; start + inner.len() + tx.max_tailroom()];
    buf[start..start + inner.len()].copy_from_slice(inner);
    let range = tx
        .encapsulate(&mut buf, start, inner.len(), next_header)
        .unwrap();
    buf[range].to_vec()
}

pub fn alg_name(alg: EspAlgorithm) -> String {
    match alg {
        EspAlgorithm::AesGcm16(size) => format!("aes{}gcm16", size.bits()),
        EspAlgorithm::AesCbc(size, integ) => format!(
            "aes{}cbc-{}",
            size.bits(),
            match integ {
                IntegrityAlgorithm::HmacSha1_96 => "sha1_96",
                IntegrityAlgorithm::HmacSha2_256_128 => "sha256_128",
                IntegrityAlgorithm::HmacSha2_384_192 => "sha384_192",
                IntegrityAlgorithm::HmacSha2_512_256 => "sha512_256",
            }
        ),
    }
}

pub fn alg_from_name(name: &str) -> EspAlgorithm {
    EspAlgorithm::ALL
        .into_iter()
        .find(|&a| alg_name(a) == name)
        .unwrap_or_else(|| panic!("unknown algorithm {name}"))
}

pub const GCM128: EspAlgorithm = EspAlgorithm::AesGcm16(AesKeySize::Aes128);
pub const GCM256: EspAlgorithm = EspAlgorithm::AesGcm16(AesKeySize::Aes256);
pub const CBC128_SHA256: EspAlgorithm =
    EspAlgorithm::AesCbc(AesKeySize::Aes128, IntegrityAlgorithm::HmacSha2_256_128);

/// Parses a vector file: blocks of `key = value` lines separated by blank lines.
pub fn read_vectors(name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .filter(|l| !l.starts_with('#'))
                .filter_map(|l| l.split_once(" = "))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect::<std::collections::HashMap<_, _>>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}
