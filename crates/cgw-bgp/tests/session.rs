//! The session FSM with a simulated clock: two `Session`s wired back to back.

use cgw_bgp::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const CGW_ASN: u32 = 65001;
const AWS_ASN: u32 = 64512;
const CGW_ID: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const AWS_ID: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CGW_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 2);
const AWS_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 10, 1);

fn cgw_config() -> SessionConfig {
    let mut c = SessionConfig::new(CGW_ASN, AWS_ASN, CGW_ID, CGW_ADDR, AWS_ADDR);
    c.keepalive_time = Some(10);
    c
}

fn aws_config() -> SessionConfig {
    let mut c = SessionConfig::new(AWS_ASN, CGW_ASN, AWS_ID, AWS_ADDR, CGW_ADDR);
    c.passive = true;
    c.multi_exit_disc = Some(100);
    c
}

fn prefix(s: &str) -> Ipv4Prefix {
    s.parse().unwrap()
}

/// Two sessions on one simulated connection, with a clock.
struct Pair {
    a: Session,
    b: Session,
    now: Instant,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
    /// Messages delivered a→b and b→a.
    a_sent: Vec<Message>,
    b_sent: Vec<Message>,
}

impl Pair {
    fn new(a: SessionConfig, b: SessionConfig) -> Self {
        Self {
            a: Session::new(a),
            b: Session::new(b),
            now: Instant::now(),
            a_events: Vec::new(),
            b_events: Vec::new(),
            a_sent: Vec::new(),
            b_sent: Vec::new(),
        }
    }

    /// a connects to b (which accepts), then messages flow until quiet.
    fn connect(&mut self) {
        self.a.start(self.now);
        self.b.start(self.now);
        assert_eq!(self.a.poll_event(), Some(Event::WantConnect));
        assert_eq!(self.a.state(), State::Connect);
        assert_eq!(self.b.state(), State::Active, "passive");
        assert!(self.a.connected(self.now));
        assert!(self.b.accept(self.now));
        self.pump();
    }

    /// Delivers everything both ways until nothing is left.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit() {
                self.a_sent.push(
                    Message::decode(&t, &self.a.wire_options()).unwrap_or(Message::Keepalive),
                );
                self.b.handle_bytes(self.now, &t);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit() {
                self.b_sent.push(
                    Message::decode(&t, &self.b.wire_options()).unwrap_or(Message::Keepalive),
                );
                self.a.handle_bytes(self.now, &t);
                moved = true;
            }
            self.collect();
            if !moved {
                break;
            }
        }
    }

    fn collect(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// Advances the clock in 1-second steps, running both timers and delivering.
    fn run_for(&mut self, secs: u64) {
        for _ in 0..secs {
            self.now += Duration::from_secs(1);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.pump();
        }
    }

    fn established(&mut self) {
        self.connect();
        assert!(self.a.is_established(), "{:?}", self.a_events);
        assert!(self.b.is_established(), "{:?}", self.b_events);
        self.a_events.clear();
        self.b_events.clear();
        self.a_sent.clear();
        self.b_sent.clear();
    }
}

