//! The message codec: known wire bytes, round trips of every message, RFC 7606 handling of
//! malformed UPDATEs, and decoding arbitrary bytes without panicking.

use cgw_bgp::*;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const FOUR: WireOptions = WireOptions {
    four_octet_as: true,
    external_peer: true,
};
const TWO: WireOptions = WireOptions {
    four_octet_as: false,
    external_peer: true,
};

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

fn marker() -> String {
    "ff".repeat(16)
}

fn prefix(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

// ---------------------------------------------------------------- known bytes

#[test]
fn keepalive_is_19_octets() {
    let k = Message::Keepalive.encode(&FOUR).unwrap();
    assert_eq!(k.len(), 19);
    assert_eq!(hex::encode(&k), format!("{}001304", marker()));
    assert_eq!(Message::decode(&k, &FOUR), Ok(Message::Keepalive));
}

#[test]
fn open_with_capabilities_as_on_the_wire() {
    // AS 65001, hold 30, identifier 192.0.2.1; one Capabilities parameter holding
    // Multiprotocol IPv4 unicast, Route Refresh and 4-octet AS 65001.
    let wire = unhex(&format!(
        "{} 002d 01  04 fde9 001e c0000201 10  02 0e  01 04 0001 00 01  02 00  41 04 0000fde9",
        marker()
    ));
    let open = OpenMessage::new(
        65001,
        30,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs { asn: 65001 },
        ],
    );
    assert_eq!(Message::Open(open.clone()).encode(&TWO).unwrap(), wire);
    assert_eq!(Message::decode(&wire, &TWO), Ok(Message::Open(open)));
}

#[test]
fn open_with_one_parameter_per_capability_and_as_trans() {
    // How many routers send it: each capability in its own parameter; a 4-octet AS
    // (4200000001) with My AS = AS_TRANS (0x5ba0), and an unknown capability (Graceful Restart).
    let wire = unhex(&format!(
        "{} 0037 01  04 5ba0 005a 0a000001 1a  02 06 01 04 0001 0001  02 02 02 00  02 06 41 04 fa56ea01  02 04 40 02 0078",
        marker()
    ));
    let Ok(Message::Open(open)) = Message::decode(&wire, &TWO) else {
        panic!("does not decode")
    };
    assert_eq!(open.my_as, AS_TRANS as u16);
    assert_eq!(open.asn(), 4_200_000_001);
    assert_eq!(open.hold_time, 90);
    assert!(open.route_refresh());
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs { asn: 4_200_000_001 },
            Capability::Unknown {
                code: 64,
                value: vec![0x00, 0x78]
            },
        ]
    );
}

#[test]
fn update_as_on_the_wire() {
    // 10.0.0.0/16 from AS 64512 via 169.254.10.1 with MED 100, 4-octet AS_PATH.
    let wire = unhex(&format!(
        "{} 0035 02  0000  001b  40 01 01 00  40 02 06 02 01 0000fc00  40 03 04 a9fe0a01  80 04 04 00000064  10 0a00",
        marker()
    ));
    let mut attrs = PathAttributes::new(
        Origin::Igp,
        AsPath::from_sequence([64512]),
        Ipv4Addr::new(169, 254, 10, 1),
    );
    attrs.multi_exit_disc = Some(100);
    let update = UpdateMessage {
        path_attributes: Some(attrs),
        nlri: vec![prefix("10.0.0.0/16")],
        ..UpdateMessage::default()
    };
    assert_eq!(Message::Update(update.clone()).encode(&FOUR).unwrap(), wire);
    assert_eq!(Message::decode(&wire, &FOUR), Ok(Message::Update(update)));
}

