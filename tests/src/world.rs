//! Whole gateways in memory: a cgw [`Gateway`] (both tunnels) against two [`Gateway`]s in the
//! AWS role (one per AWS endpoint, as `cgw emulate-aws --tunnel N` runs them), each with the
//! data path's real SA table ([`SaTable`]), over a simulated network with latency, loss,
//! duplication, reordering and an optional NAT in front of cgw, on a simulated clock.
//!
//! The harness plays only what the driver and the kernel do: it carries out the gateways'
//! actions (datagrams onto the network, data-path commands into the SA tables, barriers
//! confirmed one step later, routes into a FIB per host), answers the monitor's echoes at
//! AWS's inside address, runs the BGP sessions over an in-memory link while both ends say
//! their tunnel carries traffic, and sends test traffic both ways on the routes the gateways
//! installed, counting every packet the SA tables could not carry.

use cgw::config::{CgwConfig, Routing};
use cgw::emulate::Emulator;
use cgw::fib::{Route, Source};
use cgw::gateway::{Action, BgpCommand, DatapathEvent, Gateway, Setup};
use cgw::sa_table::{DatapathCommand, SaTable};
use cgw_crypto::DeterministicRandom;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Interface indexes the harness gives cgw's tunnel devices.
pub const IFINDEX: [u32; 2] = [101, 102];
/// cgw's address behind the NAT, when there is one.
pub const PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// A host on cgw's LAN and one in the VPC: the test traffic's ends.
pub const LAN_HOST: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
/// See [`LAN_HOST`].
pub const VPC_HOST: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 10);

/// The emulator file of the lab: AWS's defaults, both tunnels.
pub fn emulator(routing: Routing) -> Emulator {
    let text = cgw::emulate::EXAMPLE.replace(
        "routing = \"static\"",
        match routing {
            Routing::Bgp => "routing = \"bgp\"",
            _ => "routing = \"static\"",
        },
    );
    Emulator::parse(&text).expect("the example emulator file")
}

/// cgw's configuration as `cgw import aws` makes it from the emulator's describe JSON.
pub fn customer_config(em: &Emulator, behind_nat: bool) -> CgwConfig {
    let opts = cgw::import::ImportOptions {
        local_address: behind_nat.then_some(PRIVATE),
        remote_cidrs: if em.routing == Routing::Static {
            em.vpc_cidrs.clone()
        } else {
            Vec::new()
        },
        lan: vec!["10.10.0.0/24".parse().unwrap()],
        source_name: None,
    };
    cgw::import::import_aws(&em.describe_vpn_connections_json(), &opts)
        .expect("import")
        .config
}

