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
    // An established pair.
    let mut i2 = mk(a, b, 3);
    let mut r2 = mk(b, a, 4);
    i2.initiate(now);
    for _ in 0..8 {
        while let Some(t) = i2.poll_transmit() {
            r2.handle_datagram(now, t.remote, t.local, &t.contents);
        }
        while let Some(t) = r2.poll_transmit() {
            i2.handle_datagram(now, t.remote, t.local, &t.contents);
        }
    }
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

fn split_marker(data: &[u8]) -> impl Iterator<Item = &[u8]> {
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
