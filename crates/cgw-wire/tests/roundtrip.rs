//! Build -> parse round trips for every payload (property tests), and malformed input.

use cgw_wire::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn bytes(min: usize, max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), min..=max)
}

fn transform() -> impl Strategy<Value = Transform> {
    (1u8..=5, any::<u16>(), proptest::option::of(any::<u16>())).prop_map(|(t, id, k)| Transform {
        transform_type: TransformType(t),
        id,
        key_length: k,
        has_unknown_attributes: false,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        prop_oneof![
            Just(ProtocolId::IKE),
            Just(ProtocolId::ESP),
            Just(ProtocolId::AH)
        ],
        prop_oneof![Just(0usize), Just(4), Just(8)],
        proptest::collection::vec(transform(), 0..8),
        any::<u64>(),
    )
        .prop_map(|(number, protocol, spi_len, transforms, spi)| Proposal {
            number,
            protocol,
            spi: spi.to_be_bytes()[..spi_len].to_vec(),
            transforms,
        })
}

fn selector() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(p, sp, ep, a, b)| {
                TrafficSelector {
                    ip_protocol: p,
                    start_port: sp,
                    end_port: ep,
                    start_addr: IpAddr::V4(Ipv4Addr::from(a)),
                    end_addr: IpAddr::V4(Ipv4Addr::from(b)),
                }
            }),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u128>(),
            any::<u128>()
        )
            .prop_map(|(p, sp, ep, a, b)| {
                TrafficSelector {
                    ip_protocol: p,
                    start_port: sp,
                    end_port: ep,
                    start_addr: IpAddr::V6(Ipv6Addr::from(a)),
                    end_addr: IpAddr::V6(Ipv6Addr::from(b)),
                }
            }),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    let known = [
        33u8, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53,
    ];
    prop_oneof![
        proptest::collection::vec(proposal(), 1..5)
            .prop_map(|proposals| Payload::Sa(SaPayload { proposals })),
        (any::<u16>(), bytes(0, 600)).prop_map(|(g, d)| Payload::Ke(KeyExchange {
            dh_group: g,
            data: d
        })),
        (any::<u8>(), bytes(0, 64)).prop_map(|(t, d)| Payload::IdI(Identification {
            id_type: IdType(t),
            data: d
        })),
        (any::<u8>(), bytes(0, 64)).prop_map(|(t, d)| Payload::IdR(Identification {
            id_type: IdType(t),
            data: d
        })),
        (any::<u8>(), bytes(0, 64)).prop_map(|(m, d)| Payload::Auth(Auth {
            method: AuthMethod(m),
            data: d
        })),
        bytes(16, 256).prop_map(Payload::Nonce),
        (any::<u8>(), bytes(0, 8), any::<u16>(), bytes(0, 64)).prop_map(|(p, spi, t, d)| {
            Payload::Notify(Notify {
                protocol: ProtocolId(p),
                spi,
                notify_type: NotifyType(t),
                data: d,
            })
        }),
        Just(Payload::Delete(Delete {
            protocol: ProtocolId::IKE,
            spis: vec![]
        })),
        proptest::collection::vec(any::<u32>(), 1..10).prop_map(|s| Payload::Delete(Delete {
            protocol: ProtocolId::ESP,
            spis: s.iter().map(|x| x.to_be_bytes().to_vec()).collect()
        })),
        bytes(0, 32).prop_map(Payload::VendorId),
        proptest::collection::vec(selector(), 1..6).prop_map(Payload::TsI),
        proptest::collection::vec(selector(), 1..6).prop_map(Payload::TsR),
        (
            1u8..=4,
            proptest::collection::vec((0u16..0x7fff, bytes(0, 16)), 0..5)
        )
            .prop_map(|(t, a)| Payload::Cp(ConfigPayload {
                cfg_type: t,
                attributes: a
                    .into_iter()
                    .map(|(t, v)| ConfigAttribute {
                        attribute_type: t,
                        value: v
                    })
                    .collect()
            })),
        (
            any::<u8>().prop_filter("unknown type", move |t| *t != 0 && !known.contains(t)),
            bytes(0, 32)
        )
            .prop_map(|(t, b)| Payload::Unknown {
                payload_type: PayloadType(t),
                critical: false,
                body: b
            }),
        (
            prop_oneof![Just(37u8), Just(38), Just(48)],
            any::<bool>(),
            bytes(0, 32)
        )
            .prop_map(|(t, c, b)| Payload::Unknown {
                payload_type: PayloadType(t),
                critical: c,
                body: b
            }),
    ]
}

