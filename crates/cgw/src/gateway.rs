//! The gateway as a sans-IO state machine: everything `cgw up` decides, with no socket, no
//! TUN device, no netlink and no clock.
//!
//! It owns, per tunnel, the IKE [`Connection`] (with its dead-peer detection, fed with "ESP
//! heard from the peer at t"), the tunnel monitor, restart with backoff, and the Child SA
//! bookkeeping the data path follows; across the tunnels, static failover and failback with
//! hold-down, BGP session gating on tunnel health, the BGP RIB and the desired routes.
//!
//! Inputs, in the quinn style: [`Gateway::handle_ike`], [`Gateway::handle_datapath`],
//! [`Gateway::handle_bgp`], [`Gateway::handle_barrier`], [`Gateway::handle_timeout`] and
//! [`Gateway::close`], each with `now`. Outputs: [`Gateway::poll_timeout`] (the exact next
//! deadline; there is no periodic tick) and [`Gateway::poll_action`] (IKE datagrams, data-path
//! commands, barriers, desired routes, BGP commands, state changes), to be carried out in
//! order. The driver (`cgw up`'s daemon) only moves bytes and actions.
//!
//! The ordering rule: when outbound traffic of a tunnel moves to another SA (or an SA goes),
//! the gateway emits the data-path commands, then an [`Action::Barrier`], and holds that
//! tunnel's IKE datagrams until the driver reports the barrier passed
//! ([`Gateway::handle_barrier`]): packets sealed with the old SA are then in the kernel before
//! the Delete or response that tells the peer. Other tunnels are not held.

use crate::config::{CgwConfig, DpdAction, Role, Routing, StartupAction};
use crate::failover::{Failover, Health};
use crate::fib::{Route, Rule, Source, MAIN_TABLE, RULE_PRIORITY};
use crate::sa_table::DatapathCommand;
use crate::status::{
    BgpInstalledRoute, BgpReceivedRoute, BgpStatus, ChildSaStatus, Counters, IkeDrops, IkeSaStatus,
    MonitorStatus, NextRekey, Rekeys, RouteStatus, RoutingMode, Status, TunnelState, TunnelStatus,
};
use cgw_bgp::{Ipv4Prefix, LocalRoute};
use cgw_crypto::Random;
use cgw_ike::{Connection, Event, IkeError, Transmit};
use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Interval of NAT keepalives (RFC 3948 4: 20 s is customary).
pub const NAT_KEEPALIVE: Duration = Duration::from_secs(20);
/// First and longest wait between attempts to bring a tunnel up.
pub const RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(30);
/// How long a replaced inbound SA still accepts packets after a rekey.
pub const REKEY_GRACE: Duration = Duration::from_secs(5);
/// At most one log line at INFO or above per tunnel in this interval for failures of IKE SAs
/// that never authenticated (the rest go to DEBUG, and all are counted).
pub const STRAY_LOG_INTERVAL: Duration = Duration::from_secs(60);
/// How long a tunnel's IKE datagrams wait for the data path to confirm an SA switch.
pub const BARRIER_TIMEOUT: Duration = Duration::from_millis(200);
/// After the data path confirmed a switch, the IKE datagrams that waited for it (typically
/// the Delete of the replaced Child SA) wait this much longer: the last packets sealed with
/// the old SA are then not just in our kernel but through the peer's ESP processing before
/// the peer removes that SA (an implementation that handles ESP and IKE on separate threads,
/// such as strongSwan's libipsec, would otherwise drop what is still queued).
pub const SWITCH_SETTLE: Duration = Duration::from_millis(100);
/// With `startup_action = "respond"`, how long cgw waits for AWS before initiating itself.
pub const RESPOND_WAIT: Duration = Duration::from_secs(30);

/// What the driver must do, in the order given.
#[derive(Debug)]
pub enum Action {
    /// Send an IKE message (with the non-ESP marker when [`Transmit::needs_non_esp_marker`]).
    Transmit {
        /// The tunnel.
        tunnel: usize,
        /// The datagram.
        transmit: Transmit,
    },
    /// Send a NAT-keepalive (RFC 3948 2.3: one 0xff octet) from port 4500 to `remote`.
    NatKeepalive {
        /// The tunnel.
        tunnel: usize,
        /// The peer's NAT-T address.
        remote: SocketAddr,
    },
    /// Hand this to the data path.
    Datapath(DatapathCommand),
    /// Ask the data path to confirm that it applied every earlier command and handed to the
    /// kernel everything it sealed before; then call [`Gateway::handle_barrier`].
    Barrier {
        /// The tunnel whose IKE datagrams wait for it.
        tunnel: usize,
        /// Pass back to [`Gateway::handle_barrier`].
        token: u64,
    },
    /// The routes and rules `source` wants in the kernel now (the whole set: replaces the
    /// previous one of that source).
    Routes {
        /// Static routing or BGP.
        source: Source,
        /// Routes.
        routes: Vec<Route>,
        /// Policy rules.
        rules: Vec<Rule>,
    },
    /// Tell tunnel `tunnel`'s BGP session this.
    Bgp {
        /// The tunnel.
        tunnel: usize,
        /// The command.
        command: BgpCommand,
    },
    /// A tunnel's state changed (as `cgw status` shows it).
    StateChanged {
        /// The tunnel.
        tunnel: usize,
        /// Its new state.
        state: TunnelState,
    },
}

/// What the data path reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatapathEvent {
    /// Valid ESP from the peer arrived at `at` (proof of life for dead-peer detection).
    EspReceived {
        /// The tunnel.
        tunnel: usize,
        /// When the latest packet arrived.
        at: Instant,
    },
    /// An answer to a monitor echo.
    EchoReply {
        /// The tunnel.
        tunnel: usize,
        /// Its sequence number.
        seq: u16,
    },
    /// An SA of this Child SA reached a soft limit (packets, bytes, sequence numbers).
    RekeyNeeded {
        /// The tunnel.
        tunnel: usize,
        /// The Child SA's inbound SPI.
        inbound_spi: u32,
    },
}

/// What a tunnel's BGP session is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BgpCommand {
    /// The tunnel carries traffic: (re)start the session.
    TunnelUp,
    /// The tunnel stopped carrying traffic: the session ends now, not after the hold time.
    TunnelDown,
    /// Advertise these prefixes.
    Advertise(Vec<LocalRoute>),
    /// Send a Cease and stop (shutdown).
    Shutdown,
}

/// What the gateway needs to know of the host.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Per tunnel: the interface index of its TUN device (routes name it).
    pub ifindexes: Vec<u32>,
    /// Prefixes connected to `advertise_interfaces`, advertised over BGP besides `lan`.
    pub connected: Vec<Ipv4Prefix>,
}

/// The keys of a Child SA, kept for `cgw keys --wireshark` in the engine's secret type
/// (wiped when the Child SA goes).
struct EspKeys {
    inbound_spi: u32,
    outbound_spi: u32,
    suite: cgw_ike::EspSuite,
    inbound: cgw_ike::ChildSaKeys,
    outbound: cgw_ike::ChildSaKeys,
    local: SocketAddr,
    remote: SocketAddr,
}

