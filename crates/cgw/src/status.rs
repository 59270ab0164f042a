//! The status document: what `cgw status --json` prints and the control socket's `status`
//! command answers. One typed model, used by the daemon that builds it, `cgw status` that
//! prints it, the Prometheus metrics rendered from it, the demo and the tests.
//!
//! The data path's counters are one table indexed by [`Counter`]: the data path increments
//! entries, and [`Traffic`] and [`Drops`] are read out of a snapshot of it, so that a counter
//! cannot exist in one place and be missing in another.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// cgw's version.
    pub version: String,
    /// `static`, `bgp` or `external`.
    pub routing: RoutingMode,
    /// Each configured tunnel, in configuration order.
    pub tunnels: Vec<TunnelStatus>,
    /// Static routing: the routes cgw keeps in the kernel (all via the active tunnel).
    pub routes: Vec<RouteStatus>,
    /// Static routing: the tunnel that carries the traffic; `null` with BGP.
    pub active_tunnel: Option<String>,
    /// Static routing failovers since start.
    pub failovers: u64,
    /// ESP and UDP 4500 datagrams from addresses that are no tunnel's peer (dropped).
    pub esp_from_strangers: u64,
    /// IKE datagrams from addresses that are no tunnel's peer (dropped).
    pub ike_from_strangers: u64,
    /// Events and IKE datagrams the data path could not hand to the control loop because
    /// its queue was full (dropped; under an IKE_SA_INIT flood on port 4500).
    pub queue_drops: u64,
    /// The BGP sessions and the routes they installed (empty with static routing).
    #[serde(default)]
    pub bgp: BgpStatus,
}

/// How routes are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingMode {
    /// `remote_cidrs` via the active tunnel, failover by the monitor.
    Static,
    /// Learned from AWS over BGP.
    Bgp,
    /// Another routing daemon owns the routes (cgw keeps the tunnels only).
    External,
}

impl std::fmt::Display for RoutingMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RoutingMode::Static => "static",
            RoutingMode::Bgp => "bgp",
            RoutingMode::External => "external",
        })
    }
}

/// A tunnel's state, as `cgw status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelState {
    /// IKE SA and Child SA up.
    Up,
    /// The IKE SA is up but it has no Child SA (see `last_error`).
    IkeOnly,
    /// An IKE SA is being set up.
    Connecting,
    /// Nothing: waiting to initiate again (or, as AWS, for the customer gateway).
    Down,
}

impl std::fmt::Display for TunnelState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TunnelState::Up => "up",
            TunnelState::IkeOnly => "ike-only",
            TunnelState::Connecting => "connecting",
            TunnelState::Down => "down",
        })
    }
}

/// One tunnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TunnelStatus {
    /// The tunnel's name (`tunnel1`, ...).
    pub name: String,
    /// Its TUN device.
    pub device: String,
    /// The AWS endpoint's public address.
    pub aws_outside_address: Ipv4Addr,
    /// Our address inside the tunnel (the /30's second host).
    pub inside_address: Ipv4Addr,
    /// AWS's inside address (the first host).
    pub aws_inside_address: Ipv4Addr,
    /// `up`, `ike-only`, `connecting` or `down`.
    pub state: TunnelState,
    /// The established IKE SA, if any.
    pub ike_sa: Option<IkeSaStatus>,
    /// The Child SA in use, if any.
    pub child_sa: Option<ChildSaStatus>,
    /// Data path counters.
    pub traffic: Traffic,
    /// Packets dropped by the data path, by reason.
    pub drops: Drops,
    /// IKE datagrams dropped, by reason.
    pub ike_drops: IkeDrops,
    /// The tunnel monitor.
    pub monitor: MonitorStatus,
    /// Completed and failed rekeys.
    pub rekeys: Rekeys,
    /// IKE SAs a peer began with IKE_SA_INIT and has not authenticated.
    pub half_open_ike_sas: u64,
    /// COOKIE answers sent to IKE_SA_INIT requests (demanded while half-open IKE SAs pile
    /// up: see the README on floods).
    pub cookies_sent: u64,
    /// Failed IKE exchanges of SAs that were not the tunnel's current one (a stranger's, a
    /// superseded attempt's): counted, never a change of the tunnel.
    pub stray_ike_failures: u64,
    /// When the next rekeys are due.
    pub next_rekey: NextRekey,
    /// The last error, in words.
    pub last_error: Option<String>,
}

