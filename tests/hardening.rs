//! Hostile input on the IKE side (issue 12), in memory: IKE_SA_INIT requests that parse but
//! break RFC 7296 are refused with INVALID_SYNTAX and leave no state; an unauthenticated
//! error answer cannot abort our IKE_SA_INIT while a genuine answer is on its way; a flood of
//! IKE_SA_INIT from the peer's own address is answered with cookies, capped and rate-limited,
//! and the real peer still gets through.

use cgw_ike::{Config, Connection, Event, IkeError};
use cgw_tests::Pair;
use cgw_wire::{ExchangeType, Flags, IkeHeader, Message, Notify, NotifyType, Payload, PayloadType};
use std::time::{Duration, Instant};

const PSK: &str = "Hardening.Test_Key-0123456789";

fn engine(c: Config) -> Connection {
    Connection::new(c, Box::new(cgw_crypto::SystemRandom::new()))
}

/// Emits a message: header fields from `h`, these payloads, then `tail` (raw payload bytes
/// chained after the last one, of type `tail_type`).
fn emit(h: IkeHeader, payloads: &[Payload], tail_type: PayloadType, tail: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    let first = cgw_wire::emit_payload_chain(payloads, tail_type, &mut body);
    body.extend_from_slice(tail);
    let mut h = h;
    h.next_payload = first;
    h.length = (cgw_wire::IKE_HEADER_LEN + body.len()) as u32;
    let mut out = Vec::new();
    h.emit(&mut out);
    out.extend_from_slice(&body);
    out
}

/// Each malformed IKE_SA_INIT request (built from a real one) is answered with a stateless
/// INVALID_SYNTAX, creates no half-open IKE SA, and is counted.
#[test]
fn lenient_ike_sa_init_requests_are_refused_with_invalid_syntax() {
    let (a, b) = Pair::configs(PSK);
    let mut a = engine(a);
    let now = Instant::now();
    a.initiate(now);
    let t = a.poll_transmit().unwrap();
    let m = Message::parse(&t.contents).unwrap();
    let sk = {
        // A generic payload header (next NONE, length 4 + 20) and 20 bytes of "ciphertext".
        let mut v = vec![0u8, 0, 0, 24];
        v.extend_from_slice(&[0x5a; 20]);
        v
    };
    let with_spi = {
        let mut ps = m.payloads.clone();
        for p in &mut ps {
            if let Payload::Sa(sa) = p {
                sa.proposals[0].spi = vec![0xab; 255];
            }
        }
        ps
    };
    let two_ke = {
        let mut ps = m.payloads.clone();
        let ke = ps
            .iter()
            .find(|p| matches!(p, Payload::Ke(_)))
            .unwrap()
            .clone();
        ps.push(ke);
        ps
    };
    let big_cookie = {
        let mut ps = m.payloads.clone();
        ps.insert(
            0,
            Payload::Notify(Notify::new(NotifyType::COOKIE, vec![7; 600])),
        );
        ps
    };
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "SK payload",
            emit(m.header, &m.payloads, PayloadType::SK, &sk),
        ),
        (
            "255-byte SPI",
            emit(m.header, &with_spi, PayloadType::NONE, &[]),
        ),
        ("two KE", emit(m.header, &two_ke, PayloadType::NONE, &[])),
        (
            "600-byte cookie",
            emit(m.header, &big_cookie, PayloadType::NONE, &[]),
        ),
    ];
    // The untouched request is accepted (the cases differ from it only by the fault).
    let mut fresh = engine(b.clone());
    fresh.handle_datagram(now, t.remote, t.local, &t.contents);
    let ok = Message::parse(&fresh.poll_transmit().unwrap().contents).unwrap();
    assert!(ok.notify(NotifyType::INVALID_SYNTAX).is_none());
    assert_eq!(fresh.half_open_count(), 1);
    for (i, (what, datagram)) in cases.iter().enumerate() {
        let mut b = engine(b.clone());
        b.handle_datagram(now, t.remote, t.local, datagram);
        let r = b
            .poll_transmit()
            .unwrap_or_else(|| panic!("{what}: no answer"));
        let r = Message::parse(&r.contents).unwrap();
        assert!(
            r.notify(NotifyType::INVALID_SYNTAX).is_some(),
            "{what}: {:?}",
            r.payloads
        );
        assert_eq!(r.payloads.len(), 1, "{what}: only the notify");
        assert_eq!(b.half_open_count(), 0, "{what}: no state kept");
        assert_eq!(b.stats().init_requests_invalid, 1, "case {i}: {what}");
    }
}

