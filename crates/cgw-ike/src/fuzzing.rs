//! Entry points shared by the fuzz targets and the corpus replay test.

use crate::{Config, Connection, EspProposal, IkeProposal};
use cgw_crypto::DeterministicRandom;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Decodes arbitrary bytes as an IKE message and, if that works, re-encodes its payloads.
pub fn decode_message(data: &[u8]) {
    if let Ok(m) = cgw_wire::Message::parse(data) {
        let mut out = Vec::new();
        cgw_wire::emit_payload_chain(&m.payloads, cgw_wire::PayloadType::NONE, &mut out);
        if let Some(e) = m.encrypted {
            let _ = cgw_wire::parse_payload_chain(
                e.first_inner,
                data.get(e.body_start..).unwrap_or(&[]),
            );
        }
    }
    let _ = cgw_wire::parse_payload_chain(
        cgw_wire::PayloadType(data.first().copied().unwrap_or(0)),
        data.get(1..).unwrap_or(&[]),
    );
}

fn addrs() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)),
    )
}

fn connection(l: IpAddr, r: IpAddr, seed: u64) -> Connection {
    let mut c = Config::new(l, r, b"fuzzing-psk".to_vec());
    c.ike_proposals = vec![IkeProposal::suite_b_gcm_128()];
    c.esp_proposals = vec![EspProposal::suite_b_gcm_128()];
    Connection::new(c, Box::new(DeterministicRandom::new(seed)))
}

/// Runs two engines to establishment and returns every datagram they exchanged
/// (IKE_SA_INIT, IKE_AUTH, then a liveness check and a Delete), as seeds for the corpus.
/// The engines are the ones [`engine`] builds, so these seeds reach its deepest states.
pub fn seed_datagrams() -> Vec<Vec<u8>> {
    let (a, b) = addrs();
    let now = Instant::now();
    let mut i = connection(a, b, 3);
    let mut r = connection(b, a, 4);
    let mut out = Vec::new();
    i.initiate(now);
    let pump = |i: &mut Connection, r: &mut Connection, out: &mut Vec<Vec<u8>>| {
        for _ in 0..8 {
            while let Some(t) = i.poll_transmit() {
                out.push(t.contents.clone());
                r.handle_datagram(now, t.remote, t.local, &t.contents);
            }
            while let Some(t) = r.poll_transmit() {
                out.push(t.contents.clone());
                i.handle_datagram(now, t.remote, t.local, &t.contents);
            }
        }
    };
    pump(&mut i, &mut r, &mut out);
    i.send_liveness_check(now);
    pump(&mut i, &mut r, &mut out);
    r.close(now);
    pump(&mut i, &mut r, &mut out);
    out
}

/// Feeds arbitrary datagrams to engines in every state: a fresh responder, an initiator
/// waiting for IKE_SA_INIT, and a pair that has established an IKE SA. `data` is split into
/// datagrams at 0xFE 0xFE markers so one input can carry several.
pub fn engine(data: &[u8]) {
    let (a, b) = addrs();
    let mk = connection;
    let now = Instant::now();
    let la = SocketAddr::new(a, 500);
    let lb = SocketAddr::new(b, 500);
    let mut responder = mk(b, a, 1);
    let mut initiator = mk(a, b, 2);
    initiator.initiate(now);
    let (mut i2, mut r2) = established(now);
    for (n, d) in std::iter::once(data).chain(split_marker(data)).enumerate() {
        let t = now + Duration::from_millis(n as u64 * 500);
        responder.handle_datagram(t, lb, la, d);
        initiator.handle_datagram(t, la, lb, d);
        i2.handle_datagram(t, la, lb, d);
        r2.handle_datagram(t, lb, la, d);
        for c in [&mut responder, &mut initiator, &mut i2, &mut r2] {
            c.handle_timeout(t);
            while c.poll_transmit().is_some() {}
            while c.poll_event().is_some() {}
        }
    }
}