/// The established IKE SA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IkeSaStatus {
    /// Initiator's SPI, hex.
    pub spi_i: String,
    /// Responder's SPI, hex.
    pub spi_r: String,
    /// Whether we initiated it.
    pub initiator: bool,
    /// e.g. `aes256-sha384-prfsha384-ecp384`.
    pub algorithms: String,
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// UDP encapsulation in use (a NAT on either side).
    pub nat_t: bool,
    /// A NAT in front of us.
    pub local_behind_nat: bool,
    /// A NAT in front of the peer.
    pub remote_behind_nat: bool,
    /// The identity the peer authenticated with.
    pub peer_id: String,
    /// Seconds since it was established.
    pub uptime_secs: u64,
}

/// The Child SA in use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChildSaStatus {
    /// Our SPI (what the peer sends to), `0x%08x`.
    pub inbound_spi: String,
    /// The peer's SPI (what we send to), `0x%08x`.
    pub outbound_spi: String,
    /// e.g. `aes256gcm16`.
    pub algorithms: String,
    /// ESP in UDP (NAT-T).
    pub udp_encap: bool,
    /// Our traffic selectors as negotiated.
    pub local_ts: Vec<String>,
    /// The peer's traffic selectors as negotiated.
    pub remote_ts: Vec<String>,
    /// Seconds since it was installed.
    pub uptime_secs: u64,
}

/// The tunnel monitor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus {
    /// `[monitor] enabled`.
    pub enabled: bool,
    /// AWS's inside address answers.
    pub alive: bool,
    /// Echoes unanswered in a row.
    pub consecutive_misses: u32,
    /// The last answer's round trip.
    pub last_rtt_ms: Option<f64>,
}

/// Rekeys since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekeys {
    /// Completed Child SA rekeys (either side's).
    pub child: u64,
    /// Completed IKE SA rekeys.
    pub ike: u64,
    /// Rekey collisions resolved.
    pub collisions: u64,
    /// Child SA rekeys of ours that failed (the cause is in the log and `last_error`).
    pub child_failures: u64,
}

/// When the next rekeys are due, in seconds from now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextRekey {
    /// The IKE SA's rekey.
    pub ike_sa_in_secs: Option<u64>,
    /// The Child SA's rekey.
    pub child_sa_in_secs: Option<u64>,
    /// The Child SA's hard lifetime.
    pub child_sa_expires_in_secs: Option<u64>,
}

/// IKE datagrams dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IkeDrops {
    /// Did not parse.
    pub malformed: u64,
    /// For an IKE SA we do not have.
    pub unknown_spi: u64,
    /// Failed the integrity check.
    pub integrity_failures: u64,
    /// IKE_SA_INIT requests refused as malformed (INVALID_SYNTAX).
    pub invalid_init_requests: u64,
    /// IKE_SA_INIT requests refused with NO_PROPOSAL_CHOSEN.
    pub init_requests_no_proposal: u64,
    /// IKE_SA_INIT requests dropped for their size (larger than any real one).
    pub init_requests_too_large: u64,
    /// IKE_SA_INIT requests dropped while the half-open IKE SAs were at their cap.
    pub init_requests_over_half_open_cap: u64,
    /// IKE_SA_INIT requests dropped by the new-SA rate limit.
    pub init_requests_rate_limited: u64,
}

impl IkeDrops {
    /// Each reason with its count, in the document's order.
    pub fn by_reason(&self) -> [(&'static str, u64); 8] {
        [
            ("malformed", self.malformed),
            ("unknown_spi", self.unknown_spi),
            ("integrity_failures", self.integrity_failures),
            ("invalid_init_requests", self.invalid_init_requests),
            ("init_requests_no_proposal", self.init_requests_no_proposal),
            ("init_requests_too_large", self.init_requests_too_large),
            (
                "init_requests_over_half_open_cap",
                self.init_requests_over_half_open_cap,
            ),
            (
                "init_requests_rate_limited",
                self.init_requests_rate_limited,
            ),
        ]
    }
}

/// A static route cgw keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteStatus {
    /// The prefix.
    pub destination: String,
    /// The tunnel that carries it.
    pub tunnel: String,
    /// That tunnel's device.
    pub device: String,
}

/// BGP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BgpStatus {
    /// One per tunnel with BGP.
    pub sessions: Vec<BgpSessionStatus>,
    /// The routes installed in the kernel, with their best path.
    pub installed: Vec<BgpInstalledRoute>,
}