fn updates(events: &[Event]) -> Vec<(Vec<Ipv4Prefix>, Vec<Ipv4Prefix>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Update {
                announced,
                withdrawn,
            } => Some((
                announced.iter().map(|(p, _)| *p).collect(),
                withdrawn.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn down(events: &[Event]) -> Option<(&DownReason, bool)> {
    events.iter().find_map(|e| match e {
        Event::Down {
            reason,
            was_established,
        } => Some((reason, *was_established)),
        _ => None,
    })
}

#[test]
fn back_to_back_sessions_establish() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.connect();
    assert_eq!(p.a.state(), State::Established);
    assert_eq!(p.b.state(), State::Established);
    // OPEN then KEEPALIVE each way.
    let types = |v: &[Message]| v.iter().map(|m| m.message_type()).collect::<Vec<_>>();
    assert_eq!(
        types(&p.a_sent),
        vec![MessageType::Open, MessageType::Keepalive]
    );
    assert_eq!(
        types(&p.b_sent),
        vec![MessageType::Open, MessageType::Keepalive]
    );
    let Message::Open(open) = &p.a_sent[0] else {
        panic!()
    };
    assert_eq!(
        open.capabilities,
        vec![
            Capability::Multiprotocol { afi: 1, safi: 1 },
            Capability::RouteRefresh,
            Capability::FourOctetAs { asn: CGW_ASN }
        ]
    );
    assert_eq!(
        p.a_events,
        vec![Event::Established {
            peer_asn: AWS_ASN,
            peer_id: AWS_ID,
            hold_time: 30,
            keepalive_time: 10,
            four_octet_as: true,
            route_refresh: true,
        }]
    );
    assert!(matches!(
        p.b_events[..],
        [Event::Established {
            peer_asn: CGW_ASN,
            peer_id: CGW_ID,
            ..
        }]
    ));
    assert_eq!(p.a.remote_id(), Some(AWS_ID));
    assert_eq!(p.a.stats().established_count, 1);
}

#[test]
fn routes_are_exchanged() {
    let mut p = Pair::new(cgw_config(), aws_config());
    // Advertised before the session is up: sent once Established.
    p.a.advertise(p.now, &[prefix("192.168.0.0/16").into()]);
    p.connect();
    let u = updates(&p.b_events);
    assert_eq!(u, vec![(vec![prefix("192.168.0.0/16")], vec![])]);
    let Some(Event::Update { announced, .. }) = p
        .b_events
        .iter()
        .find(|e| matches!(e, Event::Update { .. }))
    else {
        panic!()
    };
    let attrs = &announced[0].1;
    assert_eq!(attrs.origin, Origin::Igp);
    assert_eq!(attrs.as_path, AsPath::from_sequence([CGW_ASN]));
    assert_eq!(attrs.next_hop, CGW_ADDR);
    assert_eq!(attrs.multi_exit_disc, None);
    assert_eq!(attrs.local_pref, None, "no LOCAL_PREF to an external peer");

    // AWS announces two VPC prefixes with MED 100; one of them with its own MED.
    p.b.advertise(
        p.now,
        &[
            prefix("10.0.0.0/16").into(),
            LocalRoute {
                prefix: prefix("10.1.0.0/16"),
                multi_exit_disc: Some(200),
            },
        ],
    );
    p.pump();
    let got: Vec<(Ipv4Prefix, Option<u32>, AsPath)> = p
        .a_events
        .iter()
        .flat_map(|e| match e {
            Event::Update { announced, .. } => announced
                .iter()
                .map(|(p, a)| (*p, a.multi_exit_disc, a.as_path.clone()))
                .collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                prefix("10.0.0.0/16"),
                Some(100),
                AsPath::from_sequence([AWS_ASN])
            ),
            (
                prefix("10.1.0.0/16"),
                Some(200),
                AsPath::from_sequence([AWS_ASN])
            ),
        ]
    );

    // Withdrawal.
    p.a_events.clear();
    p.b.withdraw(p.now, &[prefix("10.1.0.0/16"), prefix("10.99.0.0/16")]);
    p.pump();
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![], vec![prefix("10.1.0.0/16")])]
    );
    assert_eq!(p.b.advertised().count(), 1);
}

#[test]
fn prepends_and_many_prefixes_are_packed() {
    let mut c = cgw_config();
    c.as_path_prepend = 2;
    let mut p = Pair::new(c, aws_config());
    p.established();
    let many: Vec<LocalRoute> = (0..2000u32)
        .map(|i| {
            Ipv4Prefix::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24)
                .unwrap()
                .into()
        })
        .collect();
    p.a.advertise(p.now, &many);
    p.pump();
    let n_updates = p
        .a_sent
        .iter()
        .filter(|m| m.message_type() == MessageType::Update)
        .count();
    assert!(n_updates >= 2, "2000 prefixes do not fit one message");
    let total: usize = updates(&p.b_events).iter().map(|(a, _)| a.len()).sum();
    assert_eq!(total, 2000);
    let Some(Event::Update { announced, .. }) = p.b_events.first() else {
        panic!()
    };
    assert_eq!(announced[0].1.as_path, AsPath::from_sequence([CGW_ASN; 3]));
}