/// Our IKE_SA_INIT request, then a forged NO_PROPOSAL_CHOSEN from an on-path attacker, then
/// the genuine answer: the IKE SA comes up. Without a genuine answer the refusal is
/// reported once the 2 s grace is over, not before.
#[test]
fn a_forged_refusal_does_not_abort_ike_sa_init() {
    let forged = |req: &Message| {
        let h = IkeHeader {
            spi_i: req.header.spi_i,
            spi_r: [0; 8],
            next_payload: PayloadType::NONE,
            version: 0x20,
            exchange: ExchangeType::IKE_SA_INIT,
            flags: Flags::new(false, true),
            message_id: 0,
            length: 0,
        };
        emit(
            h,
            &[Payload::Notify(Notify::new(
                NotifyType::NO_PROPOSAL_CHOSEN,
                vec![],
            ))],
            PayloadType::NONE,
            &[],
        )
    };
    let failures = |a: &mut Connection| {
        let mut v = Vec::new();
        while let Some(e) = a.poll_event() {
            if let Event::IkeSaFailed { error, .. } = e {
                v.push(error);
            }
        }
        v
    };
    // 1. The genuine answer follows the forgery.
    let (a_cfg, b_cfg) = Pair::configs(PSK);
    let (mut a, mut b) = (engine(a_cfg.clone()), engine(b_cfg));
    let now = Instant::now();
    a.initiate(now);
    let t = a.poll_transmit().unwrap();
    let req = Message::parse(&t.contents).unwrap();
    a.handle_datagram(now, t.local, t.remote, &forged(&req));
    assert!(failures(&mut a).is_empty(), "not acted on at once");
    b.handle_datagram(now, t.remote, t.local, &t.contents);
    let mut established = false;
    for _ in 0..10 {
        while let Some(x) = b.poll_transmit() {
            a.handle_datagram(now, x.remote, x.local, &x.contents);
        }
        while let Some(x) = a.poll_transmit() {
            b.handle_datagram(now, x.remote, x.local, &x.contents);
        }
        while let Some(e) = a.poll_event() {
            established |= matches!(e, Event::ChildSaEstablished(_));
            assert!(!matches!(e, Event::IkeSaFailed { .. }), "{e:?}");
        }
    }
    assert!(established && a.is_established());

    // 2. Only the refusal: reported at the end of the grace.
    let mut a = engine(a_cfg);
    a.initiate(now);
    let t = a.poll_transmit().unwrap();
    let req = Message::parse(&t.contents).unwrap();
    a.handle_datagram(now, t.local, t.remote, &forged(&req));
    let deadline = a.poll_timeout().expect("a timer runs");
    assert!(
        deadline <= now + Duration::from_secs(2),
        "{:?}",
        deadline - now
    );
    let mut at = now;
    while at < now + Duration::from_millis(1999) {
        at = a
            .poll_timeout()
            .unwrap()
            .min(now + Duration::from_millis(1999));
        a.handle_timeout(at);
        assert!(
            failures(&mut a).is_empty(),
            "reported before the grace ended"
        );
        if at == now + Duration::from_millis(1999) {
            break;
        }
    }
    a.handle_timeout(now + Duration::from_secs(2));
    let f = failures(&mut a);
    assert!(
        matches!(f.as_slice(), [IkeError::NoProposalChosenByPeer { .. }]),
        "{f:?}"
    );
}

/// A real initiator's first IKE_SA_INIT request (to B), and B's configuration.
fn first_request() -> (cgw_ike::Transmit, Config) {
    let (a, b) = Pair::configs(PSK);
    let mut a = engine(a);
    a.initiate(Instant::now());
    (a.poll_transmit().unwrap(), b)
}

/// `request` as another initiator would send it: its own SPIi (and so its own exchange).
fn with_spi(request: &[u8], n: u32) -> Vec<u8> {
    let mut d = request.to_vec();
    d[0..4].copy_from_slice(&n.to_be_bytes());
    d[4..8].copy_from_slice(&[0xf1, 0x00, 0xd0, 0x01]);
    d
}

/// What B answered last, if anything.
fn answers(b: &mut Connection) -> Vec<Message> {
    std::iter::from_fn(|| b.poll_transmit())
        .map(|t| Message::parse(&t.contents).unwrap())
        .collect()
}