proptest! {
    #[test]
    fn payload_chain_round_trips(payloads in proptest::collection::vec(payload(), 0..8)) {
        let mut out = Vec::new();
        let first = emit_payload_chain(&payloads, PayloadType::NONE, &mut out);
        let parsed = parse_payload_chain(first, &out).unwrap();
        prop_assert_eq!(parsed, payloads);
    }

    #[test]
    fn message_round_trips(payloads in proptest::collection::vec(payload(), 0..6), spi_i: [u8; 8], spi_r: [u8; 8], id: u32, flags in 0u8..0x40, ex in 34u8..38) {
        let mut body = Vec::new();
        let first = emit_payload_chain(&payloads, PayloadType::NONE, &mut body);
        let h = IkeHeader { spi_i, spi_r, next_payload: first, version: 0x20, exchange: ExchangeType(ex), flags: Flags(flags), message_id: id, length: (IKE_HEADER_LEN + body.len()) as u32 };
        let mut msg = Vec::new();
        h.emit(&mut msg);
        msg.extend_from_slice(&body);
        let m = Message::parse(&msg).unwrap();
        prop_assert_eq!(m.header, h);
        prop_assert_eq!(m.payloads, payloads);
        prop_assert_eq!(m.encrypted, None);
        // Every truncation is an error, never a panic.
        for n in 0..msg.len() {
            let mut t = msg[..n].to_vec();
            if t.len() >= IKE_HEADER_LEN {
                // Keep the header's length consistent so that the payload parser is reached.
                let l = (t.len() as u32).to_be_bytes();
                t[24..28].copy_from_slice(&l);
            }
            let _ = Message::parse(&t);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(0, 2000), first: u8) {
        let _ = Message::parse(&data);
        let _ = parse_payload_chain(PayloadType(first), &data);
        // Also behind a valid-looking header.
        let mut msg = vec![1u8; 16];
        msg.extend_from_slice(&[first, 0x20, 35, 0x08, 0, 0, 0, 1]);
        msg.extend_from_slice(&((IKE_HEADER_LEN + data.len()) as u32).to_be_bytes());
        msg.extend_from_slice(&data);
        let _ = Message::parse(&msg);
    }
}

fn header(next: PayloadType, len: usize) -> Vec<u8> {
    let h = IkeHeader {
        spi_i: [1; 8],
        spi_r: [2; 8],
        next_payload: next,
        version: 0x20,
        exchange: ExchangeType::IKE_AUTH,
        flags: Flags::new(true, false),
        message_id: 1,
        length: len as u32,
    };
    let mut v = Vec::new();
    h.emit(&mut v);
    v
}

#[test]
fn sk_payload_is_located_with_its_aad() {
    // N(INITIAL_CONTACT) in the clear, then SK with 40 bytes of "ciphertext".
    let mut body = Vec::new();
    emit_payload_chain(
        &[Payload::Notify(Notify::new(
            NotifyType::INITIAL_CONTACT,
            vec![],
        ))],
        PayloadType::SK,
        &mut body,
    );
    body.extend_from_slice(&[PayloadType::IDI.0, 0, 0, 44]);
    body.extend_from_slice(&[0xAB; 40]);
    let mut msg = header(PayloadType::NOTIFY, IKE_HEADER_LEN + body.len());
    msg.extend_from_slice(&body);
    let m = Message::parse(&msg).unwrap();
    let e = m.encrypted.unwrap();
    assert_eq!(e.first_inner, PayloadType::IDI);
    assert_eq!(e.body_start, IKE_HEADER_LEN + 8 + 4);
    assert_eq!(e.fragment, None);
    assert_eq!(m.payloads.len(), 1);
}

#[test]
fn skf_payload_carries_fragment_numbers() {
    let mut msg = header(PayloadType::SKF, IKE_HEADER_LEN + 8 + 20);
    msg.extend_from_slice(&[PayloadType::IDI.0, 0, 0, 28, 0, 1, 0, 3]);
    msg.extend_from_slice(&[0; 20]);
    let e = Message::parse(&msg).unwrap().encrypted.unwrap();
    assert_eq!(e.fragment, Some((1, 3)));
    assert_eq!(e.body_start, IKE_HEADER_LEN + 8);
    // Fragment number 0 or above the total is invalid.
    msg[IKE_HEADER_LEN + 5] = 4;
    assert_eq!(
        Message::parse(&msg),
        Err(WireError::Invalid("SKF fragment number"))
    );
}

#[test]
fn sk_payload_must_be_last() {
    let mut msg = header(PayloadType::SK, IKE_HEADER_LEN + 8 + 4);
    msg.extend_from_slice(&[0, 0, 0, 8, 1, 2, 3, 4]);
    msg.extend_from_slice(&[9, 9, 9, 9]);
    assert!(matches!(
        Message::parse(&msg),
        Err(WireError::TrailingData(_))
    ));
}

#[test]
fn unknown_critical_payload_is_rejected_and_non_critical_skipped() {
    let mut msg = header(PayloadType(200), IKE_HEADER_LEN + 8);
    msg.extend_from_slice(&[0, 0x80, 0, 8, 1, 2, 3, 4]);
    assert_eq!(
        Message::parse(&msg),
        Err(WireError::UnsupportedCriticalPayload(200))
    );
    msg[IKE_HEADER_LEN + 1] = 0;
    let m = Message::parse(&msg).unwrap();
    assert!(matches!(
        &m.payloads[0],
        Payload::Unknown {
            payload_type: PayloadType(200),
            critical: false,
            ..
        }
    ));
}

#[test]
fn malformed_structures_give_typed_errors() {
    // Major version 1.
    let mut msg = header(PayloadType::NONE, IKE_HEADER_LEN);
    msg[17] = 0x10;
    assert_eq!(Message::parse(&msg), Err(WireError::UnsupportedVersion(1)));
    // Length beyond the datagram.
    let msg = header(PayloadType::NONE, 100);
    assert_eq!(
        Message::parse(&msg),
        Err(WireError::BadLength("IKE header"))
    );
    // Payload length below 4.
    let mut msg = header(PayloadType::NONCE, IKE_HEADER_LEN + 4);
    msg.extend_from_slice(&[0, 0, 0, 2]);
    assert_eq!(
        Message::parse(&msg),
        Err(WireError::BadLength("generic payload header"))
    );
    // Nonce too short.
    let mut msg = header(PayloadType::NONCE, IKE_HEADER_LEN + 8);
    msg.extend_from_slice(&[0, 0, 0, 8, 1, 2, 3, 4]);
    assert!(matches!(Message::parse(&msg), Err(WireError::BadLength(_))));
    // TS payload with a bad selector length.
    let mut body = vec![
        1, 0, 0, 0, 7, 0, 0, 15, 0, 0, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255,
    ];
    let mut msg = header(PayloadType::TSI, IKE_HEADER_LEN + 4 + body.len());
    msg.extend_from_slice(&[0, 0, 0, (4 + body.len()) as u8]);
    msg.append(&mut body);
    assert!(matches!(Message::parse(&msg), Err(WireError::BadLength(_))));
    // Delete payload whose SPI count disagrees with its length.
    let mut msg = header(PayloadType::DELETE, IKE_HEADER_LEN + 12);
    msg.extend_from_slice(&[0, 0, 0, 12, 3, 4, 0, 2, 1, 2, 3, 4]);
    assert_eq!(
        Message::parse(&msg),
        Err(WireError::BadLength("Delete payload"))
    );
}

#[test]
fn transform_with_unknown_attribute_is_flagged() {
    // One ESP proposal, one ENCR transform with Key Length and an unknown TV attribute.
    let sa: Vec<u8> = vec![
        0, 0, 0, 28, 1, 3, 4, 1, 0xde, 0xad, 0xbe, 0xef, // proposal header + SPI
        0, 0, 0, 16, 1, 0, 0, 20, 0x80, 14, 1, 0, 0x80, 99, 0, 1, // transform
    ];
    let mut msg = header(PayloadType::SA, IKE_HEADER_LEN + 4 + sa.len());
    msg.extend_from_slice(&[0, 0, 0, (4 + sa.len()) as u8]);
    msg.extend_from_slice(&sa);
    let m = Message::parse(&msg).unwrap();
    let Payload::Sa(s) = &m.payloads[0] else {
        panic!()
    };
    let t = &s.proposals[0].transforms[0];
    assert_eq!(t.key_length, Some(256));
    assert!(t.has_unknown_attributes);
}

#[test]
fn traffic_selector_arithmetic() {
    let any = TrafficSelector::IPV4_ANY;
    let ten = TrafficSelector::ipv4_prefix(Ipv4Addr::new(10, 1, 2, 3), 16);
    assert_eq!(ten.start_addr, IpAddr::V4(Ipv4Addr::new(10, 1, 0, 0)));
    assert_eq!(ten.end_addr, IpAddr::V4(Ipv4Addr::new(10, 1, 255, 255)));
    assert_eq!(any.intersect(&ten), Some(ten));
    assert!(any.contains(&ten) && !ten.contains(&any));
    let other = TrafficSelector::ipv4_prefix(Ipv4Addr::new(10, 2, 0, 0), 16);
    assert_eq!(ten.intersect(&other), None);
    let tcp = TrafficSelector {
        ip_protocol: 6,
        ..ten
    };
    let udp = TrafficSelector {
        ip_protocol: 17,
        ..ten
    };
    assert_eq!(tcp.intersect(&udp), None);
    assert_eq!(tcp.intersect(&any), Some(tcp));
    assert_eq!(format!("{tcp}"), "10.1.0.0-10.1.255.255 proto 6");
}
