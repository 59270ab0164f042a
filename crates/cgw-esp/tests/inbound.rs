//! Inbound checks: tampering, replay, SPI, lengths, ESN inference, traffic selectors (and the
//! outbound traffic selector check).

mod common;

use cgw_esp::{EspAlgorithm, EspError, InboundSa, TrafficSelector};
use common::{ipv4_udp, ipv4_udp_from, ipv6_udp, pair, seal, SPI};

/// Changing any single byte of a packet is detected: in the SPI as a wrong SPI, in the
/// sequence number as a failed ICV (or a replay, when it becomes 0), anywhere else (IV,
/// ciphertext, ICV) as a failed ICV. None of it moves the window: the genuine packet is still
/// accepted afterwards.
#[test]
fn tampering_any_byte_is_rejected() {
    for alg in EspAlgorithm::ALL {
        for esn in [false, true] {
            let (mut tx, mut rx) = pair(alg, esn);
            let pkt = seal(&mut tx, &ipv4_udp(61), 4);
            let mut expected = cgw_esp::DropCounters::default();
            for pos in 0..pkt.len() {
                for mask in [0x01u8, 0x80, 0xff] {
                    let mut bad = pkt.clone();
                    bad[pos] ^= mask;
                    let err = rx.decapsulate(&mut bad).unwrap_err();
                    match pos {
                        0..=3 => {
                            assert!(matches!(err, EspError::BadSpi { .. }));
                            expected.bad_spi += 1;
                        }
                        4..=7 if bad[4..8] == [0; 4] => {
                            assert!(matches!(err, EspError::Replay(_)), "{err}");
                            expected.replay += 1;
                        }
                        _ => {
                            assert_eq!(err, EspError::AuthenticationFailed, "{alg:?} {pos}");
                            expected.auth_failed += 1;
                        }
                    }
                }
            }
            assert_eq!(*rx.drops(), expected);
            assert_eq!(rx.highest_sequence_number(), 0);
            let mut good = pkt.clone();
            assert!(rx.decapsulate(&mut good).is_ok(), "{alg:?}");
        }
    }
}

#[test]
fn wrong_key_fails_the_icv() {
    for alg in EspAlgorithm::ALL {
        let (mut tx, _) = pair(alg, false);
        let mut other = common::keymat(alg);
        other[0] ^= 1;
        let mut rx = InboundSa::new(SPI, alg, &other).unwrap();
        let mut pkt = seal(&mut tx, &ipv4_udp(100), 4);
        let got = rx.decapsulate(&mut pkt).unwrap_err();
        if alg.is_aead() {
            assert_eq!(got, EspError::AuthenticationFailed);
        } else {
            // CBC: the ICV (integrity key intact) verifies, decryption yields garbage that the
            // trailer or inner-packet checks refuse.
            assert!(
                matches!(
                    got,
                    EspError::BadPadding | EspError::BadNextHeader(_) | EspError::MalformedInner
                ),
                "{got}"
            );
            // A wrong integrity key fails the ICV.
            let mut other = common::keymat(alg);
            *other.last_mut().unwrap() ^= 1;
            let mut rx = InboundSa::new(SPI, alg, &other).unwrap();
            let mut pkt = seal(&mut tx, &ipv4_udp(100), 4);
            assert_eq!(
                rx.decapsulate(&mut pkt),
                Err(EspError::AuthenticationFailed)
            );
        }
    }
}

#[test]
fn wrong_spi() {
    let (mut tx, _) = pair(common::GCM128, false);
    let mut rx = InboundSa::new(SPI + 1, common::GCM128, &common::keymat(common::GCM128)).unwrap();
    let mut pkt = seal(&mut tx, &ipv4_udp(100), 4);
    assert_eq!(
        rx.decapsulate(&mut pkt),
        Err(EspError::BadSpi {
            expected: SPI + 1,
            got: SPI
        })
    );
    assert_eq!(rx.drops().bad_spi, 1);
}

