//! Encapsulate/decapsulate round trips for every transform, key size and inner size.

mod common;

use cgw_esp::{EspAlgorithm, EspError, SaStatus, MAX_HEADROOM, MAX_TAILROOM};
use common::{inner_packet, pair, seal};

/// Inner sizes 1..=1427 (every size, so every padding length and block boundary) for all ten
/// transforms, with and without ESN. Inner packets of 20 bytes and more are valid IPv4/IPv6
/// packets and come back out; shorter ones cannot be IP packets, so they are checked to decrypt
/// (ICV and padding accepted) and then be dropped as malformed.
#[test]
fn every_transform_every_size() {
    for alg in EspAlgorithm::ALL {
        for esn in [false, true] {
            let (mut tx, mut rx) = pair(alg, esn);
            if esn {
                // Cross the 2^32 boundary of the sequence number part-way through.
                tx.set_last_sequence_number_for_testing((1 << 32) - 700);
                rx.reset_replay_window_for_testing((1 << 32) - 700);
            }
            let mut malformed = 0;
            for len in 1..=1427usize {
                let (inner, next_header) = inner_packet(len);
                let mut pkt = seal(&mut tx, &inner, next_header);
                assert_eq!(pkt.len(), alg.esp_len(len));
                assert_eq!(pkt.len(), alg.headroom() + len + alg.tailroom(len));
                let ct_len = pkt.len() - alg.headroom() - alg.icv_len();
                assert_eq!(ct_len % alg.block_size(), 0, "{alg:?} {len}");
                assert!(alg.tailroom(len) <= alg.max_tailroom());
                match rx.decapsulate(&mut pkt) {
                    Ok(d) => {
                        assert!(len >= 20, "{alg:?} {len}");
                        assert_eq!(&pkt[d.inner.clone()], &inner[..], "{alg:?} esn {esn} {len}");
                        assert_eq!(d.next_header, next_header);
                        assert_eq!(d.sequence_number, tx.last_sequence_number());
                    }
                    Err(e) => {
                        assert!(len < 20, "{alg:?} esn {esn} len {len}: {e}");
                        assert_eq!(e, EspError::MalformedInner);
                        let h = alg.headroom();
                        assert_eq!(&pkt[h..h + len], &inner[..], "decrypted in place");
                        malformed += 1;
                    }
                }
            }
            assert_eq!(malformed, 19);
            assert_eq!(rx.drops().malformed_inner, 19);
            assert_eq!(rx.drops().total(), 19);
            assert_eq!(rx.lifetime().packets, 1427 - 19);
            assert_eq!(tx.lifetime().packets, 1427);
            assert_eq!(tx.lifetime().bytes, (1..=1427u64).sum::<u64>());
            assert_eq!(rx.lifetime().bytes, (20..=1427u64).sum::<u64>());
            if esn {
                assert!(tx.last_sequence_number() > 1 << 32);
            }
        }
    }
}

#[test]
fn headroom_and_tailroom_helpers() {
    for alg in EspAlgorithm::ALL {
        assert!(alg.headroom() <= MAX_HEADROOM);
        assert!(alg.max_tailroom() <= MAX_TAILROOM);
        let (tx, _) = pair(alg, false);
        assert_eq!(tx.headroom(), alg.headroom());
        assert_eq!(tx.max_tailroom(), alg.max_tailroom());
        let max = (0..64).map(|n| alg.tailroom(n)).max().unwrap();
        assert_eq!(max, alg.max_tailroom(), "{alg:?}");
    }
    assert_eq!(
        EspAlgorithm::ALL.iter().map(|a| a.headroom()).max(),
        Some(MAX_HEADROOM)
    );
    assert_eq!(
        EspAlgorithm::ALL.iter().map(|a| a.max_tailroom()).max(),
        Some(MAX_TAILROOM)
    );
}

/// The padding is 1, 2, 3, ... and the IV is as documented: the sequence number for GCM, a
/// different value per packet for CBC.
#[test]
fn padding_and_iv_layout() {
    let (mut tx, _) = pair(common::GCM128, false);
    let pkt = seal(&mut tx, &[0xab; 5], 4);
    // 5 + 2 -> pad 1 to 8.
    assert_eq!(&pkt[..4], &common::SPI.to_be_bytes());
    assert_eq!(&pkt[4..8], &1u32.to_be_bytes());
    assert_eq!(
        &pkt[8..16],
        &1u64.to_be_bytes(),
        "GCM IV is the sequence number"
    );
    assert_eq!(pkt.len(), 16 + 8 + 16);

    let (mut tx, mut rx) = pair(common::CBC128_SHA256, false);
    let mut ivs = std::collections::HashSet::new();
    for _ in 0..1000 {
        let mut pkt = seal(&mut tx, &common::ipv4_udp(100), 4);
        assert!(ivs.insert(pkt[8..24].to_vec()), "CBC IVs never repeat");
        let d = rx.decapsulate(&mut pkt).unwrap();
        // 100 + 2 -> 10 bytes of padding to 112.
        let trailer = &pkt[d.inner.end..d.inner.end + 12];
        assert_eq!(trailer, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 4]);
    }
}