/// 10,000 IKE_SA_INIT requests from the peer's address (an attacker spoofing it cannot see
/// the answers): two become half-open SAs, every other one gets a stateless COOKIE answer,
/// so B does two Diffie-Hellman computations, not ten thousand; then the real peer, through
/// the same flood, returns its cookie and the IKE SA and Child SA come up.
#[test]
fn a_flood_from_the_peers_address_gets_cookies_and_the_real_peer_gets_through() {
    let (t, b_cfg) = first_request();
    let (a_cfg, _) = Pair::configs(PSK);
    let mut p = Pair::new(a_cfg, b_cfg, 41);
    let flood = |p: &mut Pair, from: u32, n: u32| {
        for i in from..from + n {
            let d = with_spi(&t.contents, i);
            p.b.handle_datagram(p.now, t.remote, t.local, &d);
            // What B sends to the spoofed address never reaches the attacker.
            while p.b.poll_transmit().is_some() {}
        }
    };
    flood(&mut p, 0, 5_000);
    let s = p.b.stats();
    assert_eq!(p.b.half_open_count(), 2, "the cookie threshold");
    assert_eq!(s.cookies_sent, 4_998);
    assert_eq!(
        s.init_requests_rate_limited + s.init_requests_over_half_open_cap,
        0
    );
    // The real peer starts while the flood goes on (the flood is fed between its steps).
    p.a.initiate(p.now);
    for round in 0..400 {
        // B's answers to the real peer go on the wire first; then more of the flood.
        p.flush();
        flood(&mut p, 5_000 + round * 25, 25);
        p.step();
        if p.a.is_established() && p.b.is_established() {
            break;
        }
    }
    assert!(
        p.a.is_established() && p.b.is_established(),
        "the real peer got through"
    );
    assert_eq!(cgw_tests::child_sas(&p.a_events).len(), 1);
    let retried = p
        .wire_log
        .iter()
        .filter(|(side, _, _, c)| {
            *side == cgw_tests::Side::A && c[18] == ExchangeType::IKE_SA_INIT.0
        })
        .count();
    assert_eq!(retried, 2, "one request, one retry with the cookie");
    assert!(
        p.b.stats().cookies_sent > 4_998,
        "the real peer got a cookie too"
    );
    // The flood's two half-open SAs (and nothing else) expire after 30 s.
    assert!(p.b.half_open_count() <= 2);
    p.now += Duration::from_secs(31);
    p.b.handle_timeout(p.now);
    assert_eq!(p.b.half_open_count(), 0);
}

/// An attacker who does see the answers (on the path) and returns every cookie still gets at
/// most `new_sas_burst` SAs at once and `new_sas_per_second` after that, and never more than
/// `max_half_open` half-open SAs.
#[test]
fn requests_that_return_cookies_are_rate_limited_and_capped() {
    let (t, mut b_cfg) = first_request();
    b_cfg.responder = cgw_ike::ResponderLimits {
        cookie_threshold: 0,
        max_half_open: 32,
        new_sas_per_second: 10,
        new_sas_burst: 20,
        ..Default::default()
    };
    let mut b = engine(b_cfg);
    let mut now = Instant::now();
    let send = |b: &mut Connection, now: Instant, i: u32| {
        let d = with_spi(&t.contents, i);
        b.handle_datagram(now, t.remote, t.local, &d);
        let a = answers(b);
        let Some(cookie) = a
            .first()
            .and_then(|m| m.notify(NotifyType::COOKIE))
            .map(|n| n.data.clone())
        else {
            return;
        };
        // Retried with the cookie first, as RFC 7296 2.6 asks.
        let m = Message::parse(&d).unwrap();
        let mut ps = vec![Payload::Notify(Notify::new(NotifyType::COOKIE, cookie))];
        ps.extend(m.payloads.iter().cloned());
        let retry = emit(m.header, &ps, PayloadType::NONE, &[]);
        b.handle_datagram(now, t.remote, t.local, &retry);
        answers(b);
    };
    for i in 0..100 {
        send(&mut b, now, i);
    }
    assert_eq!(b.half_open_count(), 20, "the burst");
    assert_eq!(b.stats().init_requests_rate_limited, 80);
    assert_eq!(b.stats().cookies_sent, 100);
    // One second: ten more; two more seconds: the cap of 32.
    for s in 1..=3u32 {
        now += Duration::from_secs(1);
        for i in 0..100 {
            send(&mut b, now, 1000 * s + i);
        }
    }
    assert_eq!(b.half_open_count(), 32, "the half-open cap");
    assert!(b.stats().init_requests_over_half_open_cap > 0);
    // Expired half-open SAs free their places.
    now += Duration::from_secs(31);
    b.handle_timeout(now);
    assert_eq!(b.half_open_count(), 0);
    send(&mut b, now, 9_999);
    assert_eq!(b.half_open_count(), 1);
}