/// The tunnel monitor: one ICMP echo to AWS's inside address per interval while the Child SA
/// is up, repeated once at half the interval if unanswered; an interval in which neither was
/// answered is a miss, and `threshold` misses in a row mean the tunnel does not carry
/// traffic. (The repeat keeps random loss from looking like an outage: at 10 % loss each
/// way an echo goes unanswered one time in five, an interval one time in 28, five intervals
/// in a row one time in 16 million; without the repeat, one time in 4,000.)
#[derive(Debug)]
struct Monitor {
    enabled: bool,
    interval: Duration,
    threshold: u32,
    next_ping: Option<Instant>,
    retry_at: Option<Instant>,
    seq: u16,
    /// The unanswered probe of this interval: its echoes' sequence numbers and send times.
    probe: Option<[(u16, Instant); 2]>,
    misses: u32,
    up: bool,
    up_since: Option<Instant>,
    last_rtt: Option<Duration>,
}

impl Monitor {
    fn new(enabled: bool, interval: Duration, threshold: u32) -> Self {
        Self {
            enabled,
            interval,
            threshold,
            next_ping: None,
            retry_at: None,
            seq: 0,
            probe: None,
            misses: 0,
            up: false,
            up_since: None,
            last_rtt: None,
        }
    }

    /// The Child SA came up: the first echo goes now.
    fn start(&mut self, now: Instant) {
        if self.enabled && self.next_ping.is_none() {
            self.next_ping = Some(now);
        }
    }

    /// The Child SA went: nothing to probe, nothing alive.
    fn stop(&mut self) {
        self.next_ping = None;
        self.retry_at = None;
        self.probe = None;
        self.misses = 0;
        self.up = false;
        self.up_since = None;
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.next_ping, self.retry_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// At an echo time: the sequence number to send, and whether the tunnel just went down.
    fn due(&mut self, now: Instant) -> Option<(u16, bool)> {
        if self.next_ping.is_some_and(|t| now >= t) {
            if self.probe.take().is_some() {
                self.misses += 1;
            }
            self.seq = self.seq.wrapping_add(1);
            self.probe = Some([(self.seq, now); 2]);
            self.next_ping = Some(now + self.interval);
            self.retry_at = Some(now + self.interval / 2);
            let down = self.up && self.misses >= self.threshold;
            if down {
                self.up = false;
                self.up_since = None;
            }
            return Some((self.seq, down));
        }
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            if let Some(p) = self.probe.as_mut() {
                self.seq = self.seq.wrapping_add(1);
                p[1] = (self.seq, now);
                return Some((self.seq, false));
            }
        }
        None
    }

    /// An echo answer; true when it brought the tunnel up.
    fn reply(&mut self, now: Instant, seq: u16) -> bool {
        let Some(sent) = self
            .probe
            .and_then(|p| p.iter().find(|e| e.0 == seq).map(|e| e.1))
        else {
            return false;
        };
        self.probe = None;
        self.retry_at = None;
        self.misses = 0;
        self.last_rtt = Some(now.saturating_duration_since(sent));
        let came_up = !self.up;
        if came_up {
            self.up = true;
            self.up_since = Some(now);
        }
        came_up
    }
}

struct ChildState {
    inbound_spi: u32,
    outbound_spi: u32,
    algorithms: String,
    udp_encap: bool,
    since: Instant,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
}

struct IkeState {
    info: cgw_ike::IkeSaInfo,
    since: Instant,
}

struct Tunnel {
    cfg: crate::config::Tunnel,
    conn: Connection,
    ifindex: u32,
    ike: Option<IkeState>,
    child: Option<ChildState>,
    /// A rekeyed Child SA whose outbound SA is not in use yet.
    pending_child: Option<ChildState>,
    next_initiate: Option<Instant>,
    backoff: Duration,
    monitor: Monitor,
    stray_failures: u64,
    stray_logged: Option<Instant>,
    last_error: Option<String>,
    next_keepalive: Option<Instant>,
    /// What we last told the BGP session (carrying traffic or not).
    bgp_up: bool,
    esp_keys: Vec<EspKeys>,
    /// A barrier in flight (token, give up at): IKE datagrams wait for it.
    barrier: Option<(u64, Instant)>,
    /// After a barrier passed: IKE datagrams wait until then ([`SWITCH_SETTLE`]).
    settle_until: Option<Instant>,
    /// The barrier in flight moved outbound traffic to a rekeyed Child SA: settle after it.
    settle_after_barrier: bool,
    /// The data path asked to rekey this Child SA (a soft limit) while the engine could not
    /// start it (another exchange in flight): tried again after each input.
    rekey_wanted: Option<u32>,
    /// The state last reported with [`Action::StateChanged`].
    reported: TunnelState,
    /// The summary of refused IKE_SA_INIT requests.
    flood: FloodLog,
}

/// IKE_SA_INIT requests answered with a COOKIE or dropped (the half-open cap, the rate limit,
/// the size limit) are per packet: they are logged as a summary, one WARN when they start,
/// then one line a minute with the counts while they go on, and one when they stop.
#[derive(Default)]
struct FloodLog {
    /// (cookies sent, requests dropped) when last logged.
    logged: (u64, u64),
    /// When the next summary is due, while a flood is on.
    next: Option<Instant>,
}

/// How often a flood of IKE_SA_INIT is summarised in the log.
pub const FLOOD_LOG_INTERVAL: Duration = Duration::from_secs(60);

fn refusals(conn: &Connection) -> (u64, u64) {
    let s = conn.stats();
    (
        s.cookies_sent,
        s.init_requests_over_half_open_cap
            + s.init_requests_rate_limited
            + s.init_requests_too_large,
    )
}

impl FloodLog {
    /// After input: the first refusal of a flood is logged at once.
    fn input(&mut self, now: Instant, name: &str, peer: Ipv4Addr, conn: &Connection) {
        let now_counts = refusals(conn);
        if self.next.is_some() || now_counts == self.logged {
            return;
        }
        warn!(
            "{name}: IKE_SA_INIT requests from {peer}'s address are being answered with a COOKIE or dropped ({} half-open IKE SAs): a flood, or a peer retrying hard; a summary follows every {} s while it lasts",
            conn.half_open_count(),
            FLOOD_LOG_INTERVAL.as_secs()
        );
        self.logged = now_counts;
        self.next = Some(now + FLOOD_LOG_INTERVAL);
    }

    /// At its timer: the counts since the last line, or the end of the flood.
    fn timeout(&mut self, now: Instant, name: &str, conn: &Connection) {
        if self.next.is_none_or(|n| now < n) {
            return;
        }
        let (cookies, dropped) = refusals(conn);
        let (c0, d0) = self.logged;
        if (cookies, dropped) == self.logged {
            info!(
                "{name}: no more IKE_SA_INIT requests refused in the last {} s",
                FLOOD_LOG_INTERVAL.as_secs()
            );
            self.next = None;
            return;
        }
        warn!(
            "{name}: in the last {} s, {} IKE_SA_INIT requests answered with a COOKIE and {} dropped (half-open cap, rate or size limit); {} half-open IKE SAs",
            FLOOD_LOG_INTERVAL.as_secs(),
            cookies - c0,
            dropped - d0,
            conn.half_open_count()
        );
        self.logged = (cookies, dropped);
        self.next = Some(now + FLOOD_LOG_INTERVAL);
    }
}