/// What the network does to datagrams.
#[derive(Debug, Clone, Copy)]
pub struct Faults {
    /// One-way latency.
    pub latency: Duration,
    /// Percent of datagrams lost.
    pub loss: u32,
    /// Percent duplicated.
    pub dup: u32,
    /// Percent delayed by up to three latencies (reordered).
    pub reorder: u32,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(5),
            loss: 0,
            dup: 0,
            reorder: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct Datagram {
    src: SocketAddr,
    dst: SocketAddr,
    /// Raw ESP (IP protocol 50) rather than UDP.
    raw_esp: bool,
    data: Vec<u8>,
}

/// Test traffic counts of one direction.
#[derive(Debug, Default, Clone)]
pub struct Flow {
    /// Packets offered.
    pub sent: u64,
    /// Packets that came out of the far SA table intact.
    pub received: u64,
    /// Packets the SA tables lost (no outbound SA, no inbound SA, decapsulation failed),
    /// with why and when.
    pub lost: Vec<String>,
}

/// One host: a gateway, its data path's SA tables and its FIB.
pub struct Host {
    /// The gateway.
    pub gw: Gateway,
    /// Per tunnel: the data path's SA table.
    pub sas: Vec<SaTable>,
    /// This host's outside address (its own, behind a NAT the private one).
    pub addr: Ipv4Addr,
    /// Our and the peer's inside addresses per tunnel.
    inside: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// The routes each source wants in the kernel.
    pub fib: BTreeMap<Source, Vec<Route>>,
    /// Per tunnel: what the BGP session was last told (carrying traffic).
    pub bgp_up: Vec<bool>,
    /// Barriers to confirm at the next step (tunnel, token).
    barriers: Vec<(usize, u64)>,
    /// Per tunnel: a barrier is pending (its IKE datagrams must wait).
    held: Vec<bool>,
    /// IKE datagrams emitted while their tunnel's barrier was pending (must stay empty).
    pub barrier_violations: Vec<String>,
    /// IKE datagrams sent (for the shutdown test: Deletes).
    pub ike_sent: u64,
    /// NAT keepalives sent.
    pub keepalives: u64,
    /// Monitor echoes sent, per tunnel.
    pub echoes: Vec<u64>,
    /// Every state change: (time, tunnel, state).
    pub states: Vec<(Instant, usize, cgw::status::TunnelState)>,
    /// A `Shutdown` was sent to these BGP sessions.
    pub bgp_shutdown: Vec<bool>,
    /// Per tunnel: prefixes the gateway asked its session to advertise, not yet applied.
    advertise: Vec<Option<Vec<cgw_bgp::LocalRoute>>>,
}

impl Host {
    fn new(
        config: &CgwConfig,
        addr: Ipv4Addr,
        ifindexes: Vec<u32>,
        now: Instant,
        seed: u64,
    ) -> Self {
        let mut n = seed;
        let gw = Gateway::new(
            config,
            Setup {
                ifindexes,
                connected: Vec::new(),
            },
            now,
            &mut || {
                n = n
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                Box::new(DeterministicRandom::new(n))
            },
        )
        .expect("gateway");
        let count = gw.tunnel_count();
        Self {
            gw,
            sas: (0..count).map(|_| SaTable::default()).collect(),
            addr,
            inside: config
                .tunnels
                .iter()
                .map(|t| (t.our_inside_address(), t.aws_inside_address()))
                .collect(),
            fib: BTreeMap::new(),
            bgp_up: vec![false; count],
            barriers: Vec::new(),
            held: vec![false; count],
            barrier_violations: Vec::new(),
            ike_sent: 0,
            keepalives: 0,
            echoes: vec![0; count],
            states: Vec::new(),
            bgp_shutdown: vec![false; count],
            advertise: vec![None; count],
        }
    }