/// A cookie stays good across one secret rotation (a rotation between the COOKIE answer and
/// the retried request costs the peer nothing) and not across two; a cookie for another
/// request, or altered, is answered with a fresh COOKIE and creates nothing.
#[test]
fn cookies_survive_one_rotation_and_are_bound_to_their_request() {
    let (t, mut b_cfg) = first_request();
    b_cfg.responder.cookie_threshold = 0;
    let mut b = engine(b_cfg);
    let now = Instant::now();
    let request = |i: u32, cookie: Option<Vec<u8>>| {
        let d = with_spi(&t.contents, i);
        let m = Message::parse(&d).unwrap();
        let mut ps = Vec::new();
        if let Some(c) = cookie {
            ps.push(Payload::Notify(Notify::new(NotifyType::COOKIE, c)));
        }
        ps.extend(m.payloads.iter().cloned());
        emit(m.header, &ps, PayloadType::NONE, &[])
    };
    let cookie_for = |b: &mut Connection, now: Instant, i: u32| {
        b.handle_datagram(now, t.remote, t.local, &request(i, None));
        answers(b)[0]
            .notify(NotifyType::COOKIE)
            .unwrap()
            .data
            .clone()
    };
    let c1 = cookie_for(&mut b, now, 1);
    let c2 = cookie_for(&mut b, now, 2);
    let c3 = cookie_for(&mut b, now, 3);
    assert_ne!(c1, c2, "bound to the request");
    // Request 2 with request 1's cookie, and an altered cookie: a new COOKIE, no state.
    let mut altered = c3.clone();
    altered[5] ^= 0x40;
    for d in [request(2, Some(c1.clone())), request(3, Some(altered))] {
        b.handle_datagram(now, t.remote, t.local, &d);
        assert!(answers(&mut b)[0].notify(NotifyType::COOKIE).is_some());
    }
    assert_eq!(b.half_open_count(), 0);
    // One rotation later, request 1's cookie is still taken.
    let later = now + cgw_ike::COOKIE_SECRET_LIFETIME;
    let _ = cookie_for(&mut b, later, 50); // the rotation happens on use
    b.handle_datagram(later, t.remote, t.local, &request(1, Some(c1)));
    let a = answers(&mut b);
    assert!(
        a[0].payloads.iter().any(|p| matches!(p, Payload::Ke(_))),
        "{:?}",
        a[0].payloads
    );
    assert_eq!(b.half_open_count(), 1);
    // Two rotations later, request 2's is not.
    let much_later = later + cgw_ike::COOKIE_SECRET_LIFETIME;
    let _ = cookie_for(&mut b, much_later, 51);
    b.handle_datagram(much_later, t.remote, t.local, &request(2, Some(c2)));
    assert!(answers(&mut b)[0].notify(NotifyType::COOKIE).is_some());
}

/// A request larger than any real one is dropped unanswered and counted (a responder keeps
/// the request until IKE_AUTH, so this bounds what a half-open SA holds).
#[test]
fn an_oversized_ike_sa_init_request_is_dropped() {
    let (t, b_cfg) = first_request();
    let mut b = engine(b_cfg);
    let m = Message::parse(&t.contents).unwrap();
    let mut ps = m.payloads.clone();
    ps.push(Payload::Notify(Notify::new(
        NotifyType(40_000),
        vec![0; 9_000],
    )));
    let big = emit(m.header, &ps, PayloadType::NONE, &[]);
    b.handle_datagram(Instant::now(), t.remote, t.local, &big);
    assert!(b.poll_transmit().is_none());
    assert_eq!(b.half_open_count(), 0);
    assert_eq!(b.stats().init_requests_too_large, 1);
    // The same request without the padding is answered.
    b.handle_datagram(Instant::now(), t.remote, t.local, &t.contents);
    assert!(b.poll_transmit().is_some());
    assert_eq!(b.half_open_count(), 1);
}

/// Requests whose KE value is not a point of the group fail after the responder's DH and
/// leave no half-open SA, so the half-open count alone would never call for cookies: half
/// the new-SA budget spent does too, and the rest of the flood gets cookies instead of DHs.
#[test]
fn a_flood_that_fails_after_the_dh_gets_cookies_too() {
    let (t, b_cfg) = first_request();
    let mut b = engine(b_cfg);
    let m = Message::parse(&t.contents).unwrap();
    let mut ps = m.payloads.clone();
    for p in &mut ps {
        if let Payload::Ke(ke) = p {
            ke.data.iter_mut().for_each(|x| *x = 0xff);
        }
    }
    let bad = emit(m.header, &ps, PayloadType::NONE, &[]);
    let now = Instant::now();
    for i in 0..1_000 {
        b.handle_datagram(now, t.remote, t.local, &with_spi(&bad, i));
        answers(&mut b);
    }
    let s = b.stats();
    assert_eq!(b.half_open_count(), 0);
    // A burst of 20 tokens; cookies from the moment fewer than 10 are left.
    assert_eq!(s.init_requests_invalid, 11, "DH computations done");
    assert_eq!(s.cookies_sent, 1_000 - 11);
    // Two seconds later the budget is back above half: a genuine request is answered.
    let later = now + Duration::from_secs(2);
    b.handle_datagram(later, t.remote, t.local, &t.contents);
    let a = answers(&mut b);
    assert!(
        a[0].payloads.iter().any(|p| matches!(p, Payload::Ke(_))),
        "{:?}",
        a[0].payloads
    );
}