#[test]
fn notification_and_route_refresh_as_on_the_wire() {
    let n = Message::Notification(NotificationMessage::new(6, 2));
    assert_eq!(
        hex::encode(n.encode(&FOUR).unwrap()),
        format!("{}0015030602", marker())
    );
    let rr = Message::RouteRefresh(RouteRefreshMessage::ipv4_unicast());
    assert_eq!(
        hex::encode(rr.encode(&FOUR).unwrap()),
        format!("{}00170500010001", marker())
    );
    // End-of-RIB: an empty UPDATE.
    let eor = Message::Update(UpdateMessage::default())
        .encode(&FOUR)
        .unwrap();
    assert_eq!(
        hex::encode(&eor),
        format!("{}0017020000 0000", marker()).replace(' ', "")
    );
    let Ok(Message::Update(u)) = Message::decode(&eor, &FOUR) else {
        panic!()
    };
    assert!(u.is_end_of_rib());
}

#[test]
fn two_octet_session_carries_as4_path() {
    let mut attrs = PathAttributes::new(
        Origin::Igp,
        AsPath::from_sequence([4_200_000_001, 64512]),
        Ipv4Addr::new(169, 254, 10, 1),
    );
    attrs.aggregator = Some(Aggregator {
        asn: 4_200_000_002,
        address: Ipv4Addr::new(10, 0, 0, 1),
    });
    let m = Message::Update(UpdateMessage {
        path_attributes: Some(attrs.clone()),
        nlri: vec![prefix("10.0.0.0/8")],
        ..UpdateMessage::default()
    });
    let wire = m.encode(&TWO).unwrap();
    let h = hex::encode(&wire);
    assert!(
        h.contains("4002060202 5ba0fc00".replace(' ', "").as_str()),
        "AS_PATH with AS_TRANS: {h}"
    );
    assert!(h.contains("c0110a0202fa56ea010000fc00"), "AS4_PATH: {h}");
    assert!(
        h.contains("c012 08 fa56ea02 0a000001".replace(' ', "").as_str()),
        "AS4_AGGREGATOR: {h}"
    );
    assert_eq!(Message::decode(&wire, &TWO), Ok(m));
    // A speaker that uses 4-octet ASes ignores AS4_PATH.
    let Ok(Message::Update(u)) = Message::decode(&wire, &FOUR) else {
        panic!()
    };
    assert!(
        u.treat_as_withdraw(),
        "2-octet AS_PATH read as 4-octet is malformed"
    );
}

// ---------------------------------------------------------------- round trips

fn arb_prefix() -> impl Strategy<Value = Ipv4Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Ipv4Prefix::new(Ipv4Addr::from(a), l).unwrap())
}

fn arb_asn() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=65535, any::<u32>(), Just(AS_TRANS)]
}

fn arb_as_path() -> impl Strategy<Value = AsPath> {
    prop::collection::vec(
        (any::<bool>(), prop::collection::vec(arb_asn(), 1..8)).prop_map(|(set, v)| {
            if set {
                AsPathSegment::Set(v)
            } else {
                AsPathSegment::Sequence(v)
            }
        }),
        0..4,
    )
    .prop_map(|segments| AsPath { segments })
}

fn arb_next_hop() -> impl Strategy<Value = Ipv4Addr> {
    (1u8..=223, any::<[u8; 3]>())
        .prop_filter("not loopback", |(a, _)| *a != 127)
        .prop_map(|(a, r)| Ipv4Addr::new(a, r[0], r[1], r[2]))
}

fn arb_unknown_code() -> impl Strategy<Value = u8> {
    prop_oneof![8u8..=13, Just(16u8), 19u8..=255]
}

fn arb_attributes(local_pref: bool) -> impl Strategy<Value = PathAttributes> {
    (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        arb_as_path(),
        arb_next_hop(),
        any::<Option<u32>>(),
        any::<Option<u32>>(),
        any::<bool>(),
        prop::option::of((arb_asn(), any::<u32>())),
        prop::collection::btree_map(
            arb_unknown_code(),
            prop::collection::vec(any::<u8>(), 0..40),
            0..3,
        ),
    )
        .prop_map(
            move |(origin, as_path, next_hop, med, lp, atomic, agg, unknown)| PathAttributes {
                origin,
                as_path,
                next_hop,
                multi_exit_disc: med,
                local_pref: if local_pref { lp } else { None },
                atomic_aggregate: atomic,
                aggregator: agg.map(|(asn, a)| Aggregator {
                    asn,
                    address: Ipv4Addr::from(a),
                }),
                unknown: unknown
                    .into_iter()
                    .map(|(type_code, value)| RawAttribute {
                        flags: 0xE0,
                        type_code,
                        value,
                    })
                    .collect(),
            },
        )
}

