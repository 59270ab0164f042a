//! Test harness for cgw: two IKE engines wired together in memory, like quinn-proto's `Pair`.
//!
//! A simulated clock drives both sides; the channel between them can drop, duplicate and
//! reorder datagrams, enforce an MTU, add latency, and put a NAT in front of side A.
//! Everything is deterministic for a given seed.

use cgw_crypto::{DeterministicRandom, Random};
use cgw_ike::{Config, Connection, Event, Transmit};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Which end of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Side A (usually cgw, the initiator).
    A,
    /// Side B (usually the "AWS" endpoint, the responder).
    B,
}

/// A NAT in front of side A: A's private address is rewritten to a public one with the
/// source port moved (as a port-translating NAT does).
#[derive(Debug, Clone, Copy)]
pub struct Nat {
    /// A's address inside.
    pub private: IpAddr,
    /// The NAT's public address.
    pub public: IpAddr,
    /// Added to A's source port on the way out.
    pub port_offset: u16,
}

/// A datagram in flight.
#[derive(Debug, Clone)]
pub struct InFlight {
    /// When it arrives.
    pub deliver_at: Instant,
    /// Receiver.
    pub to: Side,
    /// Source as the receiver sees it.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// IKE message bytes.
    pub contents: Vec<u8>,
    /// Sequence number for stable ordering.
    pub seq: u64,
}

/// Faults on the channel, as probabilities in [0, 1].
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// Drop a datagram.
    pub drop: f64,
    /// Deliver a datagram twice.
    pub duplicate: f64,
    /// Delay a datagram by an extra random amount so it may overtake or be overtaken.
    pub reorder: f64,
}

/// Two connected IKE engines and a simulated network.
pub struct Pair {
    /// Simulated now.
    pub now: Instant,
    /// Side A.
    pub a: Connection,
    /// Side B.
    pub b: Connection,
    /// Events taken from A so far.
    pub a_events: Vec<Event>,
    /// Events taken from B so far.
    pub b_events: Vec<Event>,
    /// One-way latency.
    pub latency: Duration,
    /// Largest datagram the path carries (IKE message plus UDP/IP headers, and the non-ESP
    /// marker on port 4500); larger ones are dropped.
    pub mtu: usize,
    /// Channel faults.
    pub faults: Faults,
    /// NAT in front of A.
    pub nat: Option<Nat>,
    /// Datagrams in flight.
    pub in_flight: Vec<InFlight>,
    /// Every datagram that was put on the wire, as (sender, contents), for inspection.
    pub wire_log: Vec<(Side, SocketAddr, SocketAddr, Vec<u8>)>,
    /// Drop the next datagram from the given side whose IKE exchange type and response flag
    /// match (exchange, is_response), once per entry.
    pub drop_next: Vec<(Side, u8, bool)>,
    /// Drop every datagram from the given side whose IKE exchange type and response flag
    /// match (exchange, is_response): a peer that ignores a kind of request.
    pub drop_always: Vec<(Side, u8, bool)>,
    /// Datagrams dropped for size.
    pub dropped_mtu: usize,
    /// `step` reports idle when nothing is in flight and no timer is due within this.
    pub idle_horizon: Duration,
    rng: DeterministicRandom,
    seq: u64,
}

/// Address of side A in tests (documentation range).
pub const A_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
/// Address of side B in tests.
pub const B_ADDR: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 21));

impl Pair {
    /// A pair from two configurations; `seed` makes every random choice reproducible.
    pub fn new(a: Config, b: Config, seed: u64) -> Self {
        Self {
            now: Instant::now(),
            a: Connection::new(
                a,
                Box::new(DeterministicRandom::new(seed.wrapping_mul(3) + 1)),
            ),
            b: Connection::new(
                b,
                Box::new(DeterministicRandom::new(seed.wrapping_mul(5) + 2)),
            ),
            a_events: Vec::new(),
            b_events: Vec::new(),
            latency: Duration::from_millis(10),
            mtu: 1500,
            faults: Faults::default(),
            nat: None,
            in_flight: Vec::new(),
            wire_log: Vec::new(),
            drop_next: Vec::new(),
            drop_always: Vec::new(),
            dropped_mtu: 0,
            idle_horizon: Duration::from_secs(300),
            rng: DeterministicRandom::new(seed ^ 0x5eed),
            seq: 0,
        }
    }