#[test]
fn replays_are_dropped_and_counted() {
    for alg in [common::GCM256, common::CBC128_SHA256] {
        let (mut tx, rx) = pair(alg, false);
        let mut rx = rx.with_replay_window(64).unwrap();
        let pkts: Vec<Vec<u8>> = (0..200).map(|_| seal(&mut tx, &ipv4_udp(80), 4)).collect();
        let mut accept = |i: usize| {
            let mut p = pkts[i - 1].clone();
            rx.decapsulate(&mut p)
        };
        // Out of order within the window is accepted.
        assert!(accept(100).is_ok());
        assert!(accept(99).is_ok());
        assert!(accept(60).is_ok());
        assert!(accept(37).is_ok(), "left edge of a 64 window under top 100");
        // Exact duplicates.
        assert_eq!(accept(100), Err(EspError::Replay(100)));
        assert_eq!(accept(60), Err(EspError::Replay(60)));
        // Too old: one left of the window.
        assert_eq!(accept(36), Err(EspError::Replay(36)));
        assert_eq!(accept(1), Err(EspError::Replay(1)));
        // The window slides.
        assert!(accept(164).is_ok());
        assert_eq!(accept(100), Err(EspError::Replay(100)));
        assert_eq!(
            accept(99),
            Err(EspError::Replay(99)),
            "now left of the window"
        );
        assert!(accept(101).is_ok());
        assert_eq!(rx.drops().replay, 6);
        assert_eq!(rx.drops().total(), 6);
        assert_eq!(rx.lifetime().packets, 6);
        assert_eq!(rx.highest_sequence_number(), 164);
    }
}

#[test]
fn replay_window_sizes() {
    let alg = common::GCM128;
    for size in [64u32, 100, 1024, 2048] {
        let (mut tx, rx) = pair(alg, false);
        let mut rx = rx.with_replay_window(size).unwrap();
        assert_eq!(rx.replay_window(), size);
        let n = size as usize + 10;
        let pkts: Vec<Vec<u8>> = (0..n).map(|_| seal(&mut tx, &ipv4_udp(40), 4)).collect();
        let mut last = pkts[n - 1].clone();
        rx.decapsulate(&mut last).unwrap();
        // n - size + 1 ..= n is the window; everything in it but n is fresh.
        let left_edge = n - size as usize + 1;
        let mut p = pkts[left_edge - 1].clone();
        assert!(rx.decapsulate(&mut p).is_ok(), "size {size}: left edge");
        let mut p = pkts[left_edge - 2].clone();
        assert!(matches!(rx.decapsulate(&mut p), Err(EspError::Replay(_))));
    }
    let (_, rx) = pair(alg, false);
    assert_eq!(rx.replay_window(), 1024, "default as AWS");
    for bad in [0u32, 63, 2049, u32::MAX] {
        let (_, rx) = pair(alg, false);
        assert_eq!(
            rx.with_replay_window(bad).unwrap_err(),
            EspError::ReplayWindowSize(bad)
        );
    }
}

/// A forged packet with a fresh sequence number far ahead must not move the window (which
/// would make genuine packets look too old).
#[test]
fn forged_packets_do_not_move_the_window() {
    let (mut tx, mut rx) = pair(common::GCM128, false);
    let genuine = seal(&mut tx, &ipv4_udp(50), 4);
    let mut forged = genuine.clone();
    forged[4..8].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    assert_eq!(
        rx.decapsulate(&mut forged),
        Err(EspError::AuthenticationFailed)
    );
    let mut p = genuine.clone();
    assert!(rx.decapsulate(&mut p).is_ok());
}

/// ESN: the high half is inferred across the 2^32 boundary in both directions, and packets
/// from the previous subspace within the window are still accepted.
#[test]
fn esn_inference_around_2_pow_32() {
    for alg in [common::GCM128, common::CBC128_SHA256] {
        let (mut tx, mut rx) = pair(alg, true);
        let start = (1u64 << 32) - 10;
        tx.set_last_sequence_number_for_testing(start);
        let pkts: Vec<Vec<u8>> = (0..20).map(|_| seal(&mut tx, &ipv4_udp(40), 4)).collect();
        let seq_of = |i: usize| start + 1 + i as u64;
        rx.reset_replay_window_for_testing(start);
        // Deliver in the order: 0..5 (below 2^32), 15 (above), then 5..15 (straddling).
        for i in (0..5).chain([15]).chain(5..15) {
            let mut p = pkts[i].clone();
            let d = rx.decapsulate(&mut p).unwrap();
            assert_eq!(d.sequence_number, seq_of(i), "{alg:?} {i}");
        }
        assert_eq!(rx.highest_sequence_number(), seq_of(15));
        // Replays on both sides of the boundary.
        for i in [3, 12] {
            let mut p = pkts[i].clone();
            assert_eq!(rx.decapsulate(&mut p), Err(EspError::Replay(seq_of(i))));
        }
        // The low halves alone are small after the boundary.
        assert_eq!(u32::from_be_bytes(pkts[15][4..8].try_into().unwrap()), 6);
        // Without ESN on the receiver, the same packets fail the ICV (the high half is not in
        // the AAD / ICV input).
        let (_, rx2) = pair(alg, false);
        let mut rx2 = rx2;
        let mut p = pkts[15].clone();
        assert_eq!(rx2.decapsulate(&mut p), Err(EspError::AuthenticationFailed));
    }
}