fn arb_update(local_pref: bool) -> impl Strategy<Value = UpdateMessage> {
    (
        prop::collection::vec(arb_prefix(), 0..20),
        prop::option::of(arb_attributes(local_pref)),
        prop::collection::vec(arb_prefix(), 0..20),
    )
        .prop_map(|(withdrawn_routes, path_attributes, nlri)| UpdateMessage {
            withdrawn_routes,
            nlri: if path_attributes.is_some() {
                nlri
            } else {
                Vec::new()
            },
            path_attributes,
            attribute_errors: Vec::new(),
        })
}

fn arb_capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        (any::<u16>(), any::<u8>()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        any::<u32>().prop_map(|asn| Capability::FourOctetAs { asn }),
        (
            any::<u8>().prop_filter("known", |c| ![1, 2, 65].contains(c)),
            prop::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn arb_message(local_pref: bool) -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            prop::collection::vec(arb_capability(), 0..8)
        )
            .prop_map(
                |(my_as, hold_time, id, capabilities)| Message::Open(OpenMessage {
                    my_as,
                    hold_time,
                    bgp_identifier: Ipv4Addr::from(id),
                    capabilities,
                })
            ),
        arb_update(local_pref).prop_map(Message::Update),
        (
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..100)
        )
            .prop_map(|(c, s, d)| {
                Message::Notification(NotificationMessage::with_data(c, s, d))
            }),
        Just(Message::Keepalive),
        (any::<u16>(), any::<u8>(), any::<u8>()).prop_map(|(afi, subtype, safi)| {
            Message::RouteRefresh(RouteRefreshMessage { afi, subtype, safi })
        }),
    ]
}

proptest! {
    #[test]
    fn round_trip_four_octet_external(m in arb_message(false)) {
        let wire = m.encode(&FOUR).unwrap();
        prop_assert!(wire.len() <= MAX_MESSAGE_LEN);
        prop_assert_eq!(Message::decode(&wire, &FOUR), Ok(m));
    }

    #[test]
    fn round_trip_two_octet_external(m in arb_message(false)) {
        let wire = m.encode(&TWO).unwrap();
        prop_assert_eq!(Message::decode(&wire, &TWO), Ok(m));
    }

    #[test]
    fn round_trip_internal_with_local_pref(m in arb_message(true), four in any::<bool>()) {
        let o = WireOptions { four_octet_as: four, external_peer: false };
        let wire = m.encode(&o).unwrap();
        prop_assert_eq!(Message::decode(&wire, &o), Ok(m));
    }

    #[test]
    fn framer_splits_any_chunking(ms in prop::collection::vec(arb_message(false), 1..6), cuts in prop::collection::vec(1usize..200, 0..20)) {
        let frames: Vec<Vec<u8>> = ms.iter().map(|m| m.encode(&FOUR).unwrap()).collect();
        let stream = frames.concat();
        let mut f = Framer::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        for c in cuts.iter().chain(std::iter::repeat(&usize::MAX)) {
            if rest.is_empty() { break; }
            let (a, b) = rest.split_at((*c).min(rest.len()));
            f.push(a);
            rest = b;
            while let Some(m) = f.next_message() { got.push(m.unwrap()); }
        }
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        cgw_bgp::fuzzing::decode(&data);
        for o in [FOUR, TWO] {
            let _ = Message::decode(&data, &o);
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic(ty in 0u8..8, body in prop::collection::vec(any::<u8>(), 0..300), four in any::<bool>()) {
        let mut m = vec![0xff; 16];
        m.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        m.push(ty);
        m.extend_from_slice(&body);
        let o = WireOptions { four_octet_as: four, external_peer: true };
        if let Ok(msg) = Message::decode(&m, &o) {
            // Whatever decodes re-encodes (attributes normalised) and decodes again.
            if let Ok(again) = msg.encode(&o) {
                prop_assert!(Message::decode(&again, &o).is_ok());
            }
        }
    }

    #[test]
    fn mutated_updates_never_panic(u in arb_update(false), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut wire = Message::Update(u).encode(&FOUR).unwrap();
        for (i, v) in flips {
            // Only the body: keep the header valid so the body gets decoded.
            let at = 19 + i.index(wire.len() - 19);
            wire[at] = v;
        }
        let _ = Message::decode(&wire, &FOUR);
        let _ = Message::decode(&wire, &TWO);
    }
}

// ---------------------------------------------------------------- malformed messages

fn header(len: u16, ty: u8) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ty);
    m
}