    /// Standard configurations for A (198.51.100.10) and B (203.0.113.21) with a shared PSK;
    /// `f` may adjust them.
    pub fn configs(psk: &str) -> (Config, Config) {
        (
            Config::new(A_ADDR, B_ADDR, psk.as_bytes().to_vec()),
            Config::new(B_ADDR, A_ADDR, psk.as_bytes().to_vec()),
        )
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn conn(&mut self, s: Side) -> &mut Connection {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Moves every queued transmit of both sides onto the wire (through faults and NAT).
    pub fn flush(&mut self) {
        for side in [Side::A, Side::B] {
            while let Some(t) = self.conn(side).poll_transmit() {
                self.send(side, t);
            }
        }
    }

    fn send(&mut self, from: Side, t: Transmit) {
        let mut src = t.local;
        let mut dst = t.remote;
        if let Some(nat) = self.nat {
            if from == Side::A && src.ip() == nat.private {
                src = SocketAddr::new(nat.public, src.port().wrapping_add(nat.port_offset));
            }
            if from == Side::B && dst.ip() == nat.public {
                dst = SocketAddr::new(nat.private, dst.port().wrapping_sub(nat.port_offset));
            }
        }
        self.wire_log.push((from, src, dst, t.contents.clone()));
        let marker = if t.needs_non_esp_marker() { 4 } else { 0 };
        if t.contents.len() + marker + 28 > self.mtu {
            self.dropped_mtu += 1;
            return;
        }
        if t.contents.len() >= 28 {
            let ex = t.contents[18];
            let resp = t.contents[19] & 0x20 != 0;
            if let Some(i) = self
                .drop_next
                .iter()
                .position(|(s, e, r)| *s == from && *e == ex && *r == resp)
            {
                self.drop_next.remove(i);
                return;
            }
            if self
                .drop_always
                .iter()
                .any(|(s, e, r)| *s == from && *e == ex && *r == resp)
            {
                return;
            }
        }
        if self.chance(self.faults.drop) {
            return;
        }
        let to = match from {
            Side::A => Side::B,
            Side::B => Side::A,
        };
        let copies = if self.chance(self.faults.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = self.now + self.latency;
            if self.chance(self.faults.reorder) {
                at += Duration::from_millis(self.rng.next_u64() % 50);
            }
            self.seq += 1;
            self.in_flight.push(InFlight {
                deliver_at: at,
                to,
                src,
                dst,
                contents: t.contents.clone(),
                seq: self.seq,
            });
        }
    }

    /// Collects both sides' events.
    pub fn drain_events(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    /// The next moment something happens: a delivery or a timer.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let d = self.in_flight.iter().map(|f| f.deliver_at).min();
        [d, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Advances to the next wakeup and processes it. Returns false when nothing is left to do
    /// soon: no datagram in flight and no timer within [`Pair::idle_horizon`] (so that
    /// `drive` stops once an exchange is over instead of running on into rekey timers hours
    /// later; use [`Pair::run_until`] for that).
    pub fn step(&mut self) -> bool {
        self.flush();
        self.drain_events();
        let Some(t) = self.next_wakeup() else {
            return false;
        };
        if self.in_flight.is_empty() && t > self.now + self.idle_horizon {
            return false;
        }
        self.advance_to(t)
    }

    /// Advances to `t` (a wakeup) and processes everything due then.
    fn advance_to(&mut self, t: Instant) -> bool {
        if t > self.now {
            self.now = t;
        }
        let now = self.now;
        // Deliver everything due, in order.
        let mut due: Vec<InFlight> = Vec::new();
        let mut i = 0;
        while i < self.in_flight.len() {
            if self.in_flight[i].deliver_at <= now {
                due.push(self.in_flight.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| (f.deliver_at, f.seq));
        for f in due {
            self.conn(f.to)
                .handle_datagram(now, f.dst, f.src, &f.contents);
        }
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        self.flush();
        self.drain_events();
        true
    }

    /// Steps until idle, at most `max_steps` times; returns the steps taken.
    pub fn drive(&mut self, max_steps: usize) -> usize {
        for n in 0..max_steps {
            if !self.step() {
                return n;
            }
        }
        max_steps
    }

    /// Steps until `f` holds or `max_steps` pass; returns whether it held.
    pub fn drive_until(&mut self, max_steps: usize, mut f: impl FnMut(&Pair) -> bool) -> bool {
        for _ in 0..max_steps {
            if f(self) {
                return true;
            }
            if !self.step() {
                return f(self);
            }
        }
        f(self)
    }

    /// Steps, processing every timer, until simulated time reaches `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.flush();
            self.drain_events();
            match self.next_wakeup() {
                Some(t) if t <= until => {
                    self.advance_to(t);
                }
                _ => break,
            }
        }
        if self.now < until {
            self.now = until;
        }
    }

    /// Events of one side.
    pub fn events(&self, s: Side) -> &[Event] {
        match s {
            Side::A => &self.a_events,
            Side::B => &self.b_events,
        }
    }
}

/// The established Child SAs in an event list.
pub fn child_sas(events: &[Event]) -> Vec<&cgw_ike::ChildSaInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaEstablished(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The established IKE SAs in an event list.
pub fn ike_sas(events: &[Event]) -> Vec<&cgw_ike::IkeSaInfo> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaEstablished(c) => Some(c),
            _ => None,
        })
        .collect()
}

/// The errors of failed IKE SAs in an event list.
pub fn ike_failures(events: &[Event]) -> Vec<&cgw_ike::IkeError> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::IkeSaFailed { error, .. } => Some(error),
            _ => None,
        })
        .collect()
}