    /// The tunnel the FIB sends `dst` through (static or BGP routes; the first interface of
    /// an ECMP route).
    pub fn route_tunnel(&self, dst: Ipv4Addr, ifindexes: &[u32]) -> Option<usize> {
        self.fib
            .values()
            .flatten()
            .filter(|r| r.dst.contains(&dst))
            .max_by_key(|r| r.dst.prefix_len())
            .and_then(|r| r.oifs.first())
            .and_then(|oif| ifindexes.iter().position(|i| i == oif))
    }
}

/// A BGP session pair over an in-memory link (cgw's end, AWS's end).
struct BgpLink {
    cgw: cgw_bgp::Session,
    aws: cgw_bgp::Session,
    connected: bool,
    /// AWS's end died with its endpoint: nothing reaches it, it sends nothing.
    aws_dead: bool,
}

/// The lab: cgw, two AWS endpoints, the network between them.
pub struct World {
    /// Simulated time.
    pub now: Instant,
    /// The customer gateway.
    pub cgw: Host,
    /// The AWS endpoints (None: killed).
    pub aws: [Option<Host>; 2],
    /// Their configurations (to restart one).
    pub aws_configs: [CgwConfig; 2],
    /// cgw's configuration.
    pub cgw_config: CgwConfig,
    /// Network faults.
    pub faults: Faults,
    /// With a NAT: cgw's public address (the customer gateway address AWS knows).
    pub nat: Option<Ipv4Addr>,
    /// Per AWS endpoint: the path to it is cut (it is dead or unreachable).
    pub cut: [bool; 2],
    flight: Vec<(Instant, u64, Datagram)>,
    order: u64,
    rng: DeterministicRandom,
    bgp: [Option<BgpLink>; 2],
    /// Test traffic cgw's LAN to the VPC, and back.
    pub to_vpc: Flow,
    /// See [`World::to_vpc`].
    pub to_lan: Flow,
    /// Packets per second each way while [`World::traffic`] is on.
    pub traffic: u32,
    next_packet: Instant,
    seq: u64,
    seeds: u64,
    /// Simulated time step (the harness wakes at least this often while traffic runs).
    pub step: Duration,
}

impl World {
    /// A lab for `routing`: cgw (with `customize` applied to its configuration) and both AWS
    /// endpoints, at simulated time `now`, not yet run.
    pub fn new(
        routing: Routing,
        behind_nat: bool,
        seed: u64,
        customize: impl FnOnce(&mut CgwConfig),
    ) -> Self {
        let now = Instant::now();
        let em = emulator(routing);
        let mut cgw_config = customer_config(&em, behind_nat);
        customize(&mut cgw_config);
        let aws_configs = [
            em.endpoint_config(0).expect("endpoint 1"),
            em.endpoint_config(1).expect("endpoint 2"),
        ];
        let public = em.spec.customer_gateway_address;
        let cgw_addr = if behind_nat { PRIVATE } else { public };
        let cgw = Host::new(&cgw_config, cgw_addr, IFINDEX.to_vec(), now, seed);
        let aws = [0, 1].map(|i| {
            let c = &aws_configs[i];
            Some(Host::new(
                c,
                c.gateway.local_address,
                vec![201 + i as u32],
                now,
                seed + 1000 * (i as u64 + 1),
            ))
        });
        Self {
            now,
            cgw,
            aws,
            aws_configs,
            cgw_config,
            faults: Faults::default(),
            nat: behind_nat.then_some(public),
            cut: [false; 2],
            flight: Vec::new(),
            order: 0,
            rng: DeterministicRandom::new(seed ^ 0x5eed),
            bgp: [None, None],
            to_vpc: Flow::default(),
            to_lan: Flow::default(),
            traffic: 0,
            next_packet: now,
            seq: 0,
            seeds: seed,
            step: Duration::from_millis(100),
        }
    }

    fn roll(&mut self, percent: u32) -> bool {
        percent > 0 && ((self.rng.next_u64() % 100) as u32) < percent
    }

    /// Kills AWS endpoint `i`: no Delete, its state is gone, nothing reaches it.
    pub fn kill_endpoint(&mut self, i: usize) {
        self.aws[i] = None;
        self.cut[i] = true;
        // cgw's BGP session notices only by its tunnel's health or its hold timer.
        if let Some(l) = self.bgp[i].as_mut() {
            l.aws_dead = true;
        }
    }

    /// Starts AWS endpoint `i` afresh (no SAs) and reconnects it.
    pub fn restart_endpoint(&mut self, i: usize) {
        self.seeds += 7919;
        let c = &self.aws_configs[i];
        self.aws[i] = Some(Host::new(
            c,
            c.gateway.local_address,
            vec![201 + i as u32],
            self.now,
            self.seeds,
        ));
        self.cut[i] = false;
    }

    /// Which AWS endpoint an address is.
    fn endpoint_of(&self, ip: IpAddr) -> Option<usize> {
        (0..2).find(|&i| IpAddr::V4(self.aws_configs[i].gateway.local_address) == ip)
    }

    fn send(&mut self, d: Datagram) {
        let to_aws = self.endpoint_of(d.dst.ip());
        let from_aws = self.endpoint_of(d.src.ip());
        if to_aws.or(from_aws).is_some_and(|i| self.cut[i]) {
            return;
        }
        let mut d = d;
        // The NAT: cgw's private address and ports out, back in.
        if let Some(public) = self.nat {
            if d.src.ip() == IpAddr::V4(PRIVATE) {
                d.src = SocketAddr::new(public.into(), d.src.port() + 10_000);
            } else if d.dst.ip() == IpAddr::V4(public) {
                if d.raw_esp {
                    return; // a NAT drops raw ESP
                }
                d.dst = SocketAddr::new(PRIVATE.into(), d.dst.port().wrapping_sub(10_000));
            }
        }
        if self.roll(self.faults.loss) {
            return;
        }
        let copies = if self.roll(self.faults.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.now + self.faults.latency;
            if self.roll(self.faults.reorder) {
                at += self.faults.latency * (1 + (self.rng.next_u64() % 3) as u32);
            }
            self.order += 1;
            self.flight.push((at, self.order, d.clone()));
        }
    }