/// An UPDATE from a raw attributes field and NLRI.
fn update_with(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut m = header((19 + 4 + attrs.len() + nlri.len()) as u16, 2);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    m
}

const ORIGIN_IGP: &[u8] = &[0x40, 1, 1, 0];
const AS_PATH_64512: &[u8] = &[0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00];
const NEXT_HOP: &[u8] = &[0x40, 3, 4, 169, 254, 10, 1];
const NLRI: &[u8] = &[16, 10, 0];

fn decode_update(m: &[u8]) -> UpdateMessage {
    match Message::decode(m, &FOUR) {
        Ok(Message::Update(u)) => u,
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_marker_and_lengths() {
    let mut m = header(19, 4);
    m[5] = 0xfe;
    assert_eq!(
        Message::decode(&m, &FOUR),
        Err(DecodeError::ConnectionNotSynchronized)
    );
    let n = DecodeError::ConnectionNotSynchronized.notification();
    assert_eq!((n.error_code, n.error_subcode), (1, 1));

    for len in [0u16, 18, 4097, 0xffff] {
        let e = Message::decode(&header(len, 4), &FOUR).unwrap_err();
        assert_eq!(e, DecodeError::BadMessageLength { length: len });
        let n = e.notification();
        assert_eq!(
            (n.error_code, n.error_subcode, n.data.clone()),
            (1, 2, len.to_be_bytes().to_vec())
        );
    }
    // Lengths wrong for the type.
    let mut k = header(20, 4);
    k.push(0);
    assert_eq!(
        Message::decode(&k, &FOUR),
        Err(DecodeError::BadMessageLength { length: 20 })
    );
    let mut o = header(28, 1);
    o.extend_from_slice(&[4, 0, 1, 0, 30, 1, 2, 3, 4]);
    assert_eq!(
        Message::decode(&o, &FOUR),
        Err(DecodeError::BadMessageLength { length: 28 })
    );
    assert_eq!(
        Message::decode(&header(20, 3), &FOUR),
        Err(DecodeError::BadMessageLength { length: 20 })
    );
    assert_eq!(
        Message::decode(&header(19, 9), &FOUR),
        Err(DecodeError::BadMessageType { message_type: 9 })
    );
    // ROUTE-REFRESH of the wrong length: RFC 7313's own error.
    let mut rr = header(24, 5);
    rr.extend_from_slice(&[0, 1, 0, 1, 0]);
    let e = Message::decode(&rr, &FOUR).unwrap_err();
    let n = e.notification();
    assert_eq!((n.error_code, n.error_subcode, n.data), (7, 1, rr));
}

#[test]
fn bad_open() {
    let open = |version: u8, params: &[u8]| {
        let mut m = header((29 + params.len()) as u16, 1);
        m.extend_from_slice(&[version, 0xfd, 0xe9, 0, 30, 192, 0, 2, 1, params.len() as u8]);
        m.extend_from_slice(params);
        m
    };
    let e = Message::decode(&open(3, &[]), &FOUR).unwrap_err();
    assert_eq!(e, DecodeError::UnsupportedVersionNumber { version: 3 });
    assert_eq!(
        e.notification(),
        NotificationMessage::with_data(2, 1, vec![0, 4])
    );
    let e = Message::decode(&open(4, &[1, 1, 0]), &FOUR).unwrap_err();
    assert_eq!(e.notification(), NotificationMessage::new(2, 4));
    // Capability overruns its parameter; 4-octet AS capability of length 2.
    for params in [&[2u8, 2, 65, 4][..], &[2, 4, 65, 2, 0, 1]] {
        let e = Message::decode(&open(4, params), &FOUR).unwrap_err();
        assert!(matches!(e, DecodeError::MalformedOpen { .. }), "{e:?}");
        assert_eq!(e.notification(), NotificationMessage::new(2, 0));
    }
}

#[test]
fn well_formed_update_from_parts() {
    let u = decode_update(&update_with(
        &[ORIGIN_IGP, AS_PATH_64512, NEXT_HOP].concat(),
        NLRI,
    ));
    assert!(u.attribute_errors.is_empty());
    assert!(!u.treat_as_withdraw());
    assert_eq!(u.nlri, vec![prefix("10.0.0.0/16")]);
    assert_eq!(
        u.path_attributes.unwrap().as_path,
        AsPath::from_sequence([64512])
    );
}

fn only_error(u: &UpdateMessage) -> &AttributeError {
    assert_eq!(u.attribute_errors.len(), 1, "{:?}", u.attribute_errors);
    &u.attribute_errors[0]
}

#[test]
fn bad_origin_value_is_treat_as_withdraw() {
    let u = decode_update(&update_with(
        &[&[0x40, 1, 1, 3], AS_PATH_64512, NEXT_HOP].concat(),
        NLRI,
    ));
    assert!(u.treat_as_withdraw());
    assert!(u.path_attributes.is_none());
    assert_eq!(
        u.nlri,
        vec![prefix("10.0.0.0/16")],
        "the NLRI are still located"
    );
    let e = only_error(&u);
    assert_eq!(e.type_code, attribute_type::ORIGIN);
    assert_eq!(e.problem, AttributeProblem::InvalidOrigin(3));
    assert_eq!(e.action, ErrorAction::TreatAsWithdraw);
    assert_eq!(
        e.to_string(),
        "undefined ORIGIN value 3 in ORIGIN (type 1): treat-as-withdraw"
    );
}

#[test]
fn wrong_flags_on_well_known_attribute_is_treat_as_withdraw() {
    // ORIGIN marked optional; NEXT_HOP marked non-transitive.
    for (bad, ty) in [
        (&[0xc0u8, 1, 1, 0][..], 1u8),
        (&[0x00, 3, 4, 169, 254, 10, 1], 3),
    ] {
        let attrs: Vec<u8> = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP]
            .iter()
            .map(|a| if a[1] == ty { bad } else { *a })
            .collect::<Vec<_>>()
            .concat();
        let u = decode_update(&update_with(&attrs, NLRI));
        let e = only_error(&u);
        assert_eq!(e.type_code, ty);
        assert!(matches!(e.problem, AttributeProblem::FlagsConflict { .. }));
        assert_eq!(e.action, ErrorAction::TreatAsWithdraw);
    }
}

#[test]
fn malformed_as_path_next_hop_med_are_treat_as_withdraw() {
    let cases: [(&[u8], u8); 5] = [
        (&[0x40, 2, 4, 2, 2, 0, 0], 2),             // segment overruns
        (&[0x40, 3, 3, 10, 0, 0], 3),               // NEXT_HOP length 3
        (&[0x40, 3, 4, 224, 0, 0, 1], 3),           // multicast NEXT_HOP
        (&[0x80, 4, 2, 0, 1], 4),                   // MED length 2
        (&[0x40, 2, 6, 9, 1, 0, 0, 0xfc, 0x00], 2), // unknown segment type
    ];
    for (bad, ty) in cases {
        let attrs: Vec<u8> = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP]
            .iter()
            .filter(|a| a[1] != ty)
            .copied()
            .chain([bad])
            .collect::<Vec<_>>()
            .concat();
        let u = decode_update(&update_with(&attrs, NLRI));
        assert!(u.treat_as_withdraw(), "{bad:?}: {:?}", u.attribute_errors);
        assert_eq!(only_error(&u).type_code, ty);
    }
}