#[test]
fn keepalives_every_keepalive_interval() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    let start = p.now;
    assert_eq!(
        p.a.poll_timeout(),
        Some(start + Duration::from_secs(10)),
        "keepalive before hold"
    );
    p.run_for(100);
    let ka = |v: &[Message]| v.iter().filter(|m| **m == Message::Keepalive).count();
    assert_eq!(ka(&p.a_sent), 10, "one every 10 s for 100 s");
    assert_eq!(ka(&p.b_sent), 10);
    assert!(p.a.is_established() && p.b.is_established());
    assert!(down(&p.a_events).is_none());
}

#[test]
fn keepalive_interval_follows_negotiated_hold_time() {
    let mut b = aws_config();
    b.hold_time = 9;
    let mut p = Pair::new(cgw_config(), b);
    p.connect();
    let Some(Event::Established {
        hold_time,
        keepalive_time,
        ..
    }) = p.a_events.first()
    else {
        panic!()
    };
    assert_eq!(
        (*hold_time, *keepalive_time),
        (9, 3),
        "min of hold times, keepalive capped at hold/3"
    );

    // Hold time 0 on one side: no keepalives, no hold timer.
    let mut b = aws_config();
    b.hold_time = 0;
    let mut p = Pair::new(cgw_config(), b);
    p.established();
    assert_eq!(p.a.poll_timeout(), None);
    p.run_for(300);
    assert!(p.a_sent.is_empty() && p.a.is_established());
}

#[test]
fn hold_timer_expiry_sends_notification_and_goes_down() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    // The peer goes silent: run only our side, throw away what it would send.
    let mut sent = Vec::new();
    for s in 1..=30 {
        let now = p.now + Duration::from_secs(s);
        p.a.handle_timeout(now);
        while let Some(t) = p.a.poll_transmit() {
            sent.push(Message::decode(&t, &p.a.wire_options()).unwrap());
        }
    }
    assert_eq!(
        sent.last(),
        Some(&Message::Notification(NotificationMessage::new(4, 0))),
        "Hold Timer Expired"
    );
    let events: Vec<Event> = std::iter::from_fn(|| p.a.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            Event::Down {
                reason: DownReason::HoldTimerExpired,
                was_established: true
            },
            Event::Disconnect
        ]
    );
    assert_eq!(p.a.state(), State::Idle);
    // Fast recovery: it tries again ConnectRetryTime later.
    let t = p.now + Duration::from_secs(30);
    assert_eq!(p.a.poll_timeout(), Some(t + Duration::from_secs(5)));
    p.a.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(p.a.poll_event(), Some(Event::WantConnect));
    assert_eq!(p.a.state(), State::Connect);
}

#[test]
fn hold_timer_while_waiting_for_open() {
    let mut a = Session::new(cgw_config());
    let now = Instant::now();
    a.start(now);
    a.connected(now);
    assert_eq!(a.state(), State::OpenSent);
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(240)));
    a.handle_timeout(now + Duration::from_secs(240));
    assert_eq!(a.state(), State::Idle);
    let last = std::iter::from_fn(|| a.poll_transmit()).last().unwrap();
    assert_eq!(
        Message::decode(&last, &WireOptions::default()),
        Ok(Message::Notification(NotificationMessage::new(4, 0)))
    );
}