#[test]
fn esn_far_from_the_window_fails_authentication() {
    // A packet 2^32 + a bit ahead is inferred into the wrong subspace: the ICV fails, and
    // the window stays where it was (RFC 4303 A2.3 resynchronisation is not attempted).
    let (mut tx, mut rx) = pair(common::GCM256, true);
    tx.set_last_sequence_number_for_testing((5 << 32) + 100);
    rx.reset_replay_window_for_testing((3 << 32) + 100);
    let mut p = seal(&mut tx, &ipv4_udp(40), 4);
    assert_eq!(rx.decapsulate(&mut p), Err(EspError::AuthenticationFailed));
    assert_eq!(rx.highest_sequence_number(), (3 << 32) + 100);
}

/// Every truncation of a valid packet (lengths 0..n) is dropped without panicking and counted,
/// as a bad length where the length is impossible and as a failed ICV otherwise.
#[test]
fn truncated_packets_never_panic() {
    for alg in EspAlgorithm::ALL {
        let (mut tx, mut rx) = pair(alg, false);
        let pkt = seal(&mut tx, &ipv4_udp(200), 4);
        let min = alg.headroom() + 2 + alg.icv_len();
        for len in 0..pkt.len() {
            let mut p = pkt[..len].to_vec();
            let err = rx.decapsulate(&mut p).unwrap_err();
            let ct = len.saturating_sub(alg.headroom() + alg.icv_len());
            if len < min || (!alg.is_aead() && ct % 16 != 0) {
                assert_eq!(err, EspError::BadLength(len), "{alg:?} {len}");
            } else {
                assert_eq!(err, EspError::AuthenticationFailed, "{alg:?} {len}");
            }
        }
        assert_eq!(rx.drops().total(), pkt.len() as u64);
        assert_eq!(
            rx.drops().bad_length + rx.drops().auth_failed,
            pkt.len() as u64
        );
        let mut p = pkt.clone();
        assert!(rx.decapsulate(&mut p).is_ok());
    }
}