impl Tunnel {
    fn state(&self) -> TunnelState {
        match (&self.ike, &self.child) {
            (Some(_), Some(_)) => TunnelState::Up,
            (Some(_), None) => TunnelState::IkeOnly,
            _ if self.conn.is_connecting() => TunnelState::Connecting,
            _ => TunnelState::Down,
        }
    }

    /// Carries traffic: its Child SA is up and, with the monitor on, AWS answers through it.
    fn carrying(&self) -> bool {
        self.child.is_some() && (!self.monitor.enabled || self.monitor.up)
    }

    fn health(&self) -> Health {
        Health {
            up: self.carrying(),
            up_since: if self.monitor.enabled {
                self.monitor.up_since
            } else {
                self.child.as_ref().map(|c| c.since)
            },
        }
    }

    fn keepalive_wanted(&self) -> bool {
        match (&self.ike, &self.child) {
            (Some(ike), Some(child)) => child.udp_encap && ike.info.local_behind_nat,
            _ => false,
        }
    }
}

#[derive(Default, Clone)]
struct BgpSession {
    state: &'static str,
    since: Option<Instant>,
    last_error: Option<String>,
    peer_asn: u32,
}

/// The BGP side: which tunnels run a session, the RIB and the routes it wants.
struct Bgp {
    enabled: Vec<bool>,
    rib: cgw_bgp::Rib,
    /// Best paths per prefix: the tunnels carrying it.
    installed: BTreeMap<Ipv4Prefix, Vec<usize>>,
    sessions: Vec<BgpSession>,
    lan: Vec<LocalRoute>,
    local_pref: Vec<Option<u32>>,
}

/// The gateway: every tunnel and the routing decisions across them.
pub struct Gateway {
    tunnels: Vec<Tunnel>,
    routing: Routing,
    failover: Failover,
    remote_cidrs: Vec<ipnet::Ipv4Net>,
    table: u32,
    rules: Vec<Rule>,
    bgp: Bgp,
    actions: VecDeque<Action>,
    esp_rng: Box<dyn Random>,
    next_token: u64,
    closing: bool,
    /// IKE datagrams from addresses that are no tunnel's peer.
    ike_from_strangers: u64,
}

impl Gateway {
    /// A gateway for a validated configuration at `now`. `rng` makes one random source per
    /// IKE connection and one for the ESP SAs' IV keys.
    pub fn new(
        config: &CgwConfig,
        setup: Setup,
        now: Instant,
        rng: &mut dyn FnMut() -> Box<dyn Random>,
    ) -> Result<Self, String> {
        let monitor_enabled = config.monitor.enabled;
        let mut tunnels = Vec::new();
        for (i, t) in config.tunnels.iter().enumerate() {
            let ike = config.try_ike_config(i).map_err(|e| e.to_string())?;
            let first = if t.role == Role::AwsEndpoint {
                None
            } else {
                Some(match t.startup_action {
                    StartupAction::Initiate => now,
                    // AWS initiates; we answer, and start ourselves if nothing came.
                    StartupAction::Respond => now + RESPOND_WAIT,
                })
            };
            tunnels.push(Tunnel {
                cfg: t.clone(),
                conn: Connection::new(ike, rng()),
                ifindex: setup.ifindexes.get(i).copied().unwrap_or(0),
                ike: None,
                child: None,
                pending_child: None,
                next_initiate: first,
                backoff: RETRY_MIN,
                monitor: Monitor::new(
                    monitor_enabled,
                    Duration::from_secs(config.monitor.interval_secs.max(1)),
                    config.monitor.threshold.max(1),
                ),
                stray_failures: 0,
                stray_logged: None,
                last_error: None,
                next_keepalive: None,
                bgp_up: false,
                esp_keys: Vec::new(),
                barrier: None,
                settle_until: None,
                settle_after_barrier: false,
                rekey_wanted: None,
                reported: TunnelState::Down,
                flood: FloodLog::default(),
            });
        }
        let g = &config.gateway;
        let table = g.route_table.unwrap_or(MAIN_TABLE);
        let rules = match g.route_table {
            Some(t) => g
                .lan
                .iter()
                .map(|l| Rule {
                    from: *l,
                    table: t,
                    priority: RULE_PRIORITY,
                })
                .collect(),
            None => Vec::new(),
        };
        // At start the primary gets the time the monitor needs to decide (and at least 10 s)
        // to come up before a backup whose echo happened to answer first takes the routes.
        let startup_grace = Duration::from_secs(
            (config.monitor.interval_secs * u64::from(config.monitor.threshold)).max(10),
        );
        let mut lan: Vec<LocalRoute> = g
            .lan
            .iter()
            .filter_map(|n| Ipv4Prefix::new(n.network(), n.prefix_len()).ok())
            .map(LocalRoute::from)
            .collect();
        for p in &setup.connected {
            if !lan.iter().any(|r| r.prefix == *p) {
                info!("BGP: advertising {p}, connected to an advertise_interfaces device");
                lan.push(LocalRoute::from(*p));
            }
        }
        let bgp_on = g.routing == Routing::Bgp;
        if bgp_on && lan.len() > 100 {
            warn!(
                "BGP: advertising {} prefixes; a virtual private gateway accepts at most 100",
                lan.len()
            );
        }
        let mut gw = Self {
            bgp: Bgp {
                enabled: config
                    .tunnels
                    .iter()
                    .map(|t| bgp_on && t.bgp.is_some())
                    .collect(),
                rib: cgw_bgp::Rib::new(cgw_bgp::RibConfig {
                    ecmp: g.bgp_ecmp,
                    ..Default::default()
                }),
                installed: BTreeMap::new(),
                sessions: vec![
                    BgpSession {
                        state: "idle",
                        ..Default::default()
                    };
                    tunnels.len()
                ],
                lan,
                local_pref: config
                    .tunnels
                    .iter()
                    .map(|t| t.bgp.as_ref().and_then(|b| b.local_pref))
                    .collect(),
            },
            tunnels,
            routing: g.routing,
            failover: Failover::new(Duration::from_secs(config.monitor.failback_hold_secs))
                .with_startup_grace(now, startup_grace),
            remote_cidrs: g.remote_cidrs.clone(),
            table,
            rules,
            actions: VecDeque::new(),
            esp_rng: rng(),
            next_token: 0,
            closing: false,
            ike_from_strangers: 0,
        };
        if gw.tunnels.is_empty() {
            return Err("no tunnels configured".into());
        }
        if gw.routing == Routing::Static {
            gw.push_static_routes();
            info!(
                "routes: {} via {} ({})",
                gw.remote_cidrs
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                gw.tunnels[0].cfg.device,
                gw.tunnels[0].cfg.name
            );
        } else {
            info!(
                "routing = {}: cgw installs no routes for the VPC",
                routing_mode(gw.routing)
            );
        }
        Ok(gw)
    }

    /// Number of tunnels.
    pub fn tunnel_count(&self) -> usize {
        self.tunnels.len()
    }

    /// Tunnel `i`'s name.
    pub fn tunnel_name(&self, i: usize) -> &str {
        &self.tunnels[i].cfg.name
    }

    /// Tunnel `i`'s state.
    pub fn tunnel_state(&self, i: usize) -> TunnelState {
        self.tunnels[i].state()
    }

    /// Whether tunnel `i` carries traffic (Child SA up and, with the monitor, AWS answering).
    pub fn carrying(&self, i: usize) -> bool {
        self.tunnels[i].carrying()
    }