/// One BGP session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BgpSessionStatus {
    /// Its tunnel.
    pub tunnel: String,
    /// AWS's inside address.
    pub peer: Ipv4Addr,
    /// The peer's ASN (from its OPEN; the configured one before).
    pub peer_asn: u32,
    /// RFC 4271 state, lower case (`idle`, `connect`, `active`, `opensent`, `openconfirm`,
    /// `established`).
    pub state: String,
    /// Seconds in this state.
    pub since_secs: Option<u64>,
    /// Why the session last went down.
    pub last_error: Option<String>,
    /// The routes AWS sent on it.
    pub received: Vec<BgpReceivedRoute>,
    /// The prefixes we advertise on it.
    pub advertised: Vec<String>,
}

/// A route received from AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpReceivedRoute {
    /// The prefix.
    pub prefix: String,
    /// AS_PATH as text.
    pub as_path: String,
    /// MULTI_EXIT_DISC.
    pub med: Option<u32>,
    /// NEXT_HOP.
    pub next_hop: String,
}

/// A route BGP installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpInstalledRoute {
    /// The prefix.
    pub prefix: String,
    /// The best path's tunnel.
    pub tunnel: String,
    /// Its device.
    pub device: String,
    /// Every device of an ECMP route (one without ECMP).
    pub next_hops: Vec<String>,
    /// LOCAL_PREF of the best path.
    pub local_pref: u32,
    /// Its AS_PATH.
    pub as_path: String,
    /// Its MED.
    pub med: Option<u32>,
}

macro_rules! counters {
    ($( $group:ident $variant:ident $key:literal $doc:literal, )*) => {
        /// A data path counter: an index into [`Counters`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Counter {
            $( #[doc = $doc] $variant, )*
        }

        impl Counter {
            /// Every counter, in table order.
            pub const ALL: &'static [Counter] = &[$(Counter::$variant,)*];

            /// Its key in the status document (`traffic.<key>` or `drops.<key>`).
            pub const fn key(self) -> &'static str {
                match self { $( Counter::$variant => $key, )* }
            }

            /// Whether it counts drops (the `drops` object) or traffic.
            pub const fn is_drop(self) -> bool {
                match self { $( Counter::$variant => counters!(@drop $group), )* }
            }

            /// What it counts.
            pub const fn help(self) -> &'static str {
                match self { $( Counter::$variant => $doc, )* }
            }
        }
    };
    (@drop traffic) => { false };
    (@drop drops) => { true };
}

// The fields of `Traffic` and `Drops` are written out below (a macro cannot make field names
// from string keys); `the_status_fields_are_the_counter_table` checks that they match.
counters! {
    traffic TxPackets "tx_packets" "Packets sent into the tunnel",
    traffic TxBytes "tx_bytes" "Inner bytes sent",
    traffic RxPackets "rx_packets" "Packets received from the tunnel",
    traffic RxBytes "rx_bytes" "Inner bytes received",
    traffic MssClamped "mss_clamped" "TCP SYNs whose MSS was lowered",
    traffic Fragmented "fragmented" "Packets fragmented before encryption",
    traffic IcmpFragNeeded "icmp_frag_needed" "ICMP fragmentation-needed sent for DF packets over the tunnel MTU",
    traffic GsoSends "gso_sends" "UDP GSO sends (each a run of ESP datagrams in one message)",
    traffic GroReceives "gro_receives" "UDP GRO receives (each a coalesced run of datagrams)",
    drops NoSa "no_sa" "Packets for the tunnel while it had no Child SA",
    drops NotIpv4 "not_ipv4" "Packets from the TUN device that are not IPv4",
    drops UnknownSpi "unknown_spi" "ESP packets from the tunnel's peer with an SPI of no Child SA of ours",
    drops EspTooShort "esp_too_short" "Datagrams from the tunnel's peer too short for ESP (under 8 bytes)",
    drops Replay "replay" "ESP packets replayed or older than the replay window",
    drops AuthFailed "auth_failed" "ESP packets whose ICV did not verify",
    drops BadLength "bad_length" "ESP packets of an impossible length",
    drops BadPadding "bad_padding" "ESP packets with bad padding",
    drops BadNextHeader "bad_next_header" "ESP packets whose next header is neither IPv4 nor IPv6",
    drops TsMismatch "ts_mismatch" "Received packets outside the Child SA's traffic selectors",
    drops TsOutbound "ts_outbound" "Packets to send outside the Child SA's traffic selectors (narrowed by the peer)",
    drops MalformedInner "malformed_inner" "Received inner packets that are malformed or dummy",
    drops IoErrors "io_errors" "Send or TUN write errors",
}