/// The errors of failed Child SAs in an event list.
pub fn child_failures(events: &[Event]) -> Vec<&cgw_ike::IkeError> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ChildSaFailed { error } => Some(error),
            _ => None,
        })
        .collect()
}

/// Fills a buffer deterministically (for payloads in tests).
pub fn fill(seed: u64, buf: &mut [u8]) {
    DeterministicRandom::new(seed).fill(buf);
}

pub mod world;

/// Both ends' data paths as the daemon keeps them ([`SaTable`], driven by the gateway's own
/// translation of engine events, [`cgw::gateway::datapath_command`]), with continuous ESP
/// traffic both ways: it checks make-before-break (no packet lost across any rekey).
pub mod dataplane {
    use super::{Pair, Side};
    use cgw::sa_table::SaTable;
    use std::time::{Duration, Instant};

    /// One side's ESP SAs and its traffic.
    #[derive(Default)]
    pub struct End {
        /// The data path's SA table.
        pub sas: SaTable,
        /// Events processed so far.
        pub seen: usize,
        /// Packets sent.
        pub sent: u64,
        /// Received intact.
        pub received: u64,
        /// Lost (no SA to send on, or dropped at the receiver), with the reason.
        pub lost: Vec<String>,
    }

    /// Both ends and the ESP packets in flight.
    #[derive(Default)]
    pub struct Datapaths {
        /// Side A.
        pub a: End,
        /// Side B.
        pub b: End,
        flight: Vec<(Instant, Side, Vec<u8>)>,
        seq: u64,
        rng: u64,
        /// Largest number of inbound SAs held at once by either side.
        pub max_inbound: usize,
    }

    impl Datapaths {
        fn end(&mut self, s: Side) -> &mut End {
            match s {
                Side::A => &mut self.a,
                Side::B => &mut self.b,
            }
        }

        /// Applies the events both engines emitted since the last call, as the gateway
        /// turns them into data-path commands.
        pub fn apply_events(&mut self, p: &Pair) {
            for side in [Side::A, Side::B] {
                let events = p.events(side);
                let start = self.end(side).seen;
                for e in &events[start..] {
                    self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
                    let mut r = cgw_crypto::DeterministicRandom::new(self.rng);
                    let cmd = cgw::gateway::datapath_command(0, e, &mut r, Default::default())
                        .expect("ESP SAs");
                    if let Some(cmd) = cmd {
                        self.end(side).sas.apply(p.now, cmd);
                    }
                }
                let n = p.events(side).len();
                self.end(side).seen = n;
            }
        }

        /// Sends one packet each way and delivers those due; drops expired inbound SAs.
        pub fn tick(&mut self, now: Instant, latency: Duration) {
            for (side, to) in [(Side::A, Side::B), (Side::B, Side::A)] {
                self.seq += 1;
                let seq = self.seq;
                let end = self.end(side);
                end.sent += 1;
                match end.sas.outbound_mut() {
                    Some(o) => {
                        let inner = super::world::udp_packet(
                            [10, 10, 0, 10].into(),
                            [172, 31, 0, 10].into(),
                            seq,
                        );
                        let mut buf = vec![0u8; 64 + 100 + o.sa.max_tailroom()];
                        buf[64..164].copy_from_slice(&inner);
                        let r = o.sa.encapsulate(&mut buf, 64, 100, 4).expect("encapsulate");
                        self.flight.push((now + latency, to, buf[r].to_vec()));
                    }
                    None => end
                        .lost
                        .push(format!("{side:?} had no outbound SA at {now:?}")),
                }
            }
            let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.flight)
                .into_iter()
                .partition(|f| f.0 <= now);
            self.flight = later;
            for (_, to, mut pkt) in due {
                let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
                let end = self.end(to);
                match end.sas.inbound_mut(spi) {
                    Some(sa) => match sa.decapsulate(&mut pkt) {
                        Ok(_) => end.received += 1,
                        Err(e) => end
                            .lost
                            .push(format!("{to:?} dropped a packet on {spi:#x}: {e}")),
                    },
                    None => end.lost.push(format!("{to:?} has no inbound SA {spi:#x}")),
                }
            }
            for side in [Side::A, Side::B] {
                self.end(side).sas.expire(now);
            }
            self.max_inbound = self
                .max_inbound
                .max(self.a.sas.inbound_count())
                .max(self.b.sas.inbound_count());
        }

        /// Packets in flight.
        pub fn in_flight(&self) -> usize {
            self.flight.len()
        }
    }
}