    /// Tunnel `i`'s IKE connection (read-only: for status and tests).
    pub fn connection(&self, i: usize) -> &Connection {
        &self.tunnels[i].conn
    }

    /// The tunnel static routing sends traffic to.
    pub fn active_tunnel(&self) -> usize {
        self.failover.active().min(self.tunnels.len() - 1)
    }

    /// How often static routing moved the routes.
    pub fn failovers(&self) -> u64 {
        self.failover.failovers()
    }

    /// The tunnel whose AWS endpoint has this address.
    pub fn tunnel_of_peer(&self, peer: IpAddr) -> Option<usize> {
        self.tunnels
            .iter()
            .position(|t| IpAddr::V4(t.cfg.aws_outside_address) == peer)
    }

    /// An IKE message from `remote` arrived at `local` (non-ESP marker already removed).
    pub fn handle_ike(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        match self.tunnel_of_peer(remote.ip()) {
            Some(i) => {
                let t = &mut self.tunnels[i];
                t.conn.handle_datagram(now, local, remote, data);
                t.flood
                    .input(now, &t.cfg.name, t.cfg.aws_outside_address, &t.conn);
                self.drive(i, now);
                self.after_change(now);
            }
            None => {
                self.ike_from_strangers += 1;
                debug!("IKE message from {remote}, which is not one of our AWS endpoints: ignored")
            }
        }
    }