#[test]
fn notification_from_the_peer_goes_down_with_decoded_reason() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    p.b.stop(p.now);
    p.pump();
    let (reason, was_established) = down(&p.a_events).unwrap();
    assert!(was_established);
    let DownReason::NotificationReceived(n) = reason else {
        panic!("{reason:?}")
    };
    assert_eq!(n.to_string(), "Cease / Administrative Shutdown (6/2)");
    assert_eq!(
        reason.to_string(),
        "NOTIFICATION received: Cease / Administrative Shutdown (6/2)"
    );
    assert!(p.a_events.contains(&Event::Disconnect));
    // The stopped side stays down; ours restarts.
    assert_eq!(
        down(&p.b_events).unwrap().0,
        &DownReason::AdministrativeStop
    );
    assert_eq!(p.b.poll_timeout(), None);
    assert_eq!(p.b.state(), State::Idle);
    assert!(p.a.poll_timeout().is_some());
}

#[test]
fn wrong_peer_as_is_refused() {
    let mut b = aws_config();
    b.peer_asn = 65099;
    let mut p = Pair::new(cgw_config(), b);
    p.connect();
    let (reason, was_established) = down(&p.b_events).unwrap();
    assert!(!was_established);
    let DownReason::NotificationSent {
        notification,
        detail,
    } = reason
    else {
        panic!("{reason:?}")
    };
    assert_eq!(
        notification.to_string(),
        "OPEN Message Error / Bad Peer AS (2/2)"
    );
    assert_eq!(detail, "the peer is AS 65001, configured AS 65099");
    let DownReason::NotificationReceived(n) = down(&p.a_events).unwrap().0 else {
        panic!()
    };
    assert_eq!((n.error_code, n.error_subcode), (2, 2));
    assert!(!p.a.is_established() && !p.b.is_established());
}

#[test]
fn unacceptable_hold_time_and_bad_identifier() {
    for (hold, id, subcode) in [
        (1u16, AWS_ID, open_error::UNACCEPTABLE_HOLD_TIME),
        (2, AWS_ID, open_error::UNACCEPTABLE_HOLD_TIME),
        (30, Ipv4Addr::UNSPECIFIED, open_error::BAD_BGP_IDENTIFIER),
    ] {
        let now = Instant::now();
        let mut a = Session::new(cgw_config());
        a.start(now);
        a.connected(now);
        while a.poll_transmit().is_some() {}
        let open = OpenMessage::new(
            AWS_ASN,
            hold,
            id,
            vec![Capability::FourOctetAs { asn: AWS_ASN }],
        );
        a.handle_bytes(
            now,
            &Message::Open(open).encode(&WireOptions::default()).unwrap(),
        );
        let sent = a.poll_transmit().unwrap();
        assert_eq!(
            Message::decode(&sent, &WireOptions::default()),
            Ok(Message::Notification(NotificationMessage::new(2, subcode)))
        );
        assert_eq!(a.state(), State::Idle);
    }
}

#[test]
fn connect_retry_after_failure() {
    let now = Instant::now();
    let mut a = Session::new(cgw_config());
    a.start(now);
    assert_eq!(a.poll_event(), Some(Event::WantConnect));
    // The SYN goes unanswered: ConnectRetry fires, the driver retries.
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(5)));
    a.handle_timeout(now + Duration::from_secs(5));
    assert_eq!(a.poll_event(), Some(Event::WantConnect));
    assert_eq!(a.state(), State::Connect);
    // Refused: Active, next attempt ConnectRetryTime after the failure.
    let t = now + Duration::from_secs(6);
    a.connection_failed(t);
    assert_eq!(a.state(), State::Active);
    assert_eq!(a.poll_event(), None);
    assert_eq!(a.poll_timeout(), Some(t + Duration::from_secs(5)));
    a.handle_timeout(t + Duration::from_secs(4));
    assert_eq!(a.poll_event(), None);
    a.handle_timeout(t + Duration::from_secs(5));
    assert_eq!(a.poll_event(), Some(Event::WantConnect));
    assert_eq!(a.state(), State::Connect);
    // Configurable.
    let mut c = cgw_config();
    c.connect_retry_time = Duration::from_secs(1);
    let mut a = Session::new(c);
    a.start(now);
    assert_eq!(a.poll_timeout(), Some(now + Duration::from_secs(1)));
}

