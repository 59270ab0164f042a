//! `Peer`: connection collisions (RFC 4271 6.8) between two active speakers, with the
//! connections simulated in memory.

use cgw_bgp::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Instant;

const LOW_ID: Ipv4Addr = Ipv4Addr::new(169, 254, 11, 2);
const HIGH_ID: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 11);

fn config(asn: u32, peer_asn: u32, id: Ipv4Addr, local: [u8; 4], peer: [u8; 4]) -> SessionConfig {
    let mut c = SessionConfig::new(asn, peer_asn, id, local.into(), peer.into());
    c.keepalive_time = Some(10);
    c
}

/// Two peers and the TCP connections between them: connection `n` joins `a`'s ConnId(n) and
/// `b`'s ConnId(n).
struct Net {
    a: Peer,
    b: Peer,
    /// Per connection: open at each end.
    open: HashMap<u64, (bool, bool)>,
    next: u64,
    /// Connections each side asked to open and that are not up yet: (side a?, id).
    want: Vec<bool>,
    closes: Vec<(bool, u64)>,
}

/// Connection `c` is closed at a's end (`at_a`) or b's.
fn close_end(open: &mut HashMap<u64, (bool, bool)>, c: u64, at_a: bool) {
    let o = open.get_mut(&c).unwrap();
    if at_a {
        o.0 = false
    } else {
        o.1 = false
    }
}

impl Net {
    /// Moves bytes and events until nothing moves. Connection attempts wait in `want`.
    fn settle(&mut self, now: Instant) {
        for _ in 0..100 {
            let mut moved = false;
            for side_a in [true, false] {
                let (from, to) = if side_a {
                    (&mut self.a, &mut self.b)
                } else {
                    (&mut self.b, &mut self.a)
                };
                while let Some((c, bytes)) = from.poll_transmit() {
                    moved = true;
                    let (oa, ob) = self.open[&c.0];
                    if oa && ob {
                        to.handle_bytes(now, c, &bytes);
                    }
                }
                while let Some(e) = from.poll_event() {
                    moved = true;
                    match e {
                        PeerEvent::WantConnect => self.want.push(side_a),
                        PeerEvent::Close(c) => {
                            self.closes.push((side_a, c.0));
                            close_end(&mut self.open, c.0, side_a);
                            to.closed(now, c);
                        }
                        PeerEvent::Session(_) => {}
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Opens the connections both sides want, at the same moment: each side's own attempt
    /// and the other's arrive together (a collision when both want one).
    fn connect_all(&mut self, now: Instant) {
        let want = std::mem::take(&mut self.want);
        let mut conns = Vec::new();
        for side_a in want {
            self.next += 1;
            self.open.insert(self.next, (true, true));
            conns.push((side_a, ConnId(self.next)));
        }
        // Both connections complete at their initiators, then both are accepted.
        for &(side_a, c) in &conns {
            let init = if side_a { &mut self.a } else { &mut self.b };
            assert!(init.connected(now, c), "the initiator takes its connection");
        }
        for &(side_a, c) in &conns {
            let (init, acc) = if side_a {
                (&mut self.a, &mut self.b)
            } else {
                (&mut self.b, &mut self.a)
            };
            let accepted = acc.accept(now, c);
            if !accepted {
                close_end(&mut self.open, c.0, !side_a);
                init.closed(now, c);
            }
        }
    }
}

fn collide(a_id: Ipv4Addr, b_id: Ipv4Addr) -> Net {
    let now = Instant::now();
    let mut n = Net {
        a: Peer::new(config(
            65000,
            64512,
            a_id,
            [169, 254, 11, 2],
            [169, 254, 11, 1],
        )),
        b: Peer::new(config(
            64512,
            65000,
            b_id,
            [169, 254, 11, 1],
            [169, 254, 11, 2],
        )),
        open: HashMap::new(),
        next: 0,
        want: Vec::new(),
        closes: Vec::new(),
    };
    n.a.start(now);
    n.b.start(now);
    n.settle(now);
    assert_eq!(n.want.len(), 2, "both speakers connect");
    n.connect_all(now);
    n.settle(now);
    n
}

#[test]
fn a_collision_keeps_the_connection_of_the_higher_identifier() {
    for (a_id, b_id) in [(LOW_ID, HIGH_ID), (HIGH_ID, LOW_ID)] {
        let n = collide(a_id, b_id);
        assert!(n.a.session().is_established(), "{a_id} established");
        assert!(n.b.session().is_established(), "{b_id} established");
        assert_eq!((n.a.collisions(), n.b.collisions()), (1, 1));
        // Connection 1 was opened by a, connection 2 by b. The survivor is the one opened
        // by the higher identifier; the other was closed (with a Cease) at both ends.
        let a_opened_wins = u32::from(a_id) > u32::from(b_id);
        let (kept, closed) = if a_opened_wins { (1, 2) } else { (2, 1) };
        assert_eq!(n.open[&kept], (true, true), "connection {kept} survives");
        assert_eq!(
            n.open[&closed],
            (false, false),
            "connection {closed} is closed"
        );
        assert!(n.closes.iter().all(|(_, c)| *c == closed), "{:?}", n.closes);
    }
}

#[test]
fn an_established_session_refuses_a_second_connection() {
    let now = Instant::now();
    let mut n = collide(LOW_ID, HIGH_ID);
    // The peer connects again (say, after a restart it did not notice): refused.
    assert!(!n.a.accept(now, ConnId(99)));
    assert!(n.a.session().is_established());
}

#[test]
fn without_a_connection_of_ours_the_incoming_one_is_the_session() {
    let now = Instant::now();
    let mut a = Peer::new(config(
        65000,
        64512,
        LOW_ID,
        [169, 254, 11, 2],
        [169, 254, 11, 1],
    ));
    a.start(now);
    while a.poll_event().is_some() {}
    // Our connect is pending (Connect); the peer's connection arrives first.
    assert!(a.accept(now, ConnId(7)));
    assert_eq!(a.collisions(), 0);
    // Our own attempt then completes: not wanted any more.
    assert!(!a.connected(now, ConnId(8)));
    let (c, open) = a.poll_transmit().expect("OPEN on the accepted connection");
    assert_eq!(c, ConnId(7));
    assert!(!open.is_empty());
}