#[test]
fn encapsulate_buffer_errors_leave_the_sa_unchanged() {
    for alg in EspAlgorithm::ALL {
        let (mut tx, _) = pair(alg, false);
        let h = alg.headroom();
        let inner = common::ipv4_udp(100);
        let t = alg.tailroom(100);
        let mut buf = vec![0u8; h + 100 + t];
        // Headroom one short.
        assert!(matches!(
            tx.encapsulate(&mut buf[1..], h - 1, 100, 4),
            Err(EspError::BufferTooSmall { .. })
        ));
        // Tailroom one short.
        let n = buf.len();
        assert!(matches!(
            tx.encapsulate(&mut buf[..n - 1], h, 100, 4),
            Err(EspError::BufferTooSmall { .. })
        ));
        // Inner range outside the buffer, including overflowing arithmetic.
        assert_eq!(
            tx.encapsulate(&mut buf, h, 10_000, 4),
            Err(EspError::InnerOutOfBounds)
        );
        assert_eq!(
            tx.encapsulate(&mut buf, usize::MAX, 2, 4),
            Err(EspError::InnerOutOfBounds)
        );
        assert_eq!(
            tx.encapsulate(&mut buf, h, usize::MAX, 4),
            Err(EspError::InnerOutOfBounds)
        );
        assert_eq!(tx.last_sequence_number(), 0);
        assert_eq!(tx.lifetime().packets, 0);
        // Exactly enough room works.
        buf[h..h + 100].copy_from_slice(&inner);
        assert_eq!(tx.encapsulate(&mut buf, h, 100, 4), Ok(0..h + 100 + t));
        assert_eq!(tx.last_sequence_number(), 1);
    }
}

#[test]
fn empty_inner_packet_is_framed() {
    // Nothing forbids encapsulating 0 bytes (e.g. a dummy packet with next header 59); the
    // receiver discards it as a dummy packet.
    for alg in EspAlgorithm::ALL {
        let (mut tx, mut rx) = pair(alg, false);
        let mut pkt = seal(&mut tx, &[], 59);
        assert_eq!(rx.decapsulate(&mut pkt), Err(EspError::DummyPacket));
        assert_eq!(rx.drops().dummy, 1);
    }
}

#[test]
fn sequence_exhaustion_is_reported() {
    for alg in [common::GCM256, common::CBC128_SHA256] {
        // 32-bit sequence numbers: 2^32 - 1 is the last.
        let (mut tx, _) = pair(alg, false);
        assert_eq!(tx.status(), SaStatus::Active);
        tx.set_last_sequence_number_for_testing(cgw_esp::SOFT_SEQUENCE_LIMIT_32);
        assert_eq!(tx.status(), SaStatus::SoftLimitReached);
        tx.set_last_sequence_number_for_testing(u64::from(u32::MAX) - 1);
        let pkt = seal(&mut tx, &common::ipv4_udp(64), 4);
        assert_eq!(&pkt[4..8], &[0xff; 4]);
        assert!(tx.sequence_exhausted());
        assert_eq!(tx.status(), SaStatus::HardLimitReached);
        let mut buf = vec![0u8; 200];
        assert_eq!(
            tx.encapsulate(&mut buf, 24, 64, 4),
            Err(EspError::SequenceExhausted)
        );
        assert_eq!(tx.last_sequence_number(), u64::from(u32::MAX));

        // ESN: continues past 2^32, stops at 2^64 - 1.
        let (mut tx, _) = pair(alg, true);
        tx.set_last_sequence_number_for_testing(u64::from(u32::MAX));
        assert!(!tx.sequence_exhausted());
        let pkt = seal(&mut tx, &common::ipv4_udp(64), 4);
        assert_eq!(&pkt[4..8], &0u32.to_be_bytes(), "low half wraps to 0");
        assert_eq!(tx.last_sequence_number(), 1 << 32);
        tx.set_last_sequence_number_for_testing(cgw_esp::SOFT_SEQUENCE_LIMIT_64);
        assert_eq!(tx.status(), SaStatus::SoftLimitReached);
        tx.set_last_sequence_number_for_testing(u64::MAX - 1);
        seal(&mut tx, &common::ipv4_udp(64), 4);
        assert!(tx.sequence_exhausted());
        assert_eq!(
            tx.encapsulate(&mut buf, 24, 64, 4),
            Err(EspError::SequenceExhausted)
        );
    }
}

#[test]
fn lifetime_limits() {
    let limits = cgw_esp::LifetimeLimits {
        soft_packets: Some(3),
        hard_packets: Some(5),
        soft_bytes: None,
        hard_bytes: Some(10_000),
    };
    let (tx, rx) = pair(common::GCM128, false);
    let mut tx = tx.with_limits(limits);
    let mut rx = rx.with_limits(limits);
    for i in 1..=5 {
        let mut pkt = seal(&mut tx, &common::ipv4_udp(100), 4);
        rx.decapsulate(&mut pkt).unwrap();
        let expect = match i {
            1 | 2 => SaStatus::Active,
            3 | 4 => SaStatus::SoftLimitReached,
            _ => SaStatus::HardLimitReached,
        };
        assert_eq!(tx.status(), expect, "packet {i}");
        assert_eq!(rx.status(), expect, "packet {i}");
    }
    let mut buf = vec![0u8; 200];
    assert_eq!(
        tx.encapsulate(&mut buf, 16, 100, 4),
        Err(EspError::LifetimeExpired)
    );
    assert_eq!(tx.lifetime().packets, 5);
    assert_eq!(tx.lifetime().bytes, 500);
}
