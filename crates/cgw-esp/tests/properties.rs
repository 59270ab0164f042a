//! Property tests: arbitrary input never panics; round trips hold for arbitrary content and
//! buffer placement.

mod common;

use cgw_esp::wire::{classify_udp4500, Udp4500Kind};
use cgw_esp::{fuzzing, EspAlgorithm, EspError, TrafficSelector};
use proptest::prelude::*;

fn any_alg() -> impl Strategy<Value = EspAlgorithm> {
    (0..EspAlgorithm::ALL.len()).prop_map(|i| EspAlgorithm::ALL[i])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes into every fuzzing SA, as raw ESP, as a UDP-4500 datagram and as the
    /// plaintext of an authentic packet.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzzing::decapsulate(&data);
    }

    /// Arbitrary bytes behind the right SPI and a fresh sequence number, so every packet gets
    /// as far as the ICV check, which must refuse it; the window does not move.
    #[test]
    fn forged_packets_fail_the_icv(
        alg in any_alg(),
        esn in any::<bool>(),
        seq in 1u32..,
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let (_, mut rx) = common::pair(alg, esn);
        let mut pkt = common::SPI.to_be_bytes().to_vec();
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&body);
        let got = rx.decapsulate(&mut pkt);
        prop_assert!(got.is_err());
        let err = got.unwrap_err();
        prop_assert!(
            matches!(err, EspError::BadLength(_) | EspError::AuthenticationFailed | EspError::Replay(_)),
            "{err}"
        );
        prop_assert_eq!(rx.highest_sequence_number(), 0);
        prop_assert_eq!(rx.drops().total(), 1);
    }

    /// Any inner payload, placed anywhere in a larger buffer, comes back intact.
    #[test]
    fn roundtrip_anywhere_in_the_buffer(
        alg in any_alg(),
        esn in any::<bool>(),
        len in 28usize..1500,
        fill in any::<u8>(),
        before in 0usize..40,
        after in 0usize..40,
    ) {
        let (mut tx, mut rx) = common::pair(alg, esn);
        let mut inner = common::ipv4_udp(len);
        for b in inner.iter_mut().skip(28) {
            *b ^= fill;
        }
        let start = tx.headroom() + before;
        let mut buf = vec![0x5au8; start + len + tx.max_tailroom() + after];
        buf[start..start + len].copy_from_slice(&inner);
        let range = tx.encapsulate(&mut buf, start, len, 4).unwrap();
        prop_assert_eq!(range.start, before);
        prop_assert!(buf[..before].iter().all(|&b| b == 0x5a));
        prop_assert!(buf[range.end..].iter().all(|&b| b == 0x5a));
        let esp = &mut buf[range];
        let d = rx.decapsulate(esp).unwrap();
        prop_assert_eq!(&esp[d.inner], &inner[..]);
    }

    #[test]
    fn classify_udp4500_is_total(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        match classify_udp4500(&data) {
            Udp4500Kind::NatKeepalive => prop_assert_eq!(&data[..], &[0xff]),
            Udp4500Kind::Ike(ike) => {
                prop_assert_eq!(&data[..4], &[0, 0, 0, 0]);
                prop_assert_eq!(ike, &data[4..]);
                prop_assert!(!ike.is_empty());
            }
            Udp4500Kind::Esp(esp) => {
                prop_assert_eq!(esp, &data[..]);
                prop_assert!(data.len() >= 8);
                prop_assert_ne!(&data[..4], &[0, 0, 0, 0]);
            }
            Udp4500Kind::Invalid => prop_assert!(
                data.len() < 8 && data != [0xff] && !(data.len() > 4 && data[..4] == [0; 4])
                    || data == [0, 0, 0, 0]
            ),
        }
    }

    /// `TrafficSelector::matches` agrees with a direct reading of the fields.
    #[test]
    fn selector_matches_model(
        a in any::<u32>(), b in any::<u32>(), addr in any::<u32>(),
        proto in prop_oneof![Just(0u8), Just(6u8), Just(17u8), any::<u8>()],
        pkt_proto in prop_oneof![Just(6u8), Just(17u8), any::<u8>()],
        p1 in any::<u16>(), p2 in any::<u16>(), port in proptest::option::of(any::<u16>()),
    ) {
        let (lo, hi) = (a.min(b), a.max(b));
        let (plo, phi) = (p1.min(p2), p1.max(p2));
        let ts = TrafficSelector::ipv4_range(lo.into(), hi.into()).unwrap()
            .with_protocol(proto)
            .with_ports(plo, phi).unwrap();
        let all_ports = plo == 0 && phi == u16::MAX;
        let model = lo <= addr && addr <= hi
            && (proto == 0 || proto == pkt_proto)
            && (all_ports || port.is_some_and(|p| plo <= p && p <= phi));
        prop_assert_eq!(ts.matches(std::net::Ipv4Addr::from(addr).into(), pkt_proto, port), model);
        prop_assert!(!ts.matches("::1".parse().unwrap(), pkt_proto, port));
    }
}
