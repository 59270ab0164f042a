//! Hostile input on the IKE side (issue 12), in memory: IKE_SA_INIT requests that parse but
//! break RFC 7296 are refused with INVALID_SYNTAX and leave no state; an unauthenticated
//! error answer cannot abort our IKE_SA_INIT while a genuine answer is on its way.

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
            Payload::Notify(Notify::new(NotifyType::COOKIE, vec![7; 60_000])),
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
            "60 KB cookie",
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