/// `data` split at 0xFE 0xFE markers (the fuzz targets' way to carry several datagrams).
pub fn split_marker(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.windows(2).position(|w| w == [0xFE, 0xFE]) {
            Some(p) => {
                let (a, b) = rest.split_at(p);
                rest = &b[2..];
                Some(a)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

/// An established pair (initiator, responder) as [`engine`] builds it.
fn established(now: Instant) -> (Connection, Connection) {
    let (a, b) = addrs();
    let mut i = connection(a, b, 3);
    let mut r = connection(b, a, 4);
    i.initiate(now);
    deliver_both_ways(&mut i, &mut r, now, 8);
    (i, r)
}

/// Delivers what each engine sends to the other, `rounds` times over, at `now`.
fn deliver_both_ways(i: &mut Connection, r: &mut Connection, now: Instant, rounds: usize) {
    for _ in 0..rounds {
        while let Some(t) = i.poll_transmit() {
            r.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        while let Some(t) = r.poll_transmit() {
            i.handle_datagram(now, t.remote, t.local, &t.contents);
        }
    }
}

/// Authenticated input: arbitrary inner payload chains sealed with the keys of an established
/// IKE SA, so that they pass the integrity check and reach the exchanges' handlers (which
/// datagrams of [`engine`] almost never do). Each record of `data` (split at 0xFE 0xFE) is
/// `exchange, flags, first payload type, chain...`: flags bit 0 sends it as a response, bit
/// 1 from the responder to the initiator, bit 2 as SKF fragments of 80 octets, bit 3 with
/// the next message ID plus one (out of order). Returns how many records were sealed and how
/// many failed the receiver's integrity check (none should: that is the point).
pub fn authenticated(data: &[u8]) -> (usize, u64) {
    use cgw_wire::{ExchangeType, PayloadType};
    let now = Instant::now();
    let (mut i, mut r) = established(now);
    let mut rng = DeterministicRandom::new(9);
    let mut sealed = 0;
    // One record per input, or several split at the markers.
    for (n, rec) in split_marker(data).enumerate() {
        let [exchange, flags, first, chain @ ..] = rec else {
            continue;
        };
        let t = now + Duration::from_millis(n as u64 * 100);
        let response = flags & 1 != 0;
        let from_responder = flags & 2 != 0;
        let fragments = (flags & 4 != 0).then_some(80);
        let (sender, receiver) = if from_responder {
            (&r, &mut i)
        } else {
            (&i, &mut r)
        };
        let Some(sa) = sender.sas.first().filter(|s| s.keys.is_some()) else {
            break;
        };
        let mut id = if response {
            sa.next_message_id.saturating_sub(1)
        } else {
            sa.next_message_id
        };
        if flags & 8 != 0 {
            id = id.wrapping_add(1);
        }
        let datagrams = sa.encrypt_chain(
            &mut rng,
            ExchangeType(*exchange),
            response,
            id,
            PayloadType(*first),
            chain,
            fragments,
        );
        let (local, remote) = (sa.remote, sa.local);
        sealed += 1;
        for d in datagrams {
            receiver.handle_datagram(t, local, remote, &d);
        }
        for c in [&mut i, &mut r] {
            c.handle_timeout(t);
        }
        // What each answers goes to the other, as on the wire.
        deliver_both_ways(&mut i, &mut r, t, 4);
        while i.poll_event().is_some() {}
        while r.poll_event().is_some() {}
    }
    (
        sealed,
        i.stats().integrity_failures + r.stats().integrity_failures,
    )
}

/// Seed records for [`authenticated`]: the inner payload chains of a real liveness check,
/// Delete of a Child SA and of the IKE SA, a Child SA rekey request and an IKE SA rekey
/// request (taken from an exchange between two engines), each as one input.
pub fn authenticated_seeds() -> Vec<Vec<u8>> {
    use cgw_wire::{Delete, Notify, NotifyType, Payload, ProtocolId};
    let now = Instant::now();
    let (i, _) = established(now);
    let record = |exchange: u8, flags: u8, payloads: &[Payload]| {
        let mut chain = Vec::new();
        let first = cgw_wire::emit_payload_chain(payloads, cgw_wire::PayloadType::NONE, &mut chain);
        let mut v = vec![exchange, flags, first.0];
        v.extend_from_slice(&chain);
        v
    };
    let child_spi = i
        .child_sa_timers()
        .first()
        .map_or(0x0102_0304, |c| c.inbound_spi);
    let mut out = vec![
        record(37, 0, &[]),
        record(
            37,
            0,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::ESP,
                spis: vec![child_spi.to_be_bytes().to_vec()],
            })],
        ),
        record(
            37,
            2,
            &[Payload::Delete(Delete {
                protocol: ProtocolId::IKE,
                spis: vec![],
            })],
        ),
        record(
            37,
            4,
            &[Payload::Notify(Notify::new(
                NotifyType(16_390),
                vec![0x5a; 200],
            ))],
        ),
    ];
    // The CREATE_CHILD_SA requests the engine sends to rekey the Child SA and the IKE SA,
    // decrypted by the peer: their payload chains.
    for ike in [false, true] {
        let (mut i2, mut r2) = established(now);
        let due = if ike {
            i2.ike_rekey_at()
        } else {
            i2.child_sa_timers().first().map(|c| c.rekey_at)
        };
        let Some(due) = due else { continue };
        i2.handle_timeout(due);
        let Some(t) = i2.poll_transmit() else {
            continue;
        };
        let Ok(msg) = cgw_wire::Message::parse(&t.contents) else {
            continue;
        };
        if let Some(Ok(Some(payloads))) = r2.sas.first_mut().map(|sa| sa.decrypt(&msg, &t.contents))
        {
            out.push(record(msg.header.exchange.0, 0, &payloads));
        }
    }
    out
}
