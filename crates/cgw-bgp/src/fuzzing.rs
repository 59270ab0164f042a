//! Entry points shared by the fuzz target and the corpus replay test.

use crate::{
    AsPath, Capability, Framer, Ipv4Prefix, LocalRoute, Message, NotificationMessage, OpenMessage,
    Origin, PathAttributes, RawAttribute, Rib, RibConfig, RouteRefreshMessage, Session,
    SessionConfig, SessionId, UpdateMessage, WireOptions,
};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Our AS in the fuzzing sessions (the customer gateway).
const LOCAL_ASN: u32 = 65001;
/// The peer's AS (AWS's default).
const PEER_ASN: u32 = 64512;

fn config(local: bool) -> SessionConfig {
    let (a, b) = (
        Ipv4Addr::new(169, 254, 10, 2),
        Ipv4Addr::new(169, 254, 10, 1),
    );
    if local {
        SessionConfig::new(LOCAL_ASN, PEER_ASN, Ipv4Addr::new(192, 0, 2, 1), a, b)
    } else {
        SessionConfig::new(PEER_ASN, LOCAL_ASN, Ipv4Addr::new(203, 0, 113, 1), b, a)
    }
}

fn pump(a: &mut Session, b: &mut Session, now: Instant) {
    for _ in 0..4 {
        while let Some(t) = a.poll_transmit() {
            b.handle_bytes(now, &t);
        }
        while let Some(t) = b.poll_transmit() {
            a.handle_bytes(now, &t);
        }
    }
}

fn all_wire_options() -> [WireOptions; 4] {
    let o = |four_octet_as, external_peer| WireOptions {
        four_octet_as,
        external_peer,
    };
    [
        o(false, true),
        o(true, true),
        o(false, false),
        o(true, false),
    ]
}

fn prefix(s: &str) -> Ipv4Prefix {
    s.parse().expect("constant prefix")
}

/// Runs arbitrary bytes through the framer and the message decoder (re-encoding what
/// decodes), then feeds them as the peer's byte stream to sessions in OpenSent, OpenConfirm
/// and Established, with the Established one's routes going into a RIB.
pub fn decode(data: &[u8]) {
    let opts = all_wire_options();
    for o in &opts {
        decode_and_reencode(data, o);
    }
    let mut framer = Framer::new();
    // Two pushes so the framer's buffer handling is exercised too.
    let (x, y) = data.split_at(data.len() / 2);
    framer.push(x);
    framer.push(y);
    while let Some(frame) = framer.next_message() {
        if let Ok(frame) = frame {
            for o in &opts {
                decode_and_reencode(&frame, o);
            }
        }
    }

    let now = Instant::now();
    // OpenSent: we sent OPEN, the input is what the peer says.
    let mut open_sent = Session::new(config(true));
    open_sent.start(now);
    open_sent.connected(now);
    // OpenConfirm: the peer's OPEN has arrived.
    let mut open_confirm = Session::new(config(true));
    let mut peer = Session::new(config(false));
    open_confirm.start(now);
    open_confirm.connected(now);
    peer.accept(now);
    while let Some(t) = peer.poll_transmit() {
        if let Ok(Message::Open(_)) = Message::decode(&t, &WireOptions::default()) {
            open_confirm.handle_bytes(now, &t);
        }
    }
    // Established, with routes both ways.
    let (mut established, mut peer) = established_pair(now);
    established.advertise(now, &[LocalRoute::from(prefix("10.1.0.0/16"))]);
    peer.advertise(now, &[LocalRoute::from(prefix("10.0.0.0/16"))]);
    pump(&mut established, &mut peer, now);

    let mut rib = Rib::new(RibConfig {
        ecmp: true,
        ..RibConfig::default()
    });
    for (n, s) in [&mut open_sent, &mut open_confirm, &mut established]
        .into_iter()
        .enumerate()
    {
        let t = now + Duration::from_millis(n as u64);
        s.handle_bytes(t, data);
        s.handle_timeout(t + Duration::from_secs(3600));
        while s.poll_transmit().is_some() {}
        while let Some(e) = s.poll_event() {
            match e {
                crate::Event::Update {
                    announced,
                    withdrawn,
                } => {
                    rib.update(SessionId(n as u32), &announced, &withdrawn);
                }
                crate::Event::Down { .. } => {
                    rib.session_down(SessionId(n as u32));
                }
                _ => {}
            }
        }
    }
}