    /// Something the data path saw.
    pub fn handle_datapath(&mut self, now: Instant, ev: DatapathEvent) {
        match ev {
            DatapathEvent::EspReceived { tunnel, at } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    t.conn.esp_received(at);
                }
                // Only the engine's DPD timer moves: nothing to drive.
                return;
            }
            DatapathEvent::EchoReply { tunnel, seq } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    if t.monitor.reply(now, seq) {
                        info!(
                            "{}: monitor: AWS inside address {} answers",
                            t.cfg.name,
                            t.cfg.aws_inside_address()
                        );
                    }
                }
            }
            DatapathEvent::RekeyNeeded {
                tunnel,
                inbound_spi,
            } => {
                if let Some(t) = self.tunnels.get_mut(tunnel) {
                    info!("{}: the Child SA reached its packet, byte or sequence number limit: rekeying it", t.cfg.name);
                    t.rekey_wanted = Some(inbound_spi);
                    self.drive(tunnel, now);
                }
            }
        }
        self.after_change(now);
    }

    /// The data path confirmed barrier `token` of `tunnel`: its IKE datagrams may go.
    pub fn handle_barrier(&mut self, now: Instant, tunnel: usize, token: u64) {
        let Some(t) = self.tunnels.get_mut(tunnel) else {
            return;
        };
        if t.barrier.is_some_and(|(b, _)| b == token) {
            t.barrier = None;
            if std::mem::take(&mut t.settle_after_barrier) {
                t.settle_until = Some(now + SWITCH_SETTLE);
            }
            self.drive(tunnel, now);
            self.after_change(now);
        }
    }

    /// An event of tunnel `tunnel`'s BGP session.
    pub fn handle_bgp(&mut self, now: Instant, tunnel: usize, event: cgw_bgp::Event) {
        if tunnel >= self.tunnels.len() {
            return;
        }
        let sid = cgw_bgp::SessionId(tunnel as u32);
        let name = self.tunnels[tunnel].cfg.name.clone();
        let changes = match event {
            cgw_bgp::Event::Established {
                peer_asn,
                peer_id,
                hold_time,
                ..
            } => {
                info!("{name}: BGP session with AS{peer_asn} ({peer_id}) established, hold time {hold_time} s");
                self.bgp.sessions[tunnel] = BgpSession {
                    state: "established",
                    since: Some(now),
                    last_error: None,
                    peer_asn,
                };
                self.actions.push_back(Action::Bgp {
                    tunnel,
                    command: BgpCommand::Advertise(self.bgp.lan.clone()),
                });
                self.bgp.rib.session_up(
                    sid,
                    cgw_bgp::PeerInfo {
                        peer_id,
                        peer_address: self.tunnels[tunnel].cfg.aws_inside_address(),
                        peer_asn,
                        external: true,
                        local_pref: self.bgp.local_pref[tunnel],
                    },
                )
            }
            cgw_bgp::Event::Update {
                announced,
                withdrawn,
            } => self.bgp.rib.update(sid, &announced, &withdrawn),
            cgw_bgp::Event::Down {
                reason,
                was_established,
            } => {
                if was_established {
                    warn!("{name}: BGP session down: {reason}");
                }
                let st = &mut self.bgp.sessions[tunnel];
                st.state = "down";
                st.since = Some(now);
                st.last_error = Some(reason.to_string());
                self.bgp.rib.session_down(sid)
            }
            _ => Vec::new(),
        };
        if changes.is_empty() {
            return;
        }
        for c in changes {
            self.bgp_route_change(c);
        }
        self.push_bgp_routes();
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..self.tunnels.len() {
            let t = &mut self.tunnels[i];
            t.conn.handle_timeout(now);
            t.flood.timeout(now, &t.cfg.name, &t.conn);
            if let Some(at) = t.next_initiate {
                if now >= at {
                    t.next_initiate = None;
                    if !t.conn.is_established() && !t.conn.is_connecting() && !self.closing {
                        info!(
                            "{}: initiating IKE_SA_INIT to {}",
                            t.cfg.name, t.cfg.aws_outside_address
                        );
                        t.conn.initiate(now);
                    }
                }
            }
            if t.child.is_some() {
                if let Some((seq, down)) = t.monitor.due(now) {
                    self.actions
                        .push_back(Action::Datapath(DatapathCommand::Echo { tunnel: i, seq }));
                    if down {
                        warn!(
                            "{}: monitor: {} echoes to {} unanswered: tunnel considered down",
                            t.cfg.name,
                            t.monitor.misses,
                            t.cfg.aws_inside_address()
                        );
                    }
                }
            }
            if t.keepalive_wanted() {
                if t.next_keepalive.is_none_or(|k| now >= k) {
                    self.actions.push_back(Action::NatKeepalive {
                        tunnel: i,
                        remote: SocketAddr::new(
                            IpAddr::V4(t.cfg.aws_outside_address),
                            cgw_ike::NAT_T_PORT,
                        ),
                    });
                    t.next_keepalive = Some(now + NAT_KEEPALIVE);
                }
            } else {
                t.next_keepalive = None;
            }
            if t.settle_until.is_some_and(|u| now >= u) {
                t.settle_until = None;
            }
            if t.barrier.is_some_and(|(_, until)| now >= until) {
                warn!(
                    "{}: the data path did not confirm an SA switch within {} ms",
                    t.cfg.name,
                    BARRIER_TIMEOUT.as_millis()
                );
                t.barrier = None;
            }
            self.drive(i, now);
        }
        self.after_change(now);
    }

    /// The next time [`Gateway::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut add = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        for t in &self.tunnels {
            add(t.conn.poll_timeout());
            add(t.next_initiate);
            if t.child.is_some() {
                add(t.monitor.poll_timeout());
            }
            if t.keepalive_wanted() {
                add(t.next_keepalive);
            }
            add(t.barrier.map(|(_, until)| until));
            add(t.settle_until);
            add(t.flood.next);
        }
        if self.static_failover() {
            add(self.failover.poll_timeout(&self.health()));
        }
        next
    }

    /// The next thing for the driver to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Shutdown: Delete every SA (the peer is told), stop the BGP sessions, withdraw the
    /// routes. Keep driving until [`Gateway::is_closed`] (or the driver's patience ends).
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        for i in 0..self.tunnels.len() {
            let t = &mut self.tunnels[i];
            t.next_initiate = None;
            t.conn.close(now);
            if self.bgp.enabled[i] {
                self.actions.push_back(Action::Bgp {
                    tunnel: i,
                    command: BgpCommand::Shutdown,
                });
            }
            self.drive(i, now);
        }
        self.bgp.installed.clear();
        self.push_bgp_routes();
        self.actions.push_back(Action::Routes {
            source: Source::Static,
            routes: Vec::new(),
            rules: Vec::new(),
        });
        self.after_change(now);
    }

    /// After [`Gateway::close`]: every IKE SA is gone (deleted, or given up).
    pub fn is_closed(&self) -> bool {
        self.closing && self.tunnels.iter().all(|t| t.conn.ike_sa_count() == 0)
    }

    fn static_failover(&self) -> bool {
        self.routing == Routing::Static && self.tunnels.len() > 1 && !self.closing
    }

    fn health(&self) -> Vec<Health> {
        self.tunnels.iter().map(|t| t.health()).collect()
    }

    /// Takes tunnel `i`'s engine output: events first (data-path commands, so a new inbound
    /// SA is installed before the response that announces it leaves), then a barrier if
    /// outbound traffic moved, then its datagrams unless a barrier holds them.
    fn drive(&mut self, i: usize, now: Instant) {
        let t = &mut self.tunnels[i];
        if let Some(spi) = t.rekey_wanted {
            let ours = |c: &Option<ChildState>| c.as_ref().is_some_and(|c| c.inbound_spi == spi);
            if t.conn.rekey_child_sa(now, spi) || !(ours(&t.child) || ours(&t.pending_child)) {
                // Started, or that Child SA is gone (replaced by a rekey from the peer).
                t.rekey_wanted = None;
            }
        }
        let mut switched = false;
        let mut moved = false;
        while let Some(ev) = self.tunnels[i].conn.poll_event() {
            switched |= matches!(ev, Event::ChildSaEstablished(ref c) if c.outbound_active)
                || matches!(
                    ev,
                    Event::ChildSaOutboundActivated { .. } | Event::ChildSaDeleted { .. }
                );
            // Outbound traffic left a Child SA that the peer still has (and will delete).
            moved |= matches!(ev, Event::ChildSaEstablished(ref c)
                    if c.outbound_active && c.rekey_of.is_some())
                || matches!(ev, Event::ChildSaOutboundActivated { .. });
            on_event(
                &mut self.tunnels[i],
                i,
                now,
                ev,
                &mut self.actions,
                &mut *self.esp_rng,
            );
        }
        let t = &mut self.tunnels[i];
        // Behind a NAT the first keepalive goes at once, then every NAT_KEEPALIVE.
        if t.keepalive_wanted() && t.next_keepalive.is_none() {
            t.next_keepalive = Some(now);
        }
        if switched {
            self.next_token += 1;
            t.barrier = Some((self.next_token, now + BARRIER_TIMEOUT));
            t.settle_after_barrier = moved;
            self.actions.push_back(Action::Barrier {
                tunnel: i,
                token: self.next_token,
            });
        }
        if t.barrier.is_none() && t.settle_until.is_none() {
            while let Some(transmit) = t.conn.poll_transmit() {
                self.actions.push_back(Action::Transmit {
                    tunnel: i,
                    transmit,
                });
            }
        }
    }

    /// Across the tunnels: BGP gating, static failover, state changes.
    fn after_change(&mut self, now: Instant) {
        for (i, t) in self.tunnels.iter_mut().enumerate() {
            // A BGP session runs while its tunnel carries traffic; when the tunnel dies (DPD,
            // the monitor, a Delete) the session ends at once, not after the hold time.
            let carrying = t.carrying() && !self.closing;
            if carrying != t.bgp_up {
                t.bgp_up = carrying;
                if self.bgp.enabled[i] {
                    self.actions.push_back(Action::Bgp {
                        tunnel: i,
                        command: if carrying {
                            BgpCommand::TunnelUp
                        } else {
                            BgpCommand::TunnelDown
                        },
                    });
                }
            }
            let state = t.state();
            if state != t.reported {
                t.reported = state;
                self.actions
                    .push_back(Action::StateChanged { tunnel: i, state });
            }
        }
        if self.static_failover() {
            let health = self.health();
            let before = self.failover.active();
            if let Some(active) = self.failover.update(now, &health) {
                warn!(
                    "failover: routes move from {} to {} ({})",
                    self.tunnels[before.min(self.tunnels.len() - 1)].cfg.name,
                    self.tunnels[active].cfg.name,
                    if active == 0 {
                        "primary healthy again for the hold-down"
                    } else {
                        "primary tunnel down"
                    }
                );
                self.push_static_routes();
            }
        }
    }

    fn push_static_routes(&mut self) {
        let oif = self.tunnels[self.active_tunnel()].ifindex;
        let routes = self
            .remote_cidrs
            .iter()
            .map(|c| Route::new(*c, self.table, 0, vec![oif]))
            .collect();
        self.actions.push_back(Action::Routes {
            source: Source::Static,
            routes,
            rules: self.rules.clone(),
        });
    }

    fn bgp_route_change(&mut self, c: cgw_bgp::RouteChange) {
        let prefix = c.prefix();
        match c.paths().first() {
            Some(best) => {
                let t = &self.tunnels[best.session.0 as usize];
                // With ECMP every equal best path is a next hop; otherwise the best one.
                let mut via: Vec<usize> = c.paths().iter().map(|p| p.session.0 as usize).collect();
                via.sort_unstable();
                via.dedup();
                info!(
                    "BGP: {prefix} via {}{} ({}), AS path {}, MED {}",
                    t.cfg.device,
                    if via.len() > 1 {
                        " and the other tunnel (ECMP)"
                    } else {
                        ""
                    },
                    t.cfg.name,
                    best.attributes.as_path,
                    best.attributes
                        .multi_exit_disc
                        .map_or("-".to_string(), |m| m.to_string())
                );
                self.bgp.installed.insert(prefix, via);
            }
            None => {
                if self.bgp.installed.remove(&prefix).is_some() {
                    info!("BGP: {prefix} withdrawn");
                }
            }
        }
    }

    fn push_bgp_routes(&mut self) {
        if !self.bgp.enabled.iter().any(|e| *e) {
            return;
        }
        let routes = self
            .bgp
            .installed
            .iter()
            .filter_map(|(p, via)| {
                let net = ipnet::Ipv4Net::new(p.addr(), p.prefix_len()).ok()?;
                let oifs = via.iter().map(|&t| self.tunnels[t].ifindex).collect();
                Some(Route::new(net, self.table, 0, oifs))
            })
            .collect();
        self.actions.push_back(Action::Routes {
            source: Source::Bgp,
            routes,
            rules: Vec::new(),
        });
    }

    /// The status document at `now`; `counters` are the data path's per tunnel.
    pub fn status(
        &self,
        now: Instant,
        counters: &[&Counters],
        esp_from_strangers: u64,
        queue_drops: u64,
    ) -> Status {
        let empty = Counters::default();
        let tunnel_status = |(i, t): (usize, &Tunnel)| {
            let c = counters.get(i).copied().unwrap_or(&empty);
            let stats = t.conn.stats();
            let timers = t.child.as_ref().and_then(|c| {
                t.conn
                    .child_sa_timers()
                    .into_iter()
                    .find(|x| x.inbound_spi == c.inbound_spi)
            });
            TunnelStatus {
                name: t.cfg.name.clone(),
                device: t.cfg.device.clone(),
                aws_outside_address: t.cfg.aws_outside_address,
                inside_address: t.cfg.our_inside_address(),
                aws_inside_address: t.cfg.aws_inside_address(),
                state: t.state(),
                ike_sa: t.ike.as_ref().map(|k| IkeSaStatus {
                    spi_i: hex(&k.info.spi_i),
                    spi_r: hex(&k.info.spi_r),
                    initiator: k.info.initiator,
                    algorithms: k.info.suite.to_string(),
                    local: k.info.local,
                    remote: k.info.remote,
                    nat_t: k.info.local_behind_nat || k.info.remote_behind_nat,
                    local_behind_nat: k.info.local_behind_nat,
                    remote_behind_nat: k.info.remote_behind_nat,
                    peer_id: k.info.peer_id.clone(),
                    uptime_secs: now.saturating_duration_since(k.since).as_secs(),
                }),
                child_sa: t.child.as_ref().map(|c| ChildSaStatus {
                    inbound_spi: format!("{:#010x}", c.inbound_spi),
                    outbound_spi: format!("{:#010x}", c.outbound_spi),
                    algorithms: c.algorithms.clone(),
                    udp_encap: c.udp_encap,
                    local_ts: c.local_ts.clone(),
                    remote_ts: c.remote_ts.clone(),
                    uptime_secs: now.saturating_duration_since(c.since).as_secs(),
                }),
                traffic: c.traffic(),
                drops: c.drops(),
                ike_drops: IkeDrops {
                    malformed: stats.malformed,
                    unknown_spi: stats.unknown_spi,
                    integrity_failures: stats.integrity_failures,
                    invalid_init_requests: stats.init_requests_invalid,
                    init_requests_no_proposal: stats.init_requests_no_proposal,
                    init_requests_too_large: stats.init_requests_too_large,
                    init_requests_over_half_open_cap: stats.init_requests_over_half_open_cap,
                    init_requests_rate_limited: stats.init_requests_rate_limited,
                },
                monitor: MonitorStatus {
                    enabled: t.monitor.enabled,
                    alive: t.monitor.up,
                    consecutive_misses: t.monitor.misses,
                    last_rtt_ms: t.monitor.last_rtt.map(|d| d.as_secs_f64() * 1000.0),
                },
                rekeys: Rekeys {
                    child: stats.child_rekeys,
                    ike: stats.ike_rekeys,
                    collisions: stats.rekey_collisions,
                    child_failures: stats.child_rekey_failures,
                },
                half_open_ike_sas: t.conn.half_open_count() as u64,
                cookies_sent: stats.cookies_sent,
                stray_ike_failures: t.stray_failures,
                next_rekey: NextRekey {
                    ike_sa_in_secs: t
                        .conn
                        .ike_rekey_at()
                        .map(|r| r.saturating_duration_since(now).as_secs()),
                    child_sa_in_secs: timers
                        .as_ref()
                        .map(|x| x.rekey_at.saturating_duration_since(now).as_secs()),
                    child_sa_expires_in_secs: timers
                        .as_ref()
                        .map(|x| x.expire_at.saturating_duration_since(now).as_secs()),
                },
                last_error: t.last_error.clone(),
            }
        };
        let active = self.active_tunnel();
        let static_routing = self.routing == Routing::Static;
        let routes = if static_routing {
            self.remote_cidrs
                .iter()
                .map(|c| RouteStatus {
                    destination: c.to_string(),
                    tunnel: self.tunnels[active].cfg.name.clone(),
                    device: self.tunnels[active].cfg.device.clone(),
                })
                .collect()
        } else {
            vec![]
        };
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            routing: routing_mode(self.routing),
            tunnels: self.tunnels.iter().enumerate().map(tunnel_status).collect(),
            routes,
            active_tunnel: static_routing.then(|| self.tunnels[active].cfg.name.clone()),
            failovers: self.failover.failovers(),
            esp_from_strangers,
            ike_from_strangers: self.ike_from_strangers,
            queue_drops,
            bgp: self.bgp_status(now),
        }
    }

    fn bgp_status(&self, now: Instant) -> BgpStatus {
        let sessions = (0..self.tunnels.len())
            .filter(|&i| self.bgp.enabled[i])
            .map(|i| {
                let s = &self.bgp.sessions[i];
                let sid = cgw_bgp::SessionId(i as u32);
                let received = self
                    .bgp
                    .rib
                    .adj_rib_in(sid)
                    .map(|(p, attrs)| BgpReceivedRoute {
                        prefix: p.to_string(),
                        as_path: attrs.as_path.to_string(),
                        med: attrs.multi_exit_disc,
                        next_hop: attrs.next_hop.to_string(),
                    })
                    .collect();
                let t = &self.tunnels[i];
                crate::status::BgpSessionStatus {
                    tunnel: t.cfg.name.clone(),
                    peer: t.cfg.aws_inside_address(),
                    peer_asn: s.peer_asn,
                    state: s.state.to_string(),
                    since_secs: s.since.map(|x| now.saturating_duration_since(x).as_secs()),
                    last_error: s.last_error.clone(),
                    received,
                    advertised: self.bgp.lan.iter().map(|r| r.prefix.to_string()).collect(),
                }
            })
            .collect();
        let installed = self
            .bgp
            .installed
            .keys()
            .filter_map(|p| {
                let b = self.bgp.rib.best(p)?;
                let t = &self.tunnels[b.session.0 as usize];
                let next_hops = self
                    .bgp
                    .rib
                    .best_paths(p)
                    .iter()
                    .map(|r| self.tunnels[r.session.0 as usize].cfg.device.clone())
                    .collect();
                Some(BgpInstalledRoute {
                    prefix: p.to_string(),
                    tunnel: t.cfg.name.clone(),
                    device: t.cfg.device.clone(),
                    next_hops,
                    local_pref: b.local_pref,
                    as_path: b.attributes.as_path.to_string(),
                    med: b.attributes.multi_exit_disc,
                })
            })
            .collect();
        BgpStatus {
            sessions,
            installed,
        }
    }

    /// Every live IKE SA's and Child SA's keys, with Wireshark's names for the algorithms
    /// (`cgw keys`).
    pub fn session_keys(&self) -> serde_json::Value {
        use cgw_ike::{Encr, Integ};
        use serde_json::json;
        let ike_encr = |e: Encr| match e {
            Encr::AesCbc128 => "AES-CBC-128 [RFC3602]",
            Encr::AesCbc256 => "AES-CBC-256 [RFC3602]",
            Encr::AesGcm16_128 => "AES-GCM-128 with 16 octet ICV [RFC5282]",
            Encr::AesGcm16_256 => "AES-GCM-256 with 16 octet ICV [RFC5282]",
        };
        let ike_integ = |i: Option<Integ>| match i {
            None => "NONE [RFC4306]",
            Some(Integ::HmacSha1_96) => "HMAC_SHA1_96 [RFC2404]",
            Some(Integ::HmacSha2_256_128) => "HMAC_SHA2_256_128 [RFC4868]",
            Some(Integ::HmacSha2_384_192) => "HMAC_SHA2_384_192 [RFC4868]",
            Some(Integ::HmacSha2_512_256) => "HMAC_SHA2_512_256 [RFC4868]",
        };
        let esp_encr = |e: Encr| {
            if e.is_aead() {
                "AES-GCM with 16 octet ICV [RFC4106]"
            } else {
                "AES-CBC [RFC3602]"
            }
        };
        let esp_auth = |i: Option<Integ>| match i {
            None => "NULL",
            Some(Integ::HmacSha1_96) => "HMAC-SHA-1-96 [RFC2404]",
            Some(Integ::HmacSha2_256_128) => "HMAC-SHA-256-128 [RFC4868]",
            Some(Integ::HmacSha2_384_192) => "HMAC-SHA-384-192 [RFC4868]",
            Some(Integ::HmacSha2_512_256) => "HMAC-SHA-512-256 [RFC4868]",
        };
        let mut ike = Vec::new();
        let mut esp = Vec::new();
        for t in &self.tunnels {
            for k in t.conn.ike_sa_secrets() {
                ike.push(json!({
                    "tunnel": t.cfg.name,
                    "spi_i": hex(&k.spi_i), "spi_r": hex(&k.spi_r),
                    "sk_ei": hex(&k.sk_ei), "sk_er": hex(&k.sk_er),
                    "encr": ike_encr(k.suite.encr),
                    "sk_ai": hex(&k.sk_ai), "sk_ar": hex(&k.sk_ar),
                    "integ": ike_integ(k.suite.integ),
                }));
            }
            for k in &t.esp_keys {
                for (src, dst, spi, key) in [
                    (k.remote, k.local, k.inbound_spi, &k.inbound),
                    (k.local, k.remote, k.outbound_spi, &k.outbound),
                ] {
                    esp.push(json!({
                        "tunnel": t.cfg.name,
                        "src": src.ip().to_string(), "dst": dst.ip().to_string(),
                        "spi": format!("0x{spi:08x}"),
                        "encr": esp_encr(k.suite.encr), "encr_key": format!("0x{}", hex(&key.encr_key)),
                        "auth": esp_auth(k.suite.integ),
                        "auth_key": if key.integ_key.is_empty() { String::new() } else { format!("0x{}", hex(&key.integ_key)) },
                    }));
                }
            }
        }
        json!({"ike_sas": ike, "esp_sas": esp})
    }
}