/// The data path's counters of one tunnel: one atomic per [`Counter`], shared between the
/// data path threads (which add) and the control side (which reads).
#[derive(Debug)]
pub struct Counters([AtomicU64; Counter::ALL.len()]);

impl Default for Counters {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl Counters {
    /// Adds one.
    #[inline]
    pub fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Adds `n`.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        self.0[c as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self, c: Counter) -> u64 {
        self.0[c as usize].load(Ordering::Relaxed)
    }

    /// The traffic counters, for the status document.
    pub fn traffic(&self) -> Traffic {
        let g = |c| self.get(c);
        Traffic {
            tx_packets: g(Counter::TxPackets),
            tx_bytes: g(Counter::TxBytes),
            rx_packets: g(Counter::RxPackets),
            rx_bytes: g(Counter::RxBytes),
            mss_clamped: g(Counter::MssClamped),
            fragmented: g(Counter::Fragmented),
            icmp_frag_needed: g(Counter::IcmpFragNeeded),
            gso_sends: g(Counter::GsoSends),
            gro_receives: g(Counter::GroReceives),
        }
    }

    /// The drop counters, for the status document.
    pub fn drops(&self) -> Drops {
        let g = |c| self.get(c);
        Drops {
            no_sa: g(Counter::NoSa),
            not_ipv4: g(Counter::NotIpv4),
            unknown_spi: g(Counter::UnknownSpi),
            esp_too_short: g(Counter::EspTooShort),
            replay: g(Counter::Replay),
            auth_failed: g(Counter::AuthFailed),
            bad_length: g(Counter::BadLength),
            bad_padding: g(Counter::BadPadding),
            bad_next_header: g(Counter::BadNextHeader),
            ts_mismatch: g(Counter::TsMismatch),
            ts_outbound: g(Counter::TsOutbound),
            malformed_inner: g(Counter::MalformedInner),
            io_errors: g(Counter::IoErrors),
        }
    }
}

/// The data path's traffic counters, as `traffic` (see [`Counter`] for each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Traffic {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub mss_clamped: u64,
    pub fragmented: u64,
    pub icmp_frag_needed: u64,
    pub gso_sends: u64,
    pub gro_receives: u64,
}

/// Drops by reason, as `drops` (see [`Counter`] for each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Drops {
    pub no_sa: u64,
    pub not_ipv4: u64,
    pub unknown_spi: u64,
    pub esp_too_short: u64,
    pub replay: u64,
    pub auth_failed: u64,
    pub bad_length: u64,
    pub bad_padding: u64,
    pub bad_next_header: u64,
    pub ts_mismatch: u64,
    pub ts_outbound: u64,
    pub malformed_inner: u64,
    pub io_errors: u64,
}

impl Drops {
    /// Each reason with its count, in table order.
    pub fn by_reason(&self) -> Vec<(&'static str, u64)> {
        let v = serde_json::to_value(self).unwrap_or_default();
        Counter::ALL
            .iter()
            .filter(|c| c.is_drop())
            .map(|c| (c.key(), v[c.key()].as_u64().unwrap_or(0)))
            .collect()
    }
}

impl Traffic {
    /// Each counter with its value, in table order.
    pub fn by_name(&self) -> Vec<(&'static str, u64)> {
        let v = serde_json::to_value(self).unwrap_or_default();
        Counter::ALL
            .iter()
            .filter(|c| !c.is_drop())
            .map(|c| (c.key(), v[c.key()].as_u64().unwrap_or(0)))
            .collect()
    }
}