#[test]
fn connection_closed_by_peer() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    p.a.closed(p.now);
    p.collect();
    assert_eq!(
        p.a_events,
        vec![Event::Down {
            reason: DownReason::ConnectionClosed,
            was_established: true
        }],
        "no Disconnect: the driver already knows"
    );
    assert_eq!(p.a.state(), State::Idle);
}

#[test]
fn unexpected_message_is_an_fsm_error() {
    let now = Instant::now();
    let mut a = Session::new(cgw_config());
    a.start(now);
    assert_eq!(a.poll_event(), Some(Event::WantConnect));
    a.connected(now);
    while a.poll_transmit().is_some() {}
    a.handle_bytes(
        now,
        &Message::Keepalive.encode(&WireOptions::default()).unwrap(),
    );
    let sent = a.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&sent, &WireOptions::default()),
        Ok(Message::Notification(NotificationMessage::new(5, 1)))
    );
    let Some(Event::Down { reason, .. }) = a.poll_event() else {
        panic!()
    };
    assert_eq!(
        reason.to_string(),
        "finite state machine error: unexpected KEEPALIVE in OpenSent"
    );
}

#[test]
fn malformed_update_is_treat_as_withdraw_and_session_stays_up() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    // An UPDATE whose ORIGIN is 5.
    let mut m = vec![0xffu8; 16];
    let attrs: &[u8] = &[
        0x40, 1, 1, 5, 0x40, 2, 6, 2, 1, 0, 0, 0xfc, 0x00, 0x40, 3, 4, 169, 254, 10, 1,
    ];
    let nlri: &[u8] = &[16, 10, 0];
    m.extend_from_slice(&((19 + 4 + attrs.len() + nlri.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0, 0, attrs.len() as u8]);
    m.extend_from_slice(attrs);
    m.extend_from_slice(nlri);
    p.a.handle_bytes(p.now, &m);
    p.collect();
    assert!(p.a.is_established());
    assert!(
        matches!(&p.a_events[0], Event::UpdateErrors(e) if e[0].problem == AttributeProblem::InvalidOrigin(5))
    );
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![], vec![prefix("10.0.0.0/16")])]
    );
    assert_eq!(p.a.stats().malformed_updates, 1);
    assert!(p.a.poll_transmit().is_none(), "no NOTIFICATION");

    // A NLRI prefix length of 40 cannot be handled that way: session reset.
    let mut m2 = m.clone();
    let n = m2.len();
    m2[n - 3] = 40;
    p.a.handle_bytes(p.now, &m2);
    p.collect();
    assert_eq!(p.a.state(), State::Idle);
    let sent = p.a.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&sent, &WireOptions::default()),
        Ok(Message::Notification(NotificationMessage::new(3, 10)))
    );
}

#[test]
fn routes_with_our_as_or_wrong_first_as_are_withdrawn() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    let send = |p: &mut Pair, path: AsPath| {
        let attrs = PathAttributes::new(Origin::Igp, path, AWS_ADDR);
        let m = Message::Update(UpdateMessage {
            path_attributes: Some(attrs),
            nlri: vec![prefix("10.0.0.0/16")],
            ..UpdateMessage::default()
        });
        let wire = m.encode(&p.a.wire_options()).unwrap();
        p.a.handle_bytes(p.now, &wire);
        p.collect();
    };
    send(&mut p, AsPath::from_sequence([AWS_ASN, CGW_ASN]));
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![], vec![prefix("10.0.0.0/16")])]
    );
    assert_eq!(p.a.stats().looped_prefixes, 1);
    p.a_events.clear();
    send(&mut p, AsPath::from_sequence([7224]));
    assert!(
        matches!(&p.a_events[0], Event::UpdateErrors(e) if e[0].problem == AttributeProblem::MalformedAsPath)
    );
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![], vec![prefix("10.0.0.0/16")])]
    );
    p.a_events.clear();
    send(&mut p, AsPath::from_sequence([AWS_ASN, 7224]));
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![prefix("10.0.0.0/16")], vec![])]
    );
    assert!(p.a.is_established());
}