/// The status document's name of a routing mode.
pub fn routing_mode(r: Routing) -> RoutingMode {
    match r {
        Routing::Static => RoutingMode::Static,
        Routing::Bgp => RoutingMode::Bgp,
        Routing::External => RoutingMode::External,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The data-path command an engine event of tunnel `tunnel` asks for: a new Child SA's ESP
/// SAs installed (built with `limits`, `rng` seeding an AES-CBC IV generator), outbound
/// traffic moved to a rekeyed Child SA, or a Child SA's SAs removed (a replaced one's
/// inbound SA still accepts for [`REKEY_GRACE`]). The gateway and the in-memory lifecycle
/// tests use this one translation.
pub fn datapath_command(
    tunnel: usize,
    ev: &Event,
    rng: &mut dyn Random,
    limits: cgw_esp::LifetimeLimits,
) -> Result<Option<DatapathCommand>, cgw_esp::EspError> {
    Ok(match ev {
        Event::ChildSaEstablished(c) => {
            let (inbound, outbound) = crate::child_sa::esp_sas_with_limits(c, rng, limits)?;
            Some(DatapathCommand::InstallChild {
                tunnel,
                inbound: Box::new(inbound),
                outbound: Box::new(outbound),
                // ESP in UDP goes where the peer's IKE comes from: port 4500, or the port a
                // NAT in front of the peer mapped it to.
                remote: if c.udp_encap {
                    c.remote
                } else {
                    SocketAddr::new(c.remote.ip(), 0)
                },
                udp_encap: c.udp_encap,
                activate: c.outbound_active,
            })
        }
        Event::ChildSaOutboundActivated { inbound_spi, .. } => {
            Some(DatapathCommand::ActivateOutbound {
                tunnel,
                inbound_spi: *inbound_spi,
            })
        }
        Event::ChildSaDeleted {
            inbound_spi,
            outbound_spi,
            rekeyed,
        } => Some(DatapathCommand::RemoveChild {
            tunnel,
            inbound_spi: *inbound_spi,
            outbound_spi: *outbound_spi,
            grace: if *rekeyed {
                REKEY_GRACE
            } else {
                Duration::ZERO
            },
        }),
        _ => None,
    })
}

/// One engine event of tunnel `index`: the tunnel's bookkeeping and the data-path commands.
fn on_event(
    t: &mut Tunnel,
    index: usize,
    now: Instant,
    ev: Event,
    actions: &mut VecDeque<Action>,
    rng: &mut dyn Random,
) {
    let name = t.cfg.name.clone();
    match ev {
        Event::IkeSaEstablished(info) => {
            info!(
                "{name}: IKE SA established with {} as {} ({}), NAT-T {}",
                info.remote,
                if info.initiator {
                    "initiator"
                } else {
                    "responder"
                },
                info.suite,
                match (info.local_behind_nat, info.remote_behind_nat) {
                    (false, false) => "not needed",
                    (true, _) => "on (we are behind a NAT)",
                    (false, true) => "on (NAT, or UDP encapsulation forced by the peer)",
                }
            );
            t.backoff = RETRY_MIN;
            t.last_error = None;
            t.next_initiate = None;
            t.ike = Some(IkeState { info, since: now });
        }
        Event::ChildSaEstablished(ref c) => {
            match datapath_command(index, &ev, rng, t.cfg.esp_limits()) {
                Ok(cmd) => {
                    t.esp_keys.push(EspKeys {
                        inbound_spi: c.inbound_spi,
                        outbound_spi: c.outbound_spi,
                        suite: c.suite,
                        inbound: c.inbound.clone(),
                        outbound: c.outbound.clone(),
                        local: c.local,
                        remote: c.remote,
                    });
                    info!(
                        "{name}: Child SA up: SPIs in {:#010x} out {:#010x}, {}, {}",
                        c.inbound_spi,
                        c.outbound_spi,
                        c.suite,
                        if c.udp_encap {
                            "ESP in UDP 4500"
                        } else {
                            "ESP"
                        }
                    );
                    actions.extend(cmd.map(Action::Datapath));
                    let text = |ts: &[cgw_wire::TrafficSelector]| -> Vec<String> {
                        ts.iter().map(|t| t.to_string()).collect()
                    };
                    let whole = |ts: &[cgw_wire::TrafficSelector]| {
                        ts.contains(&cgw_wire::TrafficSelector::IPV4_ANY)
                    };
                    if !whole(&c.local_ts) || !whole(&c.remote_ts) {
                        // RFC 7296 2.9: the responder may narrow; we then send only what the
                        // narrowed selectors admit (the rest is dropped and counted).
                        warn!(
                            "{name}: the peer narrowed the traffic selectors to ours {} / its {}: only matching traffic uses this Child SA, the rest is dropped (drops.ts_outbound); AWS uses 0.0.0.0/0, check the connection's local and remote network CIDRs",
                            text(&c.local_ts).join(" "),
                            text(&c.remote_ts).join(" ")
                        );
                    }
                    let state = ChildState {
                        inbound_spi: c.inbound_spi,
                        outbound_spi: c.outbound_spi,
                        algorithms: c.suite.to_string(),
                        udp_encap: c.udp_encap,
                        since: now,
                        local_ts: text(&c.local_ts),
                        remote_ts: text(&c.remote_ts),
                    };
                    if let Some(old) = c.rekey_of {
                        info!("{name}: Child SA rekeyed (replaces inbound SPI {old:#010x})");
                    }
                    if c.outbound_active {
                        t.child = Some(state);
                        t.monitor.start(now);
                    } else {
                        t.pending_child = Some(state);
                    }
                }
                Err(e) => {
                    error!("{name}: cannot install the Child SA: {e}");
                    t.last_error = Some(format!("cannot install the Child SA: {e}"));
                }
            }
        }
        Event::ChildSaOutboundActivated { inbound_spi, .. } => {
            let cmd = datapath_command(index, &ev, rng, t.cfg.esp_limits());
            actions.extend(cmd.ok().flatten().map(Action::Datapath));
            if let Some(p) = t.pending_child.take_if(|p| p.inbound_spi == inbound_spi) {
                t.child = Some(p);
            }
        }
        Event::IkeSaRekeyed { new, .. } => {
            info!("{name}: IKE SA rekeyed ({})", new.suite);
            if let Some(k) = t.ike.as_mut() {
                let peer_id = std::mem::take(&mut k.info.peer_id);
                k.info = new;
                k.info.peer_id = peer_id;
            }
        }
        Event::ChildSaDeleted {
            inbound_spi,
            outbound_spi,
            rekeyed,
        } => {
            if rekeyed {
                debug!(
                    "{name}: replaced Child SA {inbound_spi:#010x}/{outbound_spi:#010x} deleted"
                );
            } else {
                info!("{name}: Child SA {inbound_spi:#010x}/{outbound_spi:#010x} deleted");
            }
            let cmd = datapath_command(index, &ev, rng, t.cfg.esp_limits());
            actions.extend(cmd.ok().flatten().map(Action::Datapath));
            if t.pending_child
                .as_ref()
                .is_some_and(|c| c.inbound_spi == inbound_spi)
            {
                t.pending_child = None;
            }
            t.esp_keys.retain(|k| k.inbound_spi != inbound_spi);
            if t.child
                .as_ref()
                .is_some_and(|c| c.inbound_spi == inbound_spi)
                && !rekeyed
            {
                t.child = None;
                t.monitor.stop();
            }
        }
        Event::IkeSaDeleted { by_peer, .. } => {
            info!(
                "{name}: IKE SA deleted by {}",
                if by_peer { "the peer" } else { "us" }
            );
            t.ike = None;
            if by_peer && t.cfg.role == Role::CustomerGateway {
                // AWS deletes before maintenance and waits for us to come back.
                t.next_initiate = Some(now + RETRY_MIN);
            }
        }
        Event::IkeSaFailed {
            error, stray: true, ..
        } => {
            // An IKE SA the peer's address started that never authenticated: anyone can send
            // an IKE_SA_INIT with that source. It changes nothing of the tunnel; an
            // authentication failure is still worth a warning (a PSK mismatch when AWS
            // initiates), at most once a minute.
            t.stray_failures += 1;
            let loud = !matches!(error, IkeError::HalfOpenExpired)
                && t.stray_logged
                    .is_none_or(|l| now.saturating_duration_since(l) >= STRAY_LOG_INTERVAL);
            if loud {
                t.stray_logged = Some(now);
                warn!(
                    "{name}: an IKE SA started by {} failed before authentication: {error} ({} such failures so far; they do not affect the tunnel)",
                    t.cfg.aws_outside_address, t.stray_failures
                );
                if t.ike.is_none() {
                    t.last_error = Some(error.to_string());
                }
            } else {
                debug!("{name}: IKE SA started by the peer's address failed before authentication: {error}");
            }
        }
        Event::IkeSaFailed { error, .. } => {
            t.last_error = Some(error.to_string());
            t.ike = None;
            let restart = t.cfg.dpd_action != DpdAction::None
                || !matches!(error, IkeError::PeerNotResponding { .. });
            if t.cfg.role == Role::AwsEndpoint {
                // The AWS side never initiates: it waits for the customer gateway.
                warn!("{name}: {error}; waiting for the customer gateway to initiate");
            } else if restart {
                error!(
                    "{name}: {error}; initiating again in {} s",
                    t.backoff.as_secs()
                );
                t.next_initiate = Some(now + t.backoff);
                t.backoff = (t.backoff * 2).min(RETRY_MAX);
            } else {
                error!("{name}: {error}; dpd_action = \"none\": not initiating again");
            }
        }
        Event::ChildSaRekeyFailed { inbound_spi, error } => {
            warn!("{name}: Child SA {inbound_spi:#010x}: {error}");
            t.last_error = Some(error.to_string());
        }
        Event::ChildSaFailed { error } => {
            error!("{name}: Child SA not created: {error}");
            t.last_error = Some(format!("Child SA: {error}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitor_goes_down_after_threshold_intervals_without_an_answer() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut m = Monitor::new(true, s(2), 3);
        assert_eq!(m.due(t0), None, "not started");
        m.start(t0);
        let (seq, down) = m.due(t0).unwrap();
        assert!(!down);
        assert!(m.reply(t0 + Duration::from_millis(5), seq));
        assert_eq!(m.up_since, Some(t0 + Duration::from_millis(5)));
        assert_eq!(m.due(t0 + s(1)), None, "answered: no repeat");
        assert_eq!(m.poll_timeout(), Some(t0 + s(2)));
        // The first echo of an interval is lost, its repeat answered: no miss.
        let (first, _) = m.due(t0 + s(2)).unwrap();
        let (again, _) = m.due(t0 + s(3)).unwrap();
        assert_ne!(first, again);
        assert!(!m.reply(t0 + s(3), again), "already up");
        assert_eq!(m.misses, 0);
        assert_eq!(m.last_rtt, Some(Duration::ZERO));
        // Then silence: each interval sends an echo and its repeat; the third miss is down.
        let mut downs = Vec::new();
        for k in 2..6 {
            downs.push(m.due(t0 + s(2 * k)).unwrap().1);
            assert!(m.due(t0 + s(2 * k + 1)).is_some(), "the repeat");
        }
        assert_eq!(downs, [false, false, false, true]);
        assert!(!m.up);
        // A late answer to an old echo does not count; the current one does.
        assert!(!m.reply(t0 + s(11), first));
        let cur = m.probe.unwrap()[1].0;
        assert!(m.reply(t0 + s(11), cur));
        assert_eq!(m.misses, 0);
        m.stop();
        assert_eq!(m.due(t0 + s(100)), None);
        assert_eq!(m.poll_timeout(), None);
    }
}