fn decode_and_reencode(frame: &[u8], opts: &WireOptions) {
    if let Ok(m) = Message::decode(frame, opts) {
        if let Ok(bytes) = m.encode(opts) {
            let _ = Message::decode(&bytes, opts);
        }
        if let Message::Notification(n) = &m {
            let _ = n.to_string();
        }
    }
}

/// Named seed inputs for the corpus, made by the encoder: messages as the fuzzing sessions'
/// peer (AS 64512, 4-octet AS negotiated) would send them, a whole session's stream, and
/// some malformed ones.
pub fn seed_messages() -> Vec<(&'static str, Vec<u8>)> {
    let four = WireOptions {
        four_octet_as: true,
        external_peer: true,
    };
    let enc = |m: &Message, o: &WireOptions| m.encode(o).unwrap_or_default();
    let open = Message::Open(OpenMessage::new(
        PEER_ASN,
        30,
        Ipv4Addr::new(203, 0, 113, 1),
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs { asn: PEER_ASN },
        ],
    ));
    let mut attrs = PathAttributes::new(
        Origin::Igp,
        AsPath::from_sequence([PEER_ASN, 7224]),
        Ipv4Addr::new(169, 254, 10, 1),
    );
    attrs.multi_exit_disc = Some(100);
    attrs.unknown.push(RawAttribute {
        flags: 0xE0,
        type_code: 8,
        value: vec![0xFD, 0xE8, 0x00, 0x01],
    });
    let prefixes = ["10.0.0.0/16", "172.31.0.0/16", "0.0.0.0/0"].map(prefix);
    let update = Message::Update(UpdateMessage {
        withdrawn_routes: Vec::new(),
        path_attributes: Some(attrs.clone()),
        nlri: prefixes.to_vec(),
        attribute_errors: Vec::new(),
    });
    let withdraw = Message::Update(UpdateMessage {
        withdrawn_routes: prefixes[..2].to_vec(),
        ..UpdateMessage::default()
    });
    let notification = Message::Notification(NotificationMessage::with_data(
        6,
        2,
        b"\x0bmaintenance".to_vec(),
    ));
    let keepalive = enc(&Message::Keepalive, &four);
    let mut stream = enc(&open, &four);
    stream.extend_from_slice(&keepalive);
    stream.extend(enc(&update, &four));
    stream.extend_from_slice(&keepalive);
    stream.extend(enc(&withdraw, &four));
    stream.extend(enc(&notification, &four));

    // A 2-octet-AS peer with a 4-octet AS in the path: AS_TRANS and AS4_PATH.
    let mut attrs2 = attrs.clone();
    attrs2.as_path = AsPath::from_sequence([PEER_ASN, 4_200_000_000]);
    let update2 = Message::Update(UpdateMessage {
        path_attributes: Some(attrs2),
        nlri: prefixes[..1].to_vec(),
        ..UpdateMessage::default()
    });

    let mut bad_origin = enc(&update, &four);
    // ORIGIN is the first attribute: flags, type 1, length 1, value at offset 19+2+2+3.
    if let Some(v) = bad_origin.get_mut(HEADER_ORIGIN_VALUE) {
        *v = 7;
    }
    let mut bad_marker = keepalive.clone();
    bad_marker[3] = 0;

    vec![
        ("open", enc(&open, &four)),
        ("keepalive", keepalive),
        ("update", enc(&update, &four)),
        ("update-withdraw", enc(&withdraw, &four)),
        (
            "update-2octet-as4-path",
            enc(&update2, &WireOptions::default()),
        ),
        ("notification", enc(&notification, &four)),
        (
            "route-refresh",
            enc(
                &Message::RouteRefresh(RouteRefreshMessage::ipv4_unicast()),
                &four,
            ),
        ),
        ("session-stream", stream),
        ("update-bad-origin", bad_origin),
        ("bad-marker", bad_marker),
    ]
}

/// Offset of the ORIGIN value in an UPDATE without withdrawn routes whose first attribute
/// is ORIGIN.
const HEADER_ORIGIN_VALUE: usize = crate::HEADER_LEN + 2 + 2 + 3;

/// An established pair of sessions for the fuzz and property tests: ours (AS 65001) and the
/// peer (AS 64512), with nothing pending.
pub fn established_pair(now: Instant) -> (Session, Session) {
    let mut a = Session::new(config(true));
    let mut b = Session::new(config(false));
    a.start(now);
    a.connected(now);
    b.accept(now);
    pump(&mut a, &mut b, now);
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    (a, b)
}