#[test]
fn traffic_selector_mismatch_is_dropped_and_counted() {
    let alg = common::GCM128;
    let (mut tx, rx) = pair(alg, false);
    let remote = [TrafficSelector::prefix("10.0.0.0".parse().unwrap(), 24).unwrap()];
    let local = [
        TrafficSelector::prefix("192.168.0.0".parse().unwrap(), 16).unwrap(),
        TrafficSelector::prefix("172.16.5.0".parse().unwrap(), 24)
            .unwrap()
            .with_protocol(cgw_esp::IPPROTO_UDP)
            .with_ports(53, 53)
            .unwrap(),
    ];
    let mut rx = rx.with_traffic_selectors(&remote, &local).unwrap();
    let cases: [(Vec<u8>, u8, Result<(), EspError>); 7] = [
        (
            ipv4_udp_from(60, [10, 0, 0, 9], [192, 168, 3, 4], 1, 2),
            4,
            Ok(()),
        ),
        (
            ipv4_udp_from(60, [10, 0, 0, 9], [172, 16, 5, 1], 1, 53),
            4,
            Ok(()),
        ),
        (
            ipv4_udp_from(60, [10, 0, 1, 9], [192, 168, 3, 4], 1, 2),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (
            ipv4_udp_from(60, [10, 0, 0, 9], [192, 169, 0, 1], 1, 2),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (
            ipv4_udp_from(60, [10, 0, 0, 9], [172, 16, 5, 1], 1, 54),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (ipv6_udp(80), 41, Err(EspError::TrafficSelectorMismatch)),
        // An IPv4 packet under next header 41 is malformed.
        (ipv4_udp(60), 41, Err(EspError::MalformedInner)),
    ];
    for (i, (inner, nh, expect)) in cases.iter().enumerate() {
        let mut p = seal(&mut tx, inner, *nh);
        let got = rx.decapsulate(&mut p).map(|_| ());
        assert_eq!(&got, expect, "case {i}");
    }
    assert_eq!(rx.drops().ts_mismatch, 4);
    assert_eq!(rx.drops().malformed_inner, 1);
    // Default selectors are 0.0.0.0/0 on both sides: IPv6 inner packets do not match.
    let k = common::keymat(alg);
    let mut rx = InboundSa::new(SPI, alg, &k).unwrap();
    assert_eq!(
        rx.remote_traffic_selectors(),
        &[TrafficSelector::ipv4_any()]
    );
    let mut p = seal(&mut tx, &ipv6_udp(80), 41);
    assert_eq!(
        rx.decapsulate(&mut p),
        Err(EspError::TrafficSelectorMismatch)
    );
    let mut p = seal(&mut tx, &ipv4_udp(80), 4);
    assert!(rx.decapsulate(&mut p).is_ok());
    assert!(InboundSa::new(SPI, alg, &k)
        .unwrap()
        .with_traffic_selectors(&[], &local)
        .is_err());
}

/// Outbound (RFC 4301 5.1): with narrowed selectors a packet outside them is refused before it
/// uses a sequence number or touches the buffer; inside them it is sealed and the peer opens
/// it. 0.0.0.0/0 both ways admits every IPv4 packet and no IPv6 one.
#[test]
fn outbound_traffic_selectors_refuse_packets_outside_them() {
    use cgw_esp::OutboundSa;
    let alg = common::GCM128;
    let k = common::keymat(alg);
    let local = [TrafficSelector::prefix("10.10.0.0".parse().unwrap(), 24).unwrap()];
    let remote = [
        TrafficSelector::prefix("172.31.0.10".parse().unwrap(), 32).unwrap(),
        TrafficSelector::prefix("172.31.0.20".parse().unwrap(), 32)
            .unwrap()
            .with_protocol(cgw_esp::IPPROTO_UDP)
            .with_ports(53, 53)
            .unwrap(),
    ];
    let mut tx = OutboundSa::new(SPI, alg, &k, &common::IV_KEY)
        .unwrap()
        .with_traffic_selectors(&local, &remote)
        .unwrap();
    let (_, mut rx) = pair(alg, false);
    let cases: [(Vec<u8>, u8, Result<(), EspError>); 6] = [
        (
            ipv4_udp_from(60, [10, 10, 0, 5], [172, 31, 0, 10], 9, 9),
            4,
            Ok(()),
        ),
        (
            ipv4_udp_from(60, [10, 10, 0, 5], [172, 31, 0, 20], 9, 53),
            4,
            Ok(()),
        ),
        // Wrong destination port, destination host, source network; another family.
        (
            ipv4_udp_from(60, [10, 10, 0, 5], [172, 31, 0, 20], 9, 54),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (
            ipv4_udp_from(60, [10, 10, 0, 5], [172, 31, 0, 11], 9, 9),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (
            ipv4_udp_from(60, [10, 10, 1, 5], [172, 31, 0, 10], 9, 9),
            4,
            Err(EspError::TrafficSelectorMismatch),
        ),
        (ipv6_udp(80), 41, Err(EspError::TrafficSelectorMismatch)),
    ];
    let mut sealed = 0;
    for (i, (inner, nh, expect)) in cases.iter().enumerate() {
        let start = tx.headroom();
        let mut buf = vec![0xa5u8; start + inner.len() + tx.max_tailroom()];
        buf[start..start + inner.len()].copy_from_slice(inner);
        let before = buf.clone();
        let seq = tx.last_sequence_number();
        match tx.encapsulate(&mut buf, start, inner.len(), *nh) {
            Ok(range) => {
                assert_eq!(expect, &Ok(()), "case {i} was sealed");
                sealed += 1;
                assert_eq!(tx.last_sequence_number(), seq + 1, "case {i}");
                let mut p = buf[range].to_vec();
                assert!(rx.decapsulate(&mut p).is_ok(), "case {i} does not open");
            }
            Err(e) => {
                assert_eq!(expect, &Err(e), "case {i}");
                assert_eq!(
                    tx.last_sequence_number(),
                    seq,
                    "case {i} used a sequence number"
                );
                assert_eq!(buf, before, "case {i} changed the buffer");
            }
        }
    }
    assert_eq!(sealed, 2);
    // 0.0.0.0/0 both ways: every IPv4 packet passes, IPv6 does not.
    let any = [TrafficSelector::ipv4_any()];
    let mut tx = OutboundSa::new(SPI, alg, &k, &common::IV_KEY)
        .unwrap()
        .with_traffic_selectors(&any, &any)
        .unwrap();
    let _ = seal(
        &mut tx,
        &ipv4_udp_from(60, [1, 2, 3, 4], [5, 6, 7, 8], 1, 2),
        4,
    );
    let start = tx.headroom();
    let inner = ipv6_udp(80);
    let mut buf = vec![0u8; start + inner.len() + tx.max_tailroom()];
    buf[start..start + inner.len()].copy_from_slice(&inner);
    assert_eq!(
        tx.encapsulate(&mut buf, start, inner.len(), 41),
        Err(EspError::TrafficSelectorMismatch)
    );
    assert!(OutboundSa::new(SPI, alg, &k, &common::IV_KEY)
        .unwrap()
        .with_traffic_selectors(&[], &any)
        .is_err());
}

#[test]
fn bad_next_header_and_dummy_packets() {
    let (mut tx, mut rx) = pair(common::GCM128, false);
    for nh in [0u8, 1, 6, 17, 50, 59, 255] {
        let mut p = seal(&mut tx, &ipv4_udp(40), nh);
        let expect = if nh == 59 {
            EspError::DummyPacket
        } else {
            EspError::BadNextHeader(nh)
        };
        assert_eq!(rx.decapsulate(&mut p), Err(expect));
    }
    assert_eq!(rx.drops().bad_next_header, 6);
    assert_eq!(rx.drops().dummy, 1);
}

/// Packets that verify but whose padding is not 1, 2, 3, ... or whose pad length is larger
/// than the payload are dropped as bad padding (built with the fuzzing helper, which seals an
/// arbitrary plaintext into an authentic packet).
#[test]
fn bad_padding_is_dropped() {
    use cgw_esp::fuzzing;
    for (alg, esn) in fuzzing::CONFIGS {
        let block = alg.block_size();
        let inner = ipv4_udp(40);
        let pad = alg.pad_len(inner.len());
        assert!(pad >= 2);
        let mut good = inner.clone();
        good.extend((1..=pad as u8).chain([pad as u8, 4]));
        assert_eq!(good.len() % block, 0);
        let decap = |plain: &[u8]| {
            let mut pkt = fuzzing::seal_payload(alg, esn, plain).unwrap();
            let mut rx = fuzzing::inbound(alg, esn);
            let got = rx.decapsulate(&mut pkt);
            if got.is_err() {
                assert_eq!(rx.drops().total(), 1);
            }
            got.map(|d| pkt[d.inner].to_vec())
        };
        assert_eq!(decap(&good), Ok(inner.clone()), "{alg:?}");
        // Second padding byte wrong.
        let mut bad = good.clone();
        bad[41] = 3;
        assert_eq!(decap(&bad), Err(EspError::BadPadding), "{alg:?}");
        // Pad length beyond the payload.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 2] = 200;
        assert_eq!(decap(&bad), Err(EspError::BadPadding), "{alg:?}");
        // Padding filling the whole payload: valid trailer, nothing inside.
        let whole: Vec<u8> = (1..=(block as u8 * 2 - 2))
            .chain([block as u8 * 2 - 2, 4])
            .collect();
        assert_eq!(decap(&whole), Err(EspError::MalformedInner), "{alg:?}");
    }
}

#[test]
fn set_up_errors() {
    let alg = common::GCM256;
    let k = common::keymat(alg);
    assert_eq!(
        InboundSa::new(SPI, alg, &k[1..]).unwrap_err(),
        EspError::KeyLength {
            expected: 36,
            got: 35
        }
    );
    assert_eq!(
        InboundSa::new(255, alg, &k).unwrap_err(),
        EspError::ReservedSpi(255)
    );
    assert_eq!(
        cgw_esp::OutboundSa::new(0, alg, &k, &[0; 16]).unwrap_err(),
        EspError::ReservedSpi(0)
    );
    assert!(InboundSa::new(256, alg, &k).is_ok());
}