#[test]
fn missing_mandatory_attribute_is_treat_as_withdraw() {
    let u = decode_update(&update_with(&[ORIGIN_IGP, AS_PATH_64512].concat(), NLRI));
    let e = only_error(&u);
    assert_eq!((e.type_code, &e.problem), (3, &AttributeProblem::Missing));
    // Without NLRI nothing is missing.
    let u = decode_update(&update_with(&[ORIGIN_IGP, AS_PATH_64512].concat(), &[]));
    assert!(u.attribute_errors.is_empty());
}

#[test]
fn truncated_attributes() {
    // The last attribute's length runs past the attributes field (but the Total Path
    // Attribute Length is consistent): treat-as-withdraw, NLRI still found.
    let attrs = [ORIGIN_IGP, AS_PATH_64512, &[0x40, 3, 9, 169, 254, 10, 1]].concat();
    let u = decode_update(&update_with(&attrs, NLRI));
    assert!(u.treat_as_withdraw());
    assert_eq!(only_error(&u).problem, AttributeProblem::Overrun);
    assert_eq!(u.nlri.len(), 1);
    // Two octets left over: not even an attribute header.
    let attrs = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP, &[0x40, 5]].concat();
    let u = decode_update(&update_with(&attrs, NLRI));
    assert_eq!(only_error(&u).problem, AttributeProblem::Overrun);
    // Extended length bit with only three octets of header.
    let attrs = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP, &[0x50, 5, 0]].concat();
    assert!(decode_update(&update_with(&attrs, NLRI)).treat_as_withdraw());

    // Total Path Attribute Length past the end of the message: session reset.
    let mut m = update_with(&[ORIGIN_IGP, AS_PATH_64512, NEXT_HOP].concat(), &[]);
    m[22] += 10;
    let e = Message::decode(&m, &FOUR).unwrap_err();
    assert!(matches!(e, DecodeError::MalformedAttributeList { .. }));
    assert_eq!(e.notification(), NotificationMessage::new(3, 1));
    // Withdrawn Routes Length past the end.
    let mut m = update_with(&[], &[]);
    m[20] = 5;
    assert!(matches!(
        Message::decode(&m, &FOUR),
        Err(DecodeError::MalformedAttributeList { .. })
    ));
}