#[test]
fn route_refresh_resends_the_peers_routes() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.b.advertise(p.now, &[prefix("10.0.0.0/16").into()]);
    p.established();
    p.a.request_refresh().unwrap();
    p.pump();
    assert_eq!(
        p.a_sent,
        vec![Message::RouteRefresh(RouteRefreshMessage::ipv4_unicast())]
    );
    assert_eq!(
        updates(&p.a_events),
        vec![(vec![prefix("10.0.0.0/16")], vec![])]
    );

    // Not negotiated: refused locally.
    let mut b = aws_config();
    b.route_refresh = false;
    let mut p = Pair::new(cgw_config(), b);
    p.established();
    assert_eq!(
        p.a.request_refresh(),
        Err(SessionError::RouteRefreshNotNegotiated)
    );
    let mut idle = Session::new(cgw_config());
    assert_eq!(idle.request_refresh(), Err(SessionError::NotEstablished));
}

#[test]
fn two_octet_peer_gets_as_trans_and_as4_path() {
    let mut a = cgw_config();
    a.local_asn = 4_200_000_001;
    let mut b = aws_config();
    b.peer_asn = 4_200_000_001;
    b.four_octet_as = false;
    let mut p = Pair::new(a, b);
    p.a.advertise(p.now, &[prefix("192.168.0.0/16").into()]);
    p.connect();
    let Message::Open(open) = &p.a_sent[0] else {
        panic!()
    };
    assert_eq!(open.my_as, AS_TRANS as u16);
    assert!(matches!(
        p.a_events[0],
        Event::Established {
            four_octet_as: false,
            ..
        }
    ));
    let Some(Event::Update { announced, .. }) = p
        .b_events
        .iter()
        .find(|e| matches!(e, Event::Update { .. }))
    else {
        panic!("{:?}", p.b_events)
    };
    assert_eq!(
        announced[0].1.as_path,
        AsPath::from_sequence([4_200_000_001])
    );
}

#[test]
fn stop_sends_cease_and_stays_idle() {
    let mut p = Pair::new(cgw_config(), aws_config());
    p.established();
    p.a.stop(p.now);
    let sent = p.a.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&sent, &p.a.wire_options()),
        Ok(Message::Notification(NotificationMessage::new(6, 2)))
    );
    assert_eq!(
        p.a.poll_event(),
        Some(Event::Down {
            reason: DownReason::AdministrativeStop,
            was_established: true
        })
    );
    assert_eq!(p.a.poll_event(), Some(Event::Disconnect));
    assert_eq!(p.a.poll_timeout(), None, "no restart after a manual stop");
    assert_eq!(p.a.state(), State::Idle);
    assert!(!p.a.accept(p.now), "a stopped session refuses connections");
    p.a.start(p.now);
    assert_eq!(p.a.poll_event(), Some(Event::WantConnect));
}

// ---------------------------------------------------------------- collisions

#[test]
fn resolve_collision_by_bgp_identifier() {
    let lo = Ipv4Addr::new(10, 0, 0, 1);
    let hi = Ipv4Addr::new(10, 0, 0, 2);
    // The connection opened by the speaker with the higher identifier survives.
    assert_eq!(resolve_collision(lo, hi), Keep::New);
    assert_eq!(resolve_collision(hi, lo), Keep::Existing);
    // Compared as unsigned integers, not bytewise strings.
    assert_eq!(
        resolve_collision(Ipv4Addr::new(9, 255, 255, 255), Ipv4Addr::new(10, 0, 0, 0)),
        Keep::New
    );
    assert_eq!(resolve_collision(lo, lo), Keep::Existing);
}