/// The Prometheus text exposition of a status document (rendered with `prometheus-client`).
pub fn metrics_text(s: &Status) -> String {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::{counter::Counter as PCounter, family::Family, gauge::Gauge};
    use prometheus_client::registry::Registry;

    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct TunnelLabel {
        tunnel: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct DropLabel {
        tunnel: String,
        reason: String,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    struct KindLabel {
        tunnel: String,
        kind: String,
    }
    let tl = |t: &TunnelStatus| TunnelLabel {
        tunnel: t.name.clone(),
    };
    let mut reg = Registry::with_prefix("cgw");
    let gauge = |reg: &mut Registry, name: &str, help: &str, f: &dyn Fn(&TunnelStatus) -> i64| {
        let fam = Family::<TunnelLabel, Gauge>::default();
        for t in &s.tunnels {
            fam.get_or_create(&tl(t)).set(f(t));
        }
        reg.register(name, help, fam);
    };
    gauge(
        &mut reg,
        "tunnel_up",
        "1 when the tunnel has an IKE SA and a Child SA",
        &|t| i64::from(t.state == TunnelState::Up),
    );
    gauge(
        &mut reg,
        "monitor_alive",
        "1 while the monitor gets answers from AWS's inside address",
        &|t| i64::from(t.monitor.alive),
    );
    gauge(
        &mut reg,
        "half_open_ike_sas",
        "IKE SAs begun by a peer with IKE_SA_INIT and not authenticated",
        &|t| t.half_open_ike_sas as i64,
    );
    for c in Counter::ALL.iter().filter(|c| !c.is_drop()) {
        let fam = Family::<TunnelLabel, PCounter>::default();
        for t in &s.tunnels {
            let v = t
                .traffic
                .by_name()
                .into_iter()
                .find(|(k, _)| *k == c.key())
                .map_or(0, |x| x.1);
            fam.get_or_create(&tl(t)).inc_by(v);
        }
        reg.register(c.key(), c.help(), fam);
    }
    let drops = Family::<DropLabel, PCounter>::default();
    let rekeys = Family::<KindLabel, PCounter>::default();
    let stray = Family::<TunnelLabel, PCounter>::default();
    for t in &s.tunnels {
        for (reason, v) in t.drops.by_reason() {
            drops
                .get_or_create(&DropLabel {
                    tunnel: t.name.clone(),
                    reason: reason.into(),
                })
                .inc_by(v);
        }
        for (kind, v) in [
            ("child", t.rekeys.child),
            ("ike", t.rekeys.ike),
            ("collisions", t.rekeys.collisions),
            ("child_failures", t.rekeys.child_failures),
        ] {
            rekeys
                .get_or_create(&KindLabel {
                    tunnel: t.name.clone(),
                    kind: kind.into(),
                })
                .inc_by(v);
        }
        stray.get_or_create(&tl(t)).inc_by(t.stray_ike_failures);
    }
    reg.register("drops", "Packets dropped, by reason", drops);
    reg.register(
        "rekeys",
        "Completed rekeys (Child SA, IKE SA), resolved collisions and failed Child SA rekeys",
        rekeys,
    );
    reg.register(
        "stray_ike_failures",
        "Failed IKE exchanges of SAs that were not the tunnel's current one",
        stray,
    );
    let ike_drops = Family::<DropLabel, PCounter>::default();
    for t in &s.tunnels {
        for (reason, v) in t.ike_drops.by_reason() {
            ike_drops
                .get_or_create(&DropLabel {
                    tunnel: t.name.clone(),
                    reason: reason.into(),
                })
                .inc_by(v);
        }
    }
    reg.register(
        "ike_drops",
        "IKE datagrams dropped or refused, by reason",
        ike_drops,
    );
    let cookies = Family::<TunnelLabel, PCounter>::default();
    for t in &s.tunnels {
        cookies.get_or_create(&tl(t)).inc_by(t.cookies_sent);
    }
    reg.register(
        "cookies_sent",
        "COOKIE answers sent to IKE_SA_INIT requests",
        cookies,
    );
    let ike_strangers = PCounter::<u64>::default();
    ike_strangers.inc_by(s.ike_from_strangers);
    reg.register(
        "ike_from_strangers",
        "IKE datagrams from addresses that are no tunnel's AWS endpoint",
        ike_strangers,
    );
    let strangers = PCounter::<u64>::default();
    strangers.inc_by(s.esp_from_strangers);
    reg.register(
        "esp_from_strangers",
        "ESP and UDP 4500 datagrams from addresses that are no tunnel's peer",
        strangers,
    );
    let failovers = PCounter::<u64>::default();
    failovers.inc_by(s.failovers);
    reg.register("failovers", "Static routing failovers", failovers);
    let est = Family::<TunnelLabel, Gauge>::default();
    let received = Family::<TunnelLabel, Gauge>::default();
    for b in &s.bgp.sessions {
        let l = TunnelLabel {
            tunnel: b.tunnel.clone(),
        };
        est.get_or_create(&l)
            .set(i64::from(b.state == "established"));
        received.get_or_create(&l).set(b.received.len() as i64);
    }
    reg.register(
        "bgp_session_established",
        "1 while the tunnel's BGP session is established",
        est,
    );
    reg.register(
        "bgp_routes_received",
        "Routes received on the tunnel's BGP session",
        received,
    );
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
        let _ = writeln!(out, "# encoding failed");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Traffic` and `Drops` have exactly the table's keys, each read from its own entry.
    #[test]
    fn the_status_fields_are_the_counter_table() {
        let c = Counters::default();
        for (i, k) in Counter::ALL.iter().enumerate() {
            c.add(*k, 1000 + i as u64);
        }
        let traffic = serde_json::to_value(c.traffic()).unwrap();
        let drops = serde_json::to_value(c.drops()).unwrap();
        let (t, d) = (traffic.as_object().unwrap(), drops.as_object().unwrap());
        assert_eq!(t.len() + d.len(), Counter::ALL.len());
        for (i, k) in Counter::ALL.iter().enumerate() {
            let obj = if k.is_drop() { d } else { t };
            assert_eq!(obj[k.key()], 1000 + i as u64, "{k:?}");
        }
        let reasons: Vec<_> = c.drops().by_reason();
        assert_eq!(reasons.len(), d.len());
        assert!(reasons.iter().all(|(_, v)| *v >= 1000));
    }

    fn one_tunnel(name: &str) -> TunnelStatus {
        let c = Counters::default();
        c.add(Counter::TxPackets, 7);
        c.add(Counter::Replay, 3);
        TunnelStatus {
            name: name.into(),
            device: "cgw0".into(),
            aws_outside_address: Ipv4Addr::new(203, 0, 113, 21),
            inside_address: Ipv4Addr::new(169, 254, 10, 2),
            aws_inside_address: Ipv4Addr::new(169, 254, 10, 1),
            state: TunnelState::Up,
            ike_sa: None,
            child_sa: None,
            traffic: c.traffic(),
            drops: c.drops(),
            ike_drops: IkeDrops::default(),
            monitor: MonitorStatus {
                enabled: true,
                alive: true,
                consecutive_misses: 0,
                last_rtt_ms: None,
            },
            rekeys: Rekeys {
                child: 4,
                ..Rekeys::default()
            },
            half_open_ike_sas: 2,
            cookies_sent: 5,
            stray_ike_failures: 1,
            next_rekey: NextRekey::default(),
            last_error: None,
        }
    }

    /// The metrics carry the documented names, labels and values (OpenMetrics text from
    /// prometheus-client: counters end in `_total`, the exposition in `# EOF`).
    #[test]
    fn metrics_render_the_status() {
        let s = Status {
            version: "0".into(),
            routing: RoutingMode::Static,
            tunnels: vec![one_tunnel("tunnel1")],
            routes: vec![],
            active_tunnel: Some("tunnel1".into()),
            failovers: 5,
            esp_from_strangers: 0,
            ike_from_strangers: 9,
            queue_drops: 0,
            bgp: BgpStatus::default(),
        };
        let m = metrics_text(&s);
        for line in [
            "cgw_tunnel_up{tunnel=\"tunnel1\"} 1",
            "cgw_tx_packets_total{tunnel=\"tunnel1\"} 7",
            "cgw_drops_total{tunnel=\"tunnel1\",reason=\"replay\"} 3",
            "cgw_drops_total{tunnel=\"tunnel1\",reason=\"ts_outbound\"} 0",
            "cgw_rekeys_total{tunnel=\"tunnel1\",kind=\"child\"} 4",
            "cgw_half_open_ike_sas{tunnel=\"tunnel1\"} 2",
            "cgw_cookies_sent_total{tunnel=\"tunnel1\"} 5",
            "cgw_ike_from_strangers_total 9",
            "cgw_stray_ike_failures_total{tunnel=\"tunnel1\"} 1",
            "cgw_failovers_total 5",
            "# EOF",
        ] {
            assert!(m.lines().any(|l| l == line), "{line:?} not in:\n{m}");
        }
        // Every counter of the table is a series.
        for c in Counter::ALL {
            let series = if c.is_drop() {
                format!("reason=\"{}\"", c.key())
            } else {
                format!("cgw_{}_total{{", c.key())
            };
            assert!(m.contains(&series), "{c:?}: {series} not in:\n{m}");
        }
    }
}