#[test]
fn nlri_prefix_length_over_32_resets_the_session() {
    let m = update_with(
        &[ORIGIN_IGP, AS_PATH_64512, NEXT_HOP].concat(),
        &[33, 10, 0, 0, 0, 0],
    );
    let e = Message::decode(&m, &FOUR).unwrap_err();
    assert_eq!(
        e,
        DecodeError::InvalidNetworkField {
            withdrawn_routes: false,
            error: NlriError::LengthTooLong(33)
        }
    );
    assert_eq!(e.notification(), NotificationMessage::new(3, 10));
    // Truncated prefix in Withdrawn Routes.
    let mut m = header(19 + 4 + 2, 2);
    m.extend_from_slice(&[0, 2, 24, 10, 0, 0]);
    assert!(matches!(
        Message::decode(&m, &FOUR),
        Err(DecodeError::InvalidNetworkField {
            withdrawn_routes: true,
            ..
        })
    ));
}

#[test]
fn unrecognized_well_known_attribute_resets_the_session() {
    let attrs = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP, &[0x40, 99, 2, 1, 2]].concat();
    let e = Message::decode(&update_with(&attrs, NLRI), &FOUR).unwrap_err();
    let n = e.notification();
    assert_eq!((n.error_code, n.error_subcode), (3, 2));
    assert_eq!(n.data, vec![0x40, 99, 2, 1, 2], "the attribute is the data");
}