    /// Runs until `until` (simulated).
    pub fn run_until(&mut self, until: Instant) {
        while self.now < until {
            self.turn();
            let next = self.next_wakeup().min(until).max(self.now);
            self.now = next;
            if self.now >= until {
                self.turn();
                break;
            }
        }
    }

    /// Runs for `d`.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Sends `pps` test packets a second each way for `d`, then stops and lets the last
    /// ones land (one more second).
    pub fn run_traffic(&mut self, pps: u32, d: Duration) {
        self.traffic = pps;
        self.run_for(d);
        self.traffic = 0;
        self.run_for(Duration::from_secs(1));
    }

    /// Runs until `f` holds (checked after each turn) or `limit` passes; returns the time
    /// it took, or None.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        mut f: impl FnMut(&World) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        loop {
            self.turn();
            if f(self) {
                return Some(self.now - start);
            }
            if self.now >= end {
                return None;
            }
            self.now = self.next_wakeup().min(end).max(self.now);
        }
    }

    fn next_wakeup(&self) -> Instant {
        let mut t = self.now + Duration::from_secs(3600);
        let mut add = |x: Option<Instant>| {
            if let Some(x) = x {
                t = t.min(x);
            }
        };
        add(self.cgw.gw.poll_timeout());
        for h in self.aws.iter().flatten() {
            add(h.gw.poll_timeout());
        }
        add(self.flight.iter().map(|f| f.0).min());
        for l in self.bgp.iter().flatten() {
            add(l.cgw.poll_timeout());
            if !l.aws_dead {
                add(l.aws.poll_timeout());
            }
        }
        let pending_barriers = !self.cgw.barriers.is_empty()
            || self.aws.iter().flatten().any(|h| !h.barriers.is_empty());
        if pending_barriers {
            add(Some(self.now + Duration::from_millis(1)));
        }
        if self.traffic > 0 {
            add(Some(self.next_packet));
        }
        add(Some(self.now + self.step));
        t.max(self.now + Duration::from_micros(1))
    }

    /// One instant: confirm last turn's barriers, deliver due datagrams, fire due timers,
    /// send traffic, run BGP, carry out every action.
    fn turn(&mut self) {
        let now = self.now;
        for h in self.hosts_mut() {
            for (tunnel, token) in std::mem::take(&mut h.barriers) {
                h.held[tunnel] = false;
                h.gw.handle_barrier(now, tunnel, token);
            }
            for t in h.sas.iter_mut() {
                t.expire(now);
            }
        }
        self.deliver();
        for h in self.hosts_mut() {
            if h.gw.poll_timeout().is_some_and(|t| t <= now) {
                h.gw.handle_timeout(now);
            }
        }
        if self.traffic > 0 {
            while self.next_packet <= now {
                self.send_traffic();
                self.next_packet += Duration::from_secs(1) / self.traffic;
            }
        }
        for _ in 0..4 {
            self.carry_out_all();
            self.run_bgp();
        }
        self.carry_out_all();
    }

    fn hosts_mut(&mut self) -> impl Iterator<Item = &mut Host> {
        std::iter::once(&mut self.cgw).chain(self.aws.iter_mut().flatten())
    }

    fn deliver(&mut self) {
        let now = self.now;
        let mut due: Vec<(Instant, u64, Datagram)> = Vec::new();
        self.flight.retain(|f| {
            if f.0 <= now {
                due.push(f.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|f| (f.0, f.1));
        for (_, _, d) in due {
            self.receive(d);
        }
    }

    /// A datagram arrives at its destination host.
    fn receive(&mut self, d: Datagram) {
        let now = self.now;
        let dst_ep = self.endpoint_of(d.dst.ip());
        let is_cgw = d.dst.ip() == IpAddr::V4(self.cgw.addr);
        if dst_ep.is_none() && !is_cgw {
            return;
        }
        // Port 500 is IKE; port 4500 carries keepalives, IKE behind the non-ESP marker and
        // ESP; raw ESP is ESP.
        let ike = match (d.raw_esp, d.dst.port(), d.data.as_slice()) {
            (true, _, _) => None,
            (false, cgw_ike::NAT_T_PORT, [0xff]) => return,
            (false, cgw_ike::NAT_T_PORT, [0, 0, 0, 0, rest @ ..]) => Some(rest),
            (false, cgw_ike::NAT_T_PORT, _) => None,
            (false, _, data) => Some(data),
        };
        if let Some(ike) = ike {
            if let Some(h) = self.host_at(dst_ep) {
                h.gw.handle_ike(now, d.dst, d.src, ike);
            }
            return;
        }
        let mut pkt = d.data;
        if pkt.len() < 8 {
            return;
        }
        let spi = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
        let to_vpc = !is_cgw;
        let Some(h) = self.host_at(dst_ep) else {
            return;
        };
        let Some(ti) = h.sas.iter().position(|t| t.has_inbound(spi)) else {
            let msg = format!("{:?}: no inbound SA {spi:#x}", now);
            self.flow(to_vpc).lost.push(msg);
            return;
        };
        let sa = h.sas[ti].inbound_mut(spi).expect("found");
        let inner = match sa.decapsulate(&mut pkt) {
            Ok(d) => pkt[d.inner].to_vec(),
            Err(e) => {
                // Duplicates the network made are the replay window's to drop.
                if !matches!(e, cgw_esp::EspError::Replay(_)) {
                    let msg = format!("{now:?}: {spi:#x}: {e}");
                    self.flow(to_vpc).lost.push(msg);
                }
                return;
            }
        };
        h.gw.handle_datapath(
            now,
            DatapathEvent::EspReceived {
                tunnel: ti,
                at: now,
            },
        );
        if let Some(child) = h.sas[ti].rekey_due(Some(spi)) {
            h.gw.handle_datapath(
                now,
                DatapathEvent::RekeyNeeded {
                    tunnel: ti,
                    inbound_spi: child,
                },
            );
        }
        let ours = h.inside[ti].0;
        if let Some(seq) =
            cgw::packet::icmp_echo_reply_seq(&inner, ours, cgw::packet::MONITOR_ECHO_ID)
        {
            h.gw.handle_datapath(now, DatapathEvent::EchoReply { tunnel: ti, seq });
            return;
        }
        // AWS's inside address answers pings (the monitor's echoes).
        if let Some(reply) = echo_reply(&inner, ours) {
            self.seal_and_send(dst_ep, ti, reply);
            return;
        }
        if inner.len() >= 28 && inner[9] == 17 {
            self.flow(to_vpc).received += 1;
        }
    }

    fn flow(&mut self, to_vpc: bool) -> &mut Flow {
        if to_vpc {
            &mut self.to_vpc
        } else {
            &mut self.to_lan
        }
    }

    fn host_at(&mut self, ep: Option<usize>) -> Option<&mut Host> {
        match ep {
            Some(i) => self.aws[i].as_mut(),
            None => Some(&mut self.cgw),
        }
    }

    /// Seals `inner` on host `ep`'s tunnel `tunnel` and puts it on the network; false when
    /// the tunnel has no outbound SA.
    fn seal_and_send(&mut self, ep: Option<usize>, tunnel: usize, inner: Vec<u8>) -> bool {
        let now = self.now;
        let Some(h) = self.host_at(ep) else {
            return false;
        };
        if let Some(child) = h.sas[tunnel].rekey_due(None) {
            h.gw.handle_datapath(
                now,
                DatapathEvent::RekeyNeeded {
                    tunnel,
                    inbound_spi: child,
                },
            );
        }
        let src_ip = h.addr;
        let Some(o) = h.sas[tunnel].outbound_mut() else {
            return false;
        };
        let mut buf = vec![0u8; 64 + inner.len() + o.sa.max_tailroom()];
        buf[64..64 + inner.len()].copy_from_slice(&inner);
        let Ok(r) = o.sa.encapsulate(&mut buf, 64, inner.len(), 4) else {
            return false;
        };
        let (remote, udp) = (o.remote, o.udp_encap);
        let d = Datagram {
            src: SocketAddr::new(src_ip.into(), if udp { cgw_ike::NAT_T_PORT } else { 0 }),
            dst: remote,
            raw_esp: !udp,
            data: buf[r].to_vec(),
        };
        self.send(d);
        true
    }

    /// One test packet each way: cgw's LAN to the VPC on cgw's route, the VPC to the LAN on
    /// the first AWS endpoint whose tunnel carries traffic (the VPC router's preference).
    fn send_traffic(&mut self) {
        self.seq += 1;
        let to_vpc = udp_packet(LAN_HOST, VPC_HOST, self.seq);
        self.to_vpc.sent += 1;
        match self.cgw.route_tunnel(VPC_HOST, &IFINDEX) {
            Some(t) => {
                if !self.seal_and_send(None, t, to_vpc) {
                    let msg = format!("{:?}: cgw tunnel {t} has no outbound SA", self.now);
                    self.to_vpc.lost.push(msg);
                }
            }
            None => {
                let msg = format!("{:?}: cgw has no route to the VPC", self.now);
                self.to_vpc.lost.push(msg);
            }
        }
        let to_lan = udp_packet(VPC_HOST, LAN_HOST, self.seq);
        self.to_lan.sent += 1;
        let ep = (0..2).find(|&i| self.aws[i].as_ref().is_some_and(|h| h.gw.carrying(0)));
        match ep {
            Some(i) => {
                if !self.seal_and_send(Some(i), 0, to_lan) {
                    let msg = format!("{:?}: endpoint {i} has no outbound SA", self.now);
                    self.to_lan.lost.push(msg);
                }
            }
            None => {
                let msg = format!("{:?}: no AWS endpoint carries traffic", self.now);
                self.to_lan.lost.push(msg);
            }
        }
    }

    fn carry_out_all(&mut self) {
        let now = self.now;
        let mut out: Vec<Datagram> = Vec::new();
        let mut echoes: Vec<(Option<usize>, usize, Vec<u8>)> = Vec::new();
        for (ep, h) in std::iter::once((None, &mut self.cgw)).chain(
            self.aws
                .iter_mut()
                .enumerate()
                .filter_map(|(i, h)| h.as_mut().map(|h| (Some(i), h))),
        ) {
            while let Some(a) = h.gw.poll_action() {
                match a {
                    Action::Transmit { tunnel, transmit } => {
                        if h.held[tunnel] {
                            h.barrier_violations.push(format!(
                                "{now:?}: tunnel {tunnel} sent IKE before its barrier passed"
                            ));
                        }
                        h.ike_sent += 1;
                        let data = if transmit.needs_non_esp_marker() {
                            let mut m = vec![0u8; 4];
                            m.extend_from_slice(&transmit.contents);
                            m
                        } else {
                            transmit.contents
                        };
                        out.push(Datagram {
                            src: SocketAddr::new(h.addr.into(), transmit.local.port()),
                            dst: transmit.remote,
                            raw_esp: false,
                            data,
                        });
                    }
                    Action::NatKeepalive { remote, .. } => {
                        h.keepalives += 1;
                        out.push(Datagram {
                            src: SocketAddr::new(h.addr.into(), cgw_ike::NAT_T_PORT),
                            dst: remote,
                            raw_esp: false,
                            data: vec![0xff],
                        })
                    }
                    Action::Datapath(DatapathCommand::Echo { tunnel, seq }) => {
                        h.echoes[tunnel] += 1;
                        let (ours, peer) = h.inside[tunnel];
                        let mut b = vec![0u8; 64];
                        if let Some(n) = cgw::packet::icmp_echo_request(
                            ours,
                            peer,
                            cgw::packet::MONITOR_ECHO_ID,
                            seq,
                            16,
                            &mut b,
                        ) {
                            b.truncate(n);
                            echoes.push((ep, tunnel, b));
                        }
                    }
                    Action::Datapath(cmd) => {
                        let t = cmd.tunnel();
                        h.sas[t].apply(now, cmd);
                    }
                    Action::Barrier { tunnel, token } => {
                        h.held[tunnel] = true;
                        h.barriers.push((tunnel, token));
                    }
                    Action::Routes { source, routes, .. } => {
                        h.fib.insert(source, routes);
                    }
                    Action::Bgp { tunnel, command } => match command {
                        BgpCommand::TunnelUp => h.bgp_up[tunnel] = true,
                        BgpCommand::TunnelDown => h.bgp_up[tunnel] = false,
                        BgpCommand::Shutdown => h.bgp_shutdown[tunnel] = true,
                        BgpCommand::Advertise(r) => h.advertise[tunnel] = Some(r),
                    },
                    Action::StateChanged { tunnel, state } => h.states.push((now, tunnel, state)),
                }
            }
        }
        for d in out {
            self.send(d);
        }
        for (ep, t, b) in echoes {
            self.seal_and_send(ep, t, b);
        }
    }

    /// BGP over an in-memory link per tunnel: up while both ends' gateways say the tunnel
    /// carries traffic; torn down (both ends see the connection close) when either stops.
    fn run_bgp(&mut self) {
        let now = self.now;
        if self.cgw_config.gateway.routing != Routing::Bgp {
            return;
        }
        for i in 0..2 {
            let aws_up = self.aws[i].as_ref().is_some_and(|h| h.bgp_up[0]);
            let cgw_up = self.cgw.bgp_up[i];
            if self.bgp[i].is_none() && aws_up && cgw_up {
                let session = |t: &cgw::config::Tunnel, id: Ipv4Addr| {
                    let sc = t.bgp_session_config(id).expect("bgp config");
                    let mut s = cgw_bgp::Session::new(sc);
                    s.start(now);
                    s
                };
                let c = session(&self.cgw_config.tunnels[i], self.cgw.addr);
                let a = session(
                    &self.aws_configs[i].tunnels[0],
                    self.aws_configs[i].gateway.local_address,
                );
                self.bgp[i] = Some(BgpLink {
                    cgw: c,
                    aws: a,
                    connected: false,
                    aws_dead: false,
                });
            } else if self.bgp[i]
                .as_ref()
                .is_some_and(|l| !cgw_up || (!l.aws_dead && !aws_up))
            {
                if let Some(mut l) = self.bgp[i].take() {
                    l.cgw.stop(now);
                    l.cgw.closed(now);
                    while let Some(ev) = l.cgw.poll_event() {
                        self.cgw.gw.handle_bgp(now, i, ev);
                    }
                    if let Some(h) = self.aws[i].as_mut().filter(|_| !l.aws_dead) {
                        l.aws.stop(now);
                        l.aws.closed(now);
                        while let Some(ev) = l.aws.poll_event() {
                            h.gw.handle_bgp(now, 0, ev);
                        }
                    }
                }
            }
            let Some(l) = self.bgp[i].as_mut() else {
                continue;
            };
            if l.cgw.poll_timeout().is_some_and(|t| t <= now) {
                l.cgw.handle_timeout(now);
            }
            if !l.aws_dead && l.aws.poll_timeout().is_some_and(|t| t <= now) {
                l.aws.handle_timeout(now);
            }
            for _ in 0..8 {
                let mut moved = false;
                while let Some(b) = l.cgw.poll_transmit() {
                    moved = true;
                    if l.connected && !l.aws_dead {
                        l.aws.handle_bytes(now, &b);
                    }
                }
                while let Some(b) = l.aws.poll_transmit().filter(|_| !l.aws_dead) {
                    moved = true;
                    if l.connected {
                        l.cgw.handle_bytes(now, &b);
                    }
                }
                while let Some(ev) = l.cgw.poll_event() {
                    moved = true;
                    match ev {
                        cgw_bgp::Event::WantConnect => {
                            // AWS is passive: cgw's connection is the one.
                            if !l.connected && l.cgw.connected(now) && l.aws.accept(now) {
                                l.connected = true;
                            }
                        }
                        cgw_bgp::Event::Disconnect => l.connected = false,
                        ev => self.cgw.gw.handle_bgp(now, i, ev),
                    }
                }
                while let Some(ev) = l.aws.poll_event().filter(|_| !l.aws_dead) {
                    moved = true;
                    match ev {
                        cgw_bgp::Event::WantConnect | cgw_bgp::Event::Disconnect => {}
                        ev => {
                            if let Some(h) = self.aws[i].as_mut() {
                                h.gw.handle_bgp(now, 0, ev);
                            }
                        }
                    }
                }
                // What the gateways asked the sessions to advertise (on Established).
                if let Some(r) = self.cgw.advertise[i].take() {
                    l.cgw.advertise(now, &r);
                    moved = true;
                }
                if let Some(r) = self.aws[i].as_mut().and_then(|h| h.advertise[0].take()) {
                    l.aws.advertise(now, &r);
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
        }
    }

    /// Whether BGP session `i` is established at both ends.
    pub fn bgp_established(&self, i: usize) -> bool {
        self.bgp[i]
            .as_ref()
            .is_some_and(|l| l.cgw.is_established() && l.aws.is_established())
    }

    /// The tunnel cgw routes VPC traffic through.
    pub fn vpc_route(&self) -> Option<usize> {
        self.cgw.route_tunnel(VPC_HOST, &IFINDEX)
    }

    /// Both of cgw's tunnels and both endpoints up and carrying traffic.
    pub fn all_up(&self) -> bool {
        (0..2).all(|i| {
            self.cgw.gw.carrying(i) && self.aws[i].as_ref().is_some_and(|h| h.gw.carrying(0))
        })
    }

    /// SAs held: (IKE SAs, Child SAs) summed over cgw's tunnels.
    pub fn cgw_sa_counts(&self) -> (usize, usize) {
        (0..2).fold((0, 0), |(i, c), t| {
            let conn = self.cgw.gw.connection(t);
            (i + conn.ike_sa_count(), c + conn.child_sa_count())
        })
    }
}

/// An IPv4/UDP packet with a sequence number.
pub fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, seq: u64) -> Vec<u8> {
    let mut p = vec![0u8; 100];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&100u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let c = cgw::packet::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20..22].copy_from_slice(&5000u16.to_be_bytes());
    p[22..24].copy_from_slice(&5000u16.to_be_bytes());
    p[24..26].copy_from_slice(&80u16.to_be_bytes());
    p[28..36].copy_from_slice(&seq.to_be_bytes());
    p
}

/// The answer a host at `ours` gives to an ICMP echo request addressed to it.
fn echo_reply(pkt: &[u8], ours: Ipv4Addr) -> Option<Vec<u8>> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    if pkt.len() < ihl + 8 || pkt[9] != 1 || pkt[16..20] != ours.octets() || pkt[ihl] != 8 {
        return None;
    }
    let mut r = pkt.to_vec();
    r[12..16].copy_from_slice(&pkt[16..20]);
    r[16..20].copy_from_slice(&pkt[12..16]);
    r[10..12].copy_from_slice(&[0, 0]);
    let c = cgw::packet::checksum(&r[..ihl]);
    r[10..12].copy_from_slice(&c.to_be_bytes());
    r[ihl] = 0;
    r[ihl + 2..ihl + 4].copy_from_slice(&[0, 0]);
    let c = cgw::packet::checksum(&r[ihl..]);
    r[ihl + 2..ihl + 4].copy_from_slice(&c.to_be_bytes());
    Some(r)
}

/// Shortcut for seconds.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
