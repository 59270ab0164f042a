//! ESP traffic between two engines whose Child SA was negotiated by the IKE engines in memory.

use cgw_crypto::DeterministicRandom;
use cgw_esp::{InboundSa, OutboundSa};
use cgw_ike::{EspProposal, IkeProposal};
use cgw_tests::{child_sas, Pair};

const PSK: &str = "Esp.Pair_Test.Key.0123456789";
const HEAD: usize = 64;

/// A well-formed IPv4 packet of `len` bytes (>= 20) from 10.10.0.10 to 172.31.0.10.
fn ipv4(len: usize, seed: u64) -> Vec<u8> {
    let mut p = vec![0u8; len];
    cgw_tests::fill(seed, &mut p);
    if len >= 20 {
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[6] = 0;
        p[7] = 0;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 10, 0, 10]);
        p[16..20].copy_from_slice(&[172, 31, 0, 10]);
    }
    p
}

struct Ends {
    a_in: InboundSa,
    a_out: OutboundSa,
    b_in: InboundSa,
    b_out: OutboundSa,
}

fn negotiate(ike: IkeProposal, esp: EspProposal, seed: u64) -> Ends {
    let (mut a, mut b) = Pair::configs(PSK);
    a.ike_proposals = vec![ike.clone()];
    b.ike_proposals = vec![ike];
    a.esp_proposals = vec![esp.clone()];
    b.esp_proposals = vec![esp];
    let mut p = Pair::new(a, b, seed);
    p.a.initiate(p.now);
    p.drive(100);
    let ca = child_sas(&p.a_events);
    let cb = child_sas(&p.b_events);
    assert_eq!((ca.len(), cb.len()), (1, 1));
    let mut rng = DeterministicRandom::new(seed);
    let (a_in, a_out) = cgw::child_sa::esp_sas(ca[0], &mut rng).unwrap();
    let (b_in, b_out) = cgw::child_sa::esp_sas(cb[0], &mut rng).unwrap();
    Ends {
        a_in,
        a_out,
        b_in,
        b_out,
    }
}

fn send(tx: &mut OutboundSa, inner: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEAD + inner.len() + tx.max_tailroom()];
    buf[HEAD..HEAD + inner.len()].copy_from_slice(inner);
    let r = tx.encapsulate(&mut buf, HEAD, inner.len(), 4).unwrap();
    buf[r].to_vec()
}

fn receive(rx: &mut InboundSa, mut pkt: Vec<u8>) -> Option<Vec<u8>> {
    let d = rx.decapsulate(&mut pkt).ok()?;
    Some(pkt[d.inner].to_vec())
}

fn suites() -> Vec<(IkeProposal, EspProposal)> {
    vec![
        (
            IkeProposal::suite_b_gcm_256(),
            EspProposal::suite_b_gcm_256(),
        ),
        (
            IkeProposal::suite_b_gcm_128(),
            EspProposal::suite_b_gcm_128(),
        ),
        (
            IkeProposal::parse("aes128-sha1-modp2048").unwrap(),
            EspProposal::parse("aes128-sha1-modp2048").unwrap(),
        ),
        (
            IkeProposal::parse("aes256gcm16-prfsha512-curve25519").unwrap(),
            EspProposal::parse("aes256-sha512").unwrap(),
        ),
        (
            IkeProposal::parse("aes256-sha256-ecp256").unwrap(),
            EspProposal::parse("aes256-sha384").unwrap(),
        ),
    ]
}

#[test]
fn packets_of_every_size_flow_both_ways() {
    for (n, (ike, esp)) in suites().into_iter().enumerate() {
        let mut e = negotiate(ike, esp.clone(), n as u64);
        for len in 20..=1427usize {
            let inner = ipv4(len, len as u64);
            let got = receive(&mut e.b_in, send(&mut e.a_out, &inner));
            assert_eq!(
                got.as_deref(),
                Some(&inner[..]),
                "{} A->B {len}",
                esp.describe()
            );
            let got = receive(&mut e.a_in, send(&mut e.b_out, &inner));
            assert_eq!(
                got.as_deref(),
                Some(&inner[..]),
                "{} B->A {len}",
                esp.describe()
            );
        }
        // Shorter than an IPv4 header: not an IP packet, dropped and counted.
        for len in 1..20usize {
            let inner = vec![0x45; len];
            assert_eq!(
                receive(&mut e.b_in, send(&mut e.a_out, &inner)),
                None,
                "{len}"
            );
        }
        assert_eq!(e.b_in.drops().malformed_inner, 19);
        assert_eq!(e.b_in.drops().total(), 19);
        assert_eq!(e.a_in.drops().total(), 0);
    }
}

#[test]
fn replayed_and_tampered_packets_are_dropped_and_counted() {
    for (n, (ike, esp)) in suites().into_iter().enumerate() {
        let mut e = negotiate(ike, esp, 100 + n as u64);
        let inner = ipv4(1400, 1);
        let p1 = send(&mut e.a_out, &inner);
        let p2 = send(&mut e.a_out, &inner);
        let p3 = send(&mut e.a_out, &inner);
        // Out of order within the window is fine.
        assert!(receive(&mut e.b_in, p3.clone()).is_some());
        assert!(receive(&mut e.b_in, p1.clone()).is_some());
        // Replays are not.
        assert!(receive(&mut e.b_in, p1.clone()).is_none());
        assert!(receive(&mut e.b_in, p3.clone()).is_none());
        assert_eq!(e.b_in.drops().replay, 2);
        // Any flipped byte (SPI aside, which names another SA) fails the ICV.
        let mut tampered = 0;
        for i in [4usize, 7, 8, 20, 100, p2.len() - 17, p2.len() - 1] {
            let mut t = p2.clone();
            t[i] ^= 0x40;
            assert!(receive(&mut e.b_in, t).is_none(), "byte {i}");
            tampered += 1;
        }
        assert_eq!(e.b_in.drops().auth_failed, tampered);
        // The untouched packet still gets through afterwards: failed checks did not move the
        // replay window.
        assert_eq!(receive(&mut e.b_in, p2).as_deref(), Some(&inner[..]));
    }
}