#[test]
fn unknown_optional_attributes() {
    // Transitive: kept with Partial set. Non-transitive: dropped quietly.
    let attrs = [
        ORIGIN_IGP,
        AS_PATH_64512,
        NEXT_HOP,
        &[0xc0, 8, 4, 0xfd, 0xe8, 0, 1],
        &[0x80, 99, 1, 7],
    ]
    .concat();
    let u = decode_update(&update_with(&attrs, NLRI));
    assert!(u.attribute_errors.is_empty());
    let a = u.path_attributes.unwrap();
    assert_eq!(
        a.unknown,
        vec![RawAttribute {
            flags: 0xe0,
            type_code: 8,
            value: vec![0xfd, 0xe8, 0, 1]
        }]
    );
    // Passed on with the Partial bit.
    let wire = Message::Update(UpdateMessage {
        path_attributes: Some(a),
        nlri: vec![prefix("10.0.0.0/16")],
        ..UpdateMessage::default()
    })
    .encode(&FOUR)
    .unwrap();
    assert!(hex::encode(wire).contains("e00804fde80001"));
}

#[test]
fn attribute_discard_cases() {
    // Repeated MED; ATOMIC_AGGREGATE with a length; AGGREGATOR of the wrong length.
    let attrs = [
        ORIGIN_IGP,
        AS_PATH_64512,
        NEXT_HOP,
        &[0x80, 4, 4, 0, 0, 0, 5],
        &[0x80, 4, 4, 0, 0, 0, 9],
        &[0x40, 6, 1, 0],
        &[0xc0, 7, 5, 1, 2, 3, 4, 5],
    ]
    .concat();
    let u = decode_update(&update_with(&attrs, NLRI));
    assert!(!u.treat_as_withdraw());
    assert_eq!(u.attribute_errors.len(), 3);
    assert!(u
        .attribute_errors
        .iter()
        .all(|e| e.action == ErrorAction::AttributeDiscard));
    let a = u.path_attributes.unwrap();
    assert_eq!(a.multi_exit_disc, Some(5), "the first MED counts");
    assert!(!a.atomic_aggregate);
    assert_eq!(a.aggregator, None);
}

#[test]
fn repeated_mp_reach_resets_the_session() {
    let mp = [0x80u8, 14, 1, 0];
    let attrs = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP, &mp, &mp].concat();
    let e = Message::decode(&update_with(&attrs, NLRI), &FOUR).unwrap_err();
    assert_eq!(e.notification(), NotificationMessage::new(3, 1));
}

#[test]
fn local_pref_only_from_internal_peers() {
    let attrs = [
        ORIGIN_IGP,
        AS_PATH_64512,
        NEXT_HOP,
        &[0x40, 5, 4, 0, 0, 0, 200],
    ]
    .concat();
    let m = update_with(&attrs, NLRI);
    assert_eq!(decode_update(&m).path_attributes.unwrap().local_pref, None);
    let internal = WireOptions {
        four_octet_as: true,
        external_peer: false,
    };
    let Ok(Message::Update(u)) = Message::decode(&m, &internal) else {
        panic!()
    };
    assert_eq!(u.path_attributes.unwrap().local_pref, Some(200));
    // Malformed LOCAL_PREF: ignored from an external peer, treat-as-withdraw from an internal one.
    let attrs = [ORIGIN_IGP, AS_PATH_64512, NEXT_HOP, &[0x40, 5, 2, 0, 0]].concat();
    let m = update_with(&attrs, NLRI);
    assert!(decode_update(&m).attribute_errors.is_empty());
    let Ok(Message::Update(u)) = Message::decode(&m, &internal) else {
        panic!()
    };
    assert!(u.treat_as_withdraw());
}

#[test]
fn encoder_refuses_oversized_messages() {
    let attrs = PathAttributes::new(
        Origin::Igp,
        AsPath::from_sequence([1]),
        Ipv4Addr::new(10, 0, 0, 1),
    );
    let nlri: Vec<Ipv4Prefix> = (0..2000u32)
        .map(|i| Ipv4Prefix::new(Ipv4Addr::from(i << 8), 24).unwrap())
        .collect();
    let m = Message::Update(UpdateMessage {
        path_attributes: Some(attrs),
        nlri,
        ..UpdateMessage::default()
    });
    assert!(matches!(
        m.encode(&FOUR),
        Err(EncodeError::MessageTooLong { .. })
    ));
}