/// One speaker as a driver sees it: its own outgoing session and possibly an incoming one.
struct Speaker {
    id: Ipv4Addr,
    main: Session,
    incoming: Option<Session>,
    events: Vec<(&'static str, Event)>,
}

impl Speaker {
    /// The driver's collision logic: once the incoming session knows the peer's identifier,
    /// keep one of the two.
    fn resolve(&mut self, now: Instant) -> Option<Keep> {
        let remote = self.incoming.as_ref()?.remote_id()?;
        // An Established session always wins (RFC 4271 6.8).
        let keep = if self.main.is_established() {
            Keep::Existing
        } else {
            resolve_collision(self.id, remote)
        };
        let mut incoming = self.incoming.take()?;
        match keep {
            Keep::Existing => incoming.close_for_collision(now),
            Keep::New => {
                self.main.close_for_collision(now);
                std::mem::swap(&mut self.main, &mut incoming);
            }
        }
        // Drain the loser (its NOTIFICATION goes out on its own connection).
        while let Some(e) = incoming.poll_event() {
            self.events.push(("loser", e));
        }
        Some(keep)
    }
}

#[test]
fn simultaneous_connections_collide_and_the_higher_identifier_wins() {
    let now = Instant::now();
    let mut x = Speaker {
        id: CGW_ID,
        main: Session::new(cgw_config()),
        incoming: None,
        events: Vec::new(),
    };
    let mut y_cfg = aws_config();
    y_cfg.passive = false;
    let mut y = Speaker {
        id: AWS_ID,
        main: Session::new(y_cfg.clone()),
        incoming: None,
        events: Vec::new(),
    };
    // Both connect at once: conn1 = x.main -> y, conn2 = y.main -> x.
    x.main.start(now);
    y.main.start(now);
    assert!(x.main.connected(now));
    assert!(y.main.connected(now));
    // Each accepts the other's connection while its own is in OpenSent: a second session.
    assert_eq!(x.main.state(), State::OpenSent);
    assert!(
        !x.main.accept(now),
        "the busy session refuses; the driver makes another"
    );
    let mut xi = Session::new(cgw_config());
    assert!(xi.accept(now));
    x.incoming = Some(xi);
    let mut yi = Session::new(y_cfg);
    assert!(yi.accept(now));
    y.incoming = Some(yi);

    // conn1: x.main <-> y.incoming; conn2: y.main <-> x.incoming. One message at a time in
    // each direction, and the driver's collision check after every step.
    fn deliver(from: &mut Session, to: Option<&mut Session>, now: Instant) {
        if let (Some(to), Some(t)) = (to, from.poll_transmit()) {
            to.handle_bytes(now, &t);
        }
    }
    let mut resolved = (None, None);
    for _ in 0..20 {
        if resolved.0.is_none() || resolved.1.is_none() {
            // Before resolution: the losers' queues still lead somewhere.
            deliver(&mut x.main, y.incoming.as_mut(), now);
            if let Some(yi) = y.incoming.as_mut() {
                deliver(yi, Some(&mut x.main), now);
            }
            deliver(&mut y.main, x.incoming.as_mut(), now);
            if let Some(xi) = x.incoming.as_mut() {
                deliver(xi, Some(&mut y.main), now);
            }
        } else {
            // After: the survivors share conn2, x.main (was x's incoming) <-> y.main.
            deliver(&mut x.main, Some(&mut y.main), now);
            deliver(&mut y.main, Some(&mut x.main), now);
        }
        if resolved.0.is_none() {
            resolved.0 = x.resolve(now);
        }
        if resolved.1.is_none() {
            resolved.1 = y.resolve(now);
        }
        for s in [&mut x, &mut y] {
            while let Some(e) = s.main.poll_event() {
                s.events.push(("main", e));
            }
        }
    }
    // x (192.0.2.1) < y (203.0.113.1): y's connection survives on both sides.
    assert_eq!(resolved, (Some(Keep::New), Some(Keep::Existing)));
    assert!(x.main.is_established(), "{:?}", x.events);
    assert!(y.main.is_established(), "{:?}", y.events);
    assert!(x.events.iter().any(|(_, e)| matches!(
        e,
        Event::Down {
            reason: DownReason::CollisionResolution,
            ..
        }
    )));
    let established = |s: &Speaker| {
        s.events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Established { .. }))
            .count()
    };
    assert_eq!(established(&x), 1);
    assert_eq!(established(&y), 1);
}
