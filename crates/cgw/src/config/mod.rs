//! The `cgw.toml` configuration: schema, loading and validation (`cgw check -c cgw.toml`).
//!
//! ```toml
//! [gateway]
//! local_address = "192.0.2.10"         # our outside address (source of IKE and ESP)
//! public_address = "198.51.100.10"     # the customer gateway address AWS knows (NAT); our IKE ID
//! routing = "bgp"                      # "static" | "bgp" | "external"
//! lan = ["10.20.0.0/16"]
//!
//! [monitor]                            # optional; these are the defaults
//! enabled = true
//!
//! [[tunnel]]
//! aws_outside_address = "203.0.113.21"
//! psk = "Ex4mple.Key_0nly.For.Docs1234567"
//! inside_cidr = "169.254.10.0/30"
//! [tunnel.bgp]                         # required iff routing = "bgp"
//! local_asn = 65000
//! peer_asn = 64512
//! ```
//!
//! Everything not shown has a default (see the field docs); `cgw import aws` writes a complete,
//! commented file. [`CgwConfig::load`] parses a file (syntax, types and unknown keys);
//! [`CgwConfig::validate`] then applies AWS's rules and reports every problem at once, each
//! naming its field path (`tunnel[1].psk`, 0-based like the TOML array).
//!
//! Lifetimes are AWS's: `ike_lifetime_secs` / `child_lifetime_secs` are the tunnel's
//! `Phase1LifetimeSeconds` / `Phase2LifetimeSeconds`, and cgw rekeys `rekey_margin_secs` (plus up
//! to `rekey_fuzz_percent` of the margin, chosen at random) before they expire, so that it
//! usually rekeys before AWS does and never lets an SA outlive AWS's idea of it.

mod fields;

pub use fields::{field_of, range, DefaultValue, Field, Range, Section, FIELDS};

use cgw_ike::{EspProposal, IkeProposal};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// cgw's default IKE proposal: Suite-B-GCM-256's IKE SA (AES-256-CBC, HMAC-SHA-384-192, PRF
/// HMAC-SHA-384, ECP-384), which every AWS tunnel with default options accepts.
///
/// Only one, on purpose: AWS evaluates the offer in its own order, lowest value first
/// (AES128 before AES256, SHA1 before SHA2-384, group 2 before 20), whatever order cgw lists
/// them in, so every broader fallback offered would be picked over Suite-B by a default tunnel
/// (seen with `cgw emulate-aws`: cgw's earlier three-proposal default got AES-128-CBC with
/// SHA-256 for ESP). `cgw import aws` writes broader lists only when the tunnel's options leave
/// Suite-B out.
pub const DEFAULT_IKE_PROPOSALS: &[&str] = &["aes256-sha384-ecp384"];

/// cgw's default ESP proposal: Suite-B-GCM-256 (AES-256-GCM-16, PFS with ECP-384); one only,
/// for the reason given at [`DEFAULT_IKE_PROPOSALS`].
pub const DEFAULT_ESP_PROPOSALS: &[&str] = &["aes256gcm16-ecp384"];

/// A pre-shared key: wiped from memory when dropped, never printed (`Debug` and `Display`
/// show `<redacted>`); read as a string (`Deref<Target = str>`).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Psk(zeroize::Zeroizing<String>);

impl From<String> for Psk {
    fn from(s: String) -> Self {
        Self(zeroize::Zeroizing::new(s))
    }
}

impl From<&str> for Psk {
    fn from(s: &str) -> Self {
        Self::from(s.to_string())
    }
}

impl PartialEq<String> for Psk {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl PartialEq<&str> for Psk {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl std::ops::Deref for Psk {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Psk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Psk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Psk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::from)
    }
}

/// The default control socket path.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/cgw/cgw.sock";

/// The /30s inside 169.254.0.0/16 that AWS refuses as tunnel inside CIDRs.
pub const RESERVED_INSIDE_CIDRS: [&str; 7] = [
    "169.254.0.0/30",
    "169.254.1.0/30",
    "169.254.2.0/30",
    "169.254.3.0/30",
    "169.254.4.0/30",
    "169.254.5.0/30",
    "169.254.169.252/30",
];

/// The whole `cgw.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgwConfig {
    /// `[gateway]`: this host's side.
    pub gateway: Gateway,
    /// `[monitor]`: tunnel liveness and failover.
    #[serde(default)]
    pub monitor: Monitor,
    /// `[[tunnel]]`: one or two AWS tunnels.
    #[serde(rename = "tunnel", default)]
    pub tunnels: Vec<Tunnel>,
}

/// `[gateway]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Our outside address on this host (source of IKE and ESP).
    pub local_address: Ipv4Addr,
    /// The address AWS knows as the customer gateway (the NAT's public address when behind
    /// NAT); sent as our IKE ID. Default: `local_address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_address: Option<Ipv4Addr>,
    /// How routes to the VPC are managed.
    pub routing: Routing,
    /// On-premises prefixes: advertised with BGP, and the sources of the `from <lan> lookup
    /// <route_table>` rules.
    #[serde(default)]
    pub lan: Vec<Ipv4Net>,
    /// The VPC CIDR(s) routed into the tunnels (static routing).
    #[serde(default)]
    pub remote_cidrs: Vec<Ipv4Net>,
    /// `None`: routes go to the main table; `Some(n)`: to table `n`, plus a rule
    /// `from <lan> lookup n` per `lan` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<u32>,
    /// The control socket of the daemon (`cgw status` and friends).
    #[serde(default = "defaults::control_socket")]
    pub control_socket: PathBuf,
    /// The AWS VPN connection id (`vpn-...`), for messages only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpn_connection_id: Option<String>,
    /// BGP: also advertise the connected prefixes of these interfaces (e.g. `["eth1"]`, the
    /// seed's `redistribute connected`), read when cgw starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advertise_interfaces: Vec<String>,
    /// BGP: install equal best paths over both tunnels as one multipath route (ECMP). AWS's
    /// transit gateways support ECMP; a virtual private gateway sends one path a lower MED.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bgp_ecmp: bool,
    /// Serve Prometheus metrics over HTTP on this address (e.g. `127.0.0.1:9820`); unset: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Lab use only: allow SA lifetimes and rekey margins below AWS's minimums (900 s, 60 s),
    /// so that tests can watch many rekeys. AWS would refuse such a tunnel.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lab_mode: bool,
}

impl Gateway {
    /// A gateway section with the defaults.
    pub fn new(local_address: Ipv4Addr, routing: Routing) -> Self {
        Self {
            local_address,
            public_address: None,
            routing,
            lan: Vec::new(),
            remote_cidrs: Vec::new(),
            route_table: None,
            control_socket: defaults::control_socket(),
            vpn_connection_id: None,
            advertise_interfaces: Vec::new(),
            bgp_ecmp: false,
            metrics_listen: None,
            lab_mode: false,
        }
    }

    /// The address that AWS knows us by and our IKE ID: `public_address`, else `local_address`.
    pub fn effective_public_address(&self) -> Ipv4Addr {
        self.public_address.unwrap_or(self.local_address)
    }

    /// Whether we are behind a NAT (public and local addresses differ).
    pub fn behind_nat(&self) -> bool {
        self.effective_public_address() != self.local_address
    }
}

/// `gateway.routing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// cgw installs routes to `remote_cidrs` through the live tunnel(s).
    Static,
    /// cgw speaks BGP to AWS in each tunnel, advertises `lan` and installs the learned routes.
    Bgp,
    /// cgw only brings up the tunnel devices; something else does the routing.
    External,
}

impl fmt::Display for Routing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Routing::Static => "static",
            Routing::Bgp => "bgp",
            Routing::External => "external",
        })
    }
}

/// `[monitor]`: liveness probes through each tunnel and failover between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Monitor {
    /// Probe the tunnels. Default true.
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    /// Seconds between probes. Default 2.
    #[serde(default = "defaults::monitor_interval")]
    pub interval_secs: u64,
    /// Intervals in a row without an answer (to the echo or its repeat at half the interval)
    /// before a tunnel counts as down. Default 5.
    #[serde(default = "defaults::monitor_threshold")]
    pub threshold: u32,
    /// Seconds a recovered preferred tunnel must stay up before traffic moves back. Default 30.
    #[serde(default = "defaults::failback_hold")]
    pub failback_hold_secs: u64,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: defaults::monitor_interval(),
            threshold: defaults::monitor_threshold(),
            failback_hold_secs: defaults::failback_hold(),
        }
    }
}

/// What cgw does when the peer stops answering DPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpdAction {
    /// Tear the SAs down and initiate again at once (and keep retrying). The default.
    Restart,
    /// Tear the SAs down and wait for the peer (or the next startup retry) to re-establish.
    Clear,
    /// Keep the SAs and do nothing.
    None,
}

impl fmt::Display for DpdAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DpdAction::Restart => "restart",
            DpdAction::Clear => "clear",
            DpdAction::None => "none",
        })
    }
}

/// Who brings the tunnel up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartupAction {
    /// cgw initiates (AWS startup action `add`, the AWS default). The default.
    Initiate,
    /// AWS initiates (AWS startup action `start`); cgw answers, and still initiates itself
    /// when the tunnel stays down.
    Respond,
}

impl fmt::Display for StartupAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StartupAction::Initiate => "initiate",
            StartupAction::Respond => "respond",
        })
    }
}

/// `[[tunnel]]`: one AWS tunnel.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tunnel {
    /// A name for logs and the control socket. Default `tunnel1`, `tunnel2` by position.
    #[serde(default)]
    pub name: String,
    /// The TUN device. Default `cgw0`, `cgw1` by position; at most 15 bytes of `[A-Za-z0-9._-]`.
    #[serde(default)]
    pub device: String,
    /// AWS's tunnel outside address (the IKE peer).
    pub aws_outside_address: Ipv4Addr,
    /// The tunnel's pre-shared key.
    pub psk: Psk,
    /// The tunnel inside /30 in 169.254.0.0/16: AWS has the first host, we the second.
    pub inside_cidr: Ipv4Net,
    /// The TUN device MTU. Default 1427.
    #[serde(default = "defaults::mtu")]
    pub mtu: u16,
    /// TCP MSS clamp for SYNs through the tunnel. Default 1379.
    #[serde(default = "defaults::tcp_mss")]
    pub tcp_mss: u16,
    /// IKE SA proposals, strongSwan syntax, in order of preference.
    #[serde(default = "defaults::ike_proposals")]
    pub ike_proposals: Vec<String>,
    /// ESP proposals, strongSwan syntax, in order of preference.
    #[serde(default = "defaults::esp_proposals")]
    pub esp_proposals: Vec<String>,
    /// AWS's phase 1 (IKE SA) lifetime. Default 28800.
    #[serde(default = "defaults::ike_lifetime")]
    pub ike_lifetime_secs: u64,
    /// AWS's phase 2 (Child SA) lifetime. Default 3600.
    #[serde(default = "defaults::child_lifetime")]
    pub child_lifetime_secs: u64,
    /// Rekey this long before a lifetime expires. Default 270.
    #[serde(default = "defaults::rekey_margin")]
    pub rekey_margin_secs: u64,
    /// Randomly widen the margin by up to this percentage. Default 100.
    #[serde(default = "defaults::rekey_fuzz")]
    pub rekey_fuzz_percent: u32,
    /// Send a DPD probe after this long without hearing from AWS. Default 10.
    #[serde(default = "defaults::dpd_interval")]
    pub dpd_interval_secs: u64,
    /// Declare AWS dead after this long without an answer. Default 30.
    #[serde(default = "defaults::dpd_timeout")]
    pub dpd_timeout_secs: u64,
    /// What to do then. Default `restart`.
    #[serde(default = "defaults::dpd_action")]
    pub dpd_action: DpdAction,
    /// ESP anti-replay window in packets. Default 1024.
    #[serde(default = "defaults::replay_window")]
    pub replay_window: u32,
    /// Rekey a Child SA once it has carried this many packets in one direction (and refuse
    /// to send more than 110 % of it on one SA). Unset: by time only, as AWS does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_lifetime_packets: Option<u64>,
    /// The same limit in bytes of inner packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_lifetime_bytes: Option<u64>,
    /// Who brings the tunnel up. Default `initiate`.
    #[serde(default = "defaults::startup_action")]
    pub startup_action: StartupAction,
    /// `[tunnel.bgp]`: required iff `gateway.routing = "bgp"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bgp: Option<TunnelBgp>,
    /// Which end of the tunnel this is. Never read from a file: a configuration file always
    /// describes the customer gateway; `cgw emulate-aws` builds the AWS endpoint's.
    #[serde(skip)]
    pub role: Role,
}

/// Which end of an AWS tunnel a [`Tunnel`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// The customer gateway (cgw's job): the second inside address; initiates per
    /// `startup_action`; rekeys slightly before AWS would.
    #[default]
    CustomerGateway,
    /// The AWS tunnel endpoint (`cgw emulate-aws`): the first inside address; never
    /// initiates (AWS's startup action `add`) and rekeys on AWS's own window.
    AwsEndpoint,
}

impl Role {
    /// The host number of this end's inside address in the tunnel's /30 (AWS 1, us 2).
    fn inside_host(self) -> u32 {
        match self {
            Role::AwsEndpoint => 1,
            Role::CustomerGateway => 2,
        }
    }

    /// The other end.
    pub fn peer(self) -> Role {
        match self {
            Role::AwsEndpoint => Role::CustomerGateway,
            Role::CustomerGateway => Role::AwsEndpoint,
        }
    }
}

impl fmt::Debug for Tunnel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tunnel")
            .field("name", &self.name)
            .field("device", &self.device)
            .field("aws_outside_address", &self.aws_outside_address)
            .field("psk", &"<redacted>")
            .field("inside_cidr", &self.inside_cidr)
            .field("mtu", &self.mtu)
            .field("tcp_mss", &self.tcp_mss)
            .field("ike_proposals", &self.ike_proposals)
            .field("esp_proposals", &self.esp_proposals)
            .field("ike_lifetime_secs", &self.ike_lifetime_secs)
            .field("child_lifetime_secs", &self.child_lifetime_secs)
            .field("rekey_margin_secs", &self.rekey_margin_secs)
            .field("rekey_fuzz_percent", &self.rekey_fuzz_percent)
            .field("dpd_interval_secs", &self.dpd_interval_secs)
            .field("dpd_timeout_secs", &self.dpd_timeout_secs)
            .field("dpd_action", &self.dpd_action)
            .field("replay_window", &self.replay_window)
            .field("child_lifetime_packets", &self.child_lifetime_packets)
            .field("child_lifetime_bytes", &self.child_lifetime_bytes)
            .field("startup_action", &self.startup_action)
            .field("bgp", &self.bgp)
            .finish()
    }
}

impl Tunnel {
    /// A tunnel with every default, named and numbered for position `index` (0-based).
    pub fn new(
        index: usize,
        aws_outside_address: Ipv4Addr,
        psk: impl Into<String>,
        inside_cidr: Ipv4Net,
    ) -> Self {
        Self {
            name: default_tunnel_name(index),
            device: default_device(index),
            aws_outside_address,
            psk: Psk::from(psk.into()),
            inside_cidr,
            mtu: defaults::mtu(),
            tcp_mss: defaults::tcp_mss(),
            ike_proposals: defaults::ike_proposals(),
            esp_proposals: defaults::esp_proposals(),
            ike_lifetime_secs: defaults::ike_lifetime(),
            child_lifetime_secs: defaults::child_lifetime(),
            rekey_margin_secs: defaults::rekey_margin(),
            rekey_fuzz_percent: defaults::rekey_fuzz(),
            dpd_interval_secs: defaults::dpd_interval(),
            dpd_timeout_secs: defaults::dpd_timeout(),
            dpd_action: defaults::dpd_action(),
            replay_window: defaults::replay_window(),
            child_lifetime_packets: None,
            child_lifetime_bytes: None,
            startup_action: defaults::startup_action(),
            bgp: None,
            role: Role::CustomerGateway,
        }
    }

    /// The ESP lifetime limits of this tunnel's Child SAs (soft at the configured value, hard
    /// The BGP session over this tunnel's inside addresses with `[tunnel.bgp]`'s settings and
    /// BGP identifier `identifier`; None without a `[tunnel.bgp]` section.
    pub fn bgp_session_config(&self, identifier: Ipv4Addr) -> Option<cgw_bgp::SessionConfig> {
        let b = self.bgp.as_ref()?;
        let mut sc = cgw_bgp::SessionConfig::new(
            b.local_asn,
            b.peer_asn,
            identifier,
            self.our_inside_address(),
            self.aws_inside_address(),
        );
        sc.hold_time = b.hold_time_secs;
        sc.keepalive_time = Some(b.keepalive_secs);
        sc.as_path_prepend = b.as_path_prepend;
        sc.multi_exit_disc = b.med;
        Some(sc)
    }

    /// 10 % above it).
    pub fn esp_limits(&self) -> cgw_esp::LifetimeLimits {
        let hard = |v: Option<u64>| v.map(|v| v.saturating_add(v / 10));
        cgw_esp::LifetimeLimits {
            soft_packets: self.child_lifetime_packets,
            soft_bytes: self.child_lifetime_bytes,
            hard_packets: hard(self.child_lifetime_packets),
            hard_bytes: hard(self.child_lifetime_bytes),
        }
    }

    /// The peer's inside address (its BGP neighbour address and the monitor's target): AWS's,
    /// the first host of `inside_cidr`. When cgw plays AWS (`cgw emulate-aws`), the customer
    /// gateway's, the second host.
    pub fn aws_inside_address(&self) -> Ipv4Addr {
        let host = self.role.peer().inside_host();
        Ipv4Addr::from(u32::from(self.inside_cidr.network()).wrapping_add(host))
    }

    /// Our inside address, put on the TUN device: the second host of `inside_cidr` (the first
    /// when cgw plays AWS).
    pub fn our_inside_address(&self) -> Ipv4Addr {
        let host = self.role.inside_host();
        Ipv4Addr::from(u32::from(self.inside_cidr.network()).wrapping_add(host))
    }

    /// The IKE proposals, parsed.
    pub fn parsed_ike_proposals(&self) -> Result<Vec<IkeProposal>, cgw_ike::ProposalParseError> {
        self.ike_proposals
            .iter()
            .map(|p| IkeProposal::parse(p))
            .collect()
    }

    /// The ESP proposals, parsed.
    pub fn parsed_esp_proposals(&self) -> Result<Vec<EspProposal>, cgw_ike::ProposalParseError> {
        self.esp_proposals
            .iter()
            .map(|p| EspProposal::parse(p))
            .collect()
    }
}

/// `[tunnel.bgp]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TunnelBgp {
    /// Our ASN (the customer gateway's). Default 65000.
    #[serde(default = "defaults::local_asn")]
    pub local_asn: u32,
    /// AWS's ASN (the Amazon side). Default 64512.
    #[serde(default = "defaults::peer_asn")]
    pub peer_asn: u32,
    /// BGP hold time we offer. Default 30.
    #[serde(default = "defaults::hold_time")]
    pub hold_time_secs: u16,
    /// BGP keepalive interval. Default 10.
    #[serde(default = "defaults::keepalive")]
    pub keepalive_secs: u16,
    /// LOCAL_PREF given to the routes learned over this tunnel (inbound policy); unset: 100.
    /// A higher value makes this tunnel preferred whatever AWS's MED says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// Prepend our ASN this many extra times to what we advertise over this tunnel (outbound
    /// policy), to make AWS prefer the other tunnel. AWS advises against it when the customer
    /// gateway handles asymmetric routing, which cgw does.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub as_path_prepend: u8,
    /// MULTI_EXIT_DISC on the routes we advertise over this tunnel; unset: none. (AWS marks
    /// its preferred tunnel with the lower MED; `cgw emulate-aws` uses this to do the same.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub med: Option<u32>,
    /// Never open the BGP connection; wait for the peer to connect. Default false (cgw both
    /// connects and listens, as AWS does).
    #[serde(default, skip_serializing_if = "is_false")]
    pub passive: bool,
}

fn is_false(v: &bool) -> bool {
    !*v
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

impl Default for TunnelBgp {
    fn default() -> Self {
        Self {
            local_asn: defaults::local_asn(),
            peer_asn: defaults::peer_asn(),
            hold_time_secs: defaults::hold_time(),
            keepalive_secs: defaults::keepalive(),
            local_pref: None,
            as_path_prepend: 0,
            med: None,
            passive: false,
        }
    }
}

/// Default values (also used by serde).
pub mod defaults {
    use super::*;

    /// `/run/cgw/cgw.sock`.
    pub fn control_socket() -> PathBuf {
        PathBuf::from(DEFAULT_CONTROL_SOCKET)
    }
    pub(crate) fn yes() -> bool {
        true
    }
    /// 2 s between probes.
    pub fn monitor_interval() -> u64 {
        2
    }
    /// 5 missed probes.
    pub fn monitor_threshold() -> u32 {
        5
    }
    /// 30 s before failing back.
    pub fn failback_hold() -> u64 {
        30
    }
    /// 1427 (the Palo Alto / Fortinet sample value; fits AES-GCM with NAT-T and most CBC suites).
    pub fn mtu() -> u16 {
        1427
    }
    /// 1379 (what AWS's XML says in `tcp_mss_adjustment`).
    pub fn tcp_mss() -> u16 {
        1379
    }
    /// [`DEFAULT_IKE_PROPOSALS`].
    pub fn ike_proposals() -> Vec<String> {
        DEFAULT_IKE_PROPOSALS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
    /// [`DEFAULT_ESP_PROPOSALS`].
    pub fn esp_proposals() -> Vec<String> {
        DEFAULT_ESP_PROPOSALS
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
    /// 28800 s (AWS default phase 1 lifetime).
    pub fn ike_lifetime() -> u64 {
        28_800
    }
    /// 3600 s (AWS default phase 2 lifetime).
    pub fn child_lifetime() -> u64 {
        3_600
    }
    /// 270 s (AWS default rekey margin).
    pub fn rekey_margin() -> u64 {
        270
    }
    /// 100 % (AWS default rekey fuzz).
    pub fn rekey_fuzz() -> u32 {
        100
    }
    /// 10 s.
    pub fn dpd_interval() -> u64 {
        10
    }
    /// 30 s (AWS's minimum DPD timeout).
    pub fn dpd_timeout() -> u64 {
        30
    }
    /// restart.
    pub fn dpd_action() -> DpdAction {
        DpdAction::Restart
    }
    /// 1024 packets (AWS default).
    pub fn replay_window() -> u32 {
        1024
    }
    /// initiate.
    pub fn startup_action() -> StartupAction {
        StartupAction::Initiate
    }
    /// 65000.
    pub fn local_asn() -> u32 {
        65000
    }
    /// 64512.
    pub fn peer_asn() -> u32 {
        64512
    }
    /// 30 s.
    pub fn hold_time() -> u16 {
        30
    }
    /// 10 s.
    pub fn keepalive() -> u16 {
        10
    }
}

/// The default tunnel name for position `index` (0-based): `tunnel1`, `tunnel2`.
pub fn default_tunnel_name(index: usize) -> String {
    format!("tunnel{}", index + 1)
}

/// The default TUN device for position `index` (0-based): `cgw0`, `cgw1`.
pub fn default_device(index: usize) -> String {
    format!("cgw{index}")
}

/// A problem with a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
    /// The TOML is malformed, has a value of the wrong type, an unknown key or lacks a
    /// required key (the message says which, with the line).
    #[error("{source_name}: {message}")]
    Parse {
        /// The file name, or `cgw.toml` for a string.
        source_name: String,
        /// What toml reported.
        message: String,
    },
    /// A value breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field path, e.g. `tunnel[1].psk` (0-based).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl ConfigError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The field path of an [`ConfigError::Invalid`] error.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl CgwConfig {
    /// Reads and parses a file (see [`CgwConfig::from_toml_str`]). Does not validate.
    pub fn load(path: impl AsRef<Path>) -> Result<CgwConfig, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Self::parse_named(&text, &path.display().to_string())
    }

    /// Reads, parses and validates a file: what the daemon and `cgw check` want.
    pub fn load_validated(path: impl AsRef<Path>) -> Result<CgwConfig, Vec<ConfigError>> {
        let cfg = Self::load(path).map_err(|e| vec![e])?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses TOML text and fills in the position-dependent defaults (tunnel names and
    /// devices). Does not validate.
    pub fn from_toml_str(text: &str) -> Result<CgwConfig, ConfigError> {
        Self::parse_named(text, "cgw.toml")
    }

    fn parse_named(text: &str, source_name: &str) -> Result<CgwConfig, ConfigError> {
        let mut cfg: CgwConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            source_name: source_name.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.fill_defaults();
        Ok(cfg)
    }

    /// Gives unnamed tunnels their positional name and device.
    pub fn fill_defaults(&mut self) {
        for (i, t) in self.tunnels.iter_mut().enumerate() {
            if t.name.is_empty() {
                t.name = default_tunnel_name(i);
            }
            if t.device.is_empty() {
                t.device = default_device(i);
            }
        }
    }

    /// Serialises to TOML (without comments; `cgw import` writes a commented file).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a CgwConfig always serialises")
    }

    /// Checks every rule and returns all violations, each naming its field.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut v = Validator { errors: Vec::new() };
        v.gateway(&self.gateway);
        v.monitor(&self.monitor, self.gateway.lab_mode);
        v.tunnels(self);
        if v.errors.is_empty() {
            Ok(())
        } else {
            Err(v.errors)
        }
    }

    /// Things that are allowed but probably not meant (for `cgw check` to print).
    pub fn warnings(&self) -> Vec<String> {
        let g = &self.gateway;
        let mut w = Vec::new();
        if g.routing == Routing::Bgp && g.lan.len() > 100 {
            w.push(format!(
                "gateway.lan: {} prefixes; a virtual private gateway accepts at most 100 from a customer gateway (a transit gateway 1000)",
                g.lan.len()
            ));
        }
        if g.routing == Routing::Bgp && g.lan.is_empty() && g.advertise_interfaces.is_empty() {
            w.push(
                "gateway.lan: empty with routing = \"bgp\": cgw will advertise nothing, so AWS \
                 will not route any VPC traffic to this gateway"
                    .to_string(),
            );
        }
        if g.routing != Routing::Static && !g.remote_cidrs.is_empty() {
            w.push(format!(
                "gateway.remote_cidrs: ignored with routing = \"{}\" (used with static routing only)",
                g.routing
            ));
        }
        if let Some(table) = g.route_table {
            if g.lan.is_empty() && g.routing != Routing::External {
                w.push(format!(
                    "gateway.route_table: routes go to table {table}, but gateway.lan is empty, so \
                     no \"from <lan> lookup {table}\" rule selects them"
                ));
            }
        }
        if g.routing == Routing::Static && g.route_table.is_none() {
            for (i, cidr) in g.remote_cidrs.iter().enumerate() {
                for (j, t) in self.tunnels.iter().enumerate() {
                    if cidr.contains(&t.aws_outside_address) {
                        w.push(format!(
                            "gateway.remote_cidrs[{i}]: {cidr} contains tunnel[{j}].aws_outside_address \
                             {}; IKE and ESP to AWS would be routed into the tunnel itself unless a \
                             more specific route exists (or use gateway.route_table)",
                            t.aws_outside_address
                        ));
                    }
                }
            }
        }
        if self.tunnels.len() == 1 {
            w.push(
                "tunnel: only one tunnel configured; AWS replaces tunnel endpoints one at a time \
                 during maintenance, so configure both for redundancy"
                    .to_string(),
            );
        }
        w
    }

    /// The IKE configuration of tunnel `tunnel_index` (0-based).
    ///
    /// Lifetimes are passed through unchanged (they are AWS's); the daemon subtracts the rekey
    /// margin and fuzz when it schedules rekeys.
    ///
    /// # Panics
    /// If `tunnel_index` is out of range or a proposal does not parse: validate first, or use
    /// [`CgwConfig::try_ike_config`].
    pub fn ike_config(&self, tunnel_index: usize) -> cgw_ike::Config {
        self.try_ike_config(tunnel_index)
            .unwrap_or_else(|e| panic!("ike_config({tunnel_index}): {e}"))
    }

    /// [`CgwConfig::ike_config`] without panics.
    pub fn try_ike_config(&self, tunnel_index: usize) -> Result<cgw_ike::Config, ConfigError> {
        let t = self.tunnels.get(tunnel_index).ok_or_else(|| {
            ConfigError::invalid(
                format!("tunnel[{tunnel_index}]"),
                format!("no such tunnel ({} configured)", self.tunnels.len()),
            )
        })?;
        let ike = t.parsed_ike_proposals().map_err(|e| {
            ConfigError::invalid(
                format!("tunnel[{tunnel_index}].ike_proposals"),
                e.to_string(),
            )
        })?;
        let esp = t.parsed_esp_proposals().map_err(|e| {
            ConfigError::invalid(
                format!("tunnel[{tunnel_index}].esp_proposals"),
                e.to_string(),
            )
        })?;
        let mut c = cgw_ike::Config::new(
            IpAddr::V4(self.gateway.local_address),
            IpAddr::V4(t.aws_outside_address),
            t.psk.as_bytes().to_vec(),
        );
        c.local_id = cgw_ike::id_for_addr(IpAddr::V4(self.gateway.effective_public_address()));
        c.remote_id = Some(cgw_ike::id_for_addr(IpAddr::V4(t.aws_outside_address)));
        c.ike_proposals = ike;
        c.esp_proposals = esp;
        c.local_ts = vec![cgw_wire::TrafficSelector::IPV4_ANY];
        c.remote_ts = vec![cgw_wire::TrafficSelector::IPV4_ANY];
        c.lifetimes = cgw_ike::Lifetimes {
            ike: Duration::from_secs(t.ike_lifetime_secs),
            child: Duration::from_secs(t.child_lifetime_secs),
            rekey_margin: Duration::from_secs(t.rekey_margin_secs),
            rekey_fuzz_percent: t.rekey_fuzz_percent,
            lead: t.role == Role::CustomerGateway,
        };
        c.replay_window = t.replay_window;
        c.dpd = Some(cgw_ike::DpdConfig {
            interval: Duration::from_secs(t.dpd_interval_secs),
            timeout: Duration::from_secs(t.dpd_timeout_secs),
        });
        Ok(c)
    }
}

struct Validator {
    errors: Vec<ConfigError>,
}

/// Whether `n` lies inside 169.254.0.0/16.
fn in_link_local(n: Ipv4Net) -> bool {
    n.prefix_len() >= 16 && u32::from(n.network()) & 0xffff_0000 == 0xa9fe_0000
}

fn usable_unicast(a: Ipv4Addr) -> Result<(), &'static str> {
    if a.is_unspecified() {
        Err("0.0.0.0 is not an address")
    } else if a.is_broadcast() {
        Err("the broadcast address is not a host address")
    } else if a.is_multicast() {
        Err("a multicast address is not a host address")
    } else {
        Ok(())
    }
}

impl Validator {
    fn err(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ConfigError::invalid(field, message));
    }

    fn prefix_list(&mut self, field: &str, list: &[Ipv4Net]) {
        let mut seen = HashSet::new();
        for (i, n) in list.iter().enumerate() {
            if n.trunc() != *n {
                self.err(
                    format!("{field}[{i}]"),
                    format!(
                        "{n} has host bits set; write the network address {}",
                        n.trunc()
                    ),
                );
            } else if !seen.insert(*n) {
                self.err(format!("{field}[{i}]"), format!("{n} is listed twice"));
            }
        }
    }

    fn gateway(&mut self, g: &Gateway) {
        if let Err(e) = usable_unicast(g.local_address) {
            self.err(
                "gateway.local_address",
                format!("{e}; give this host's outside IPv4 address"),
            );
        }
        if let Some(p) = g.public_address {
            if let Err(e) = usable_unicast(p) {
                self.err(
                    "gateway.public_address",
                    format!("{e}; give the customer gateway's public IPv4 address (or omit it)"),
                );
            }
        }
        self.prefix_list("gateway.lan", &g.lan);
        self.prefix_list("gateway.remote_cidrs", &g.remote_cidrs);
        if g.routing == Routing::Static && g.remote_cidrs.is_empty() {
            self.err(
                "gateway.remote_cidrs",
                "static routing needs at least one remote_cidrs entry (the VPC CIDR)",
            );
        }
        if let Some(t) = g.route_table {
            if matches!(t, 0 | 253 | 254 | 255) {
                self.err(
                    "gateway.route_table",
                    format!(
                        "{t} is reserved (0 unspec, 253 default, 254 main, 255 local); use \
                         1..=252 or 256 and above, or omit it for the main table"
                    ),
                );
            }
        }
        if g.control_socket.as_os_str().is_empty() {
            self.err(
                "gateway.control_socket",
                "empty; give a path (default /run/cgw/cgw.sock)",
            );
        }
        if let Some(id) = &g.vpn_connection_id {
            let ok = id
                .strip_prefix("vpn-")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric()));
            if !ok {
                self.err(
                    "gateway.vpn_connection_id",
                    format!("{id:?} is not an AWS VPN connection id (vpn-<hex>); fix or omit it"),
                );
            }
        }
    }

    /// Checks `section.key` against its range in [`FIELDS`].
    fn range(&mut self, field: String, section: Section, key: &str, value: u64, lab: bool) {
        if let Some(m) = range(section, key).check(value, lab) {
            self.err(field, m);
        }
    }

    fn monitor(&mut self, m: &Monitor, lab: bool) {
        let f = |k: &str| format!("monitor.{k}");
        self.range(
            f("interval_secs"),
            Section::Monitor,
            "interval_secs",
            m.interval_secs,
            lab,
        );
        self.range(
            f("threshold"),
            Section::Monitor,
            "threshold",
            m.threshold.into(),
            lab,
        );
    }

    fn tunnels(&mut self, cfg: &CgwConfig) {
        let n = cfg.tunnels.len();
        if n == 0 || n > 2 {
            self.err(
                "tunnel",
                format!(
                    "{n} [[tunnel]] sections; an AWS VPN connection has 2 tunnels: configure 1 or 2"
                ),
            );
        }
        for (i, t) in cfg.tunnels.iter().enumerate() {
            self.tunnel(cfg, i, t);
        }
        // Pairwise uniqueness.
        for i in 0..n {
            for j in 0..i {
                let (a, b) = (&cfg.tunnels[j], &cfg.tunnels[i]);
                if a.name == b.name {
                    self.err(
                        format!("tunnel[{i}].name"),
                        format!("{:?} is also tunnel[{j}]'s name; names must differ", b.name),
                    );
                }
                if a.device == b.device {
                    self.err(
                        format!("tunnel[{i}].device"),
                        format!(
                            "{:?} is also tunnel[{j}]'s device; each tunnel needs its own",
                            b.device
                        ),
                    );
                }
                if a.aws_outside_address == b.aws_outside_address {
                    self.err(
                        format!("tunnel[{i}].aws_outside_address"),
                        format!(
                            "{} is also tunnel[{j}]'s; the two AWS tunnel endpoints have different addresses",
                            b.aws_outside_address
                        ),
                    );
                }
                if a.inside_cidr.trunc() == b.inside_cidr.trunc() {
                    self.err(
                        format!("tunnel[{i}].inside_cidr"),
                        format!(
                            "{} is also tunnel[{j}]'s; each tunnel has its own /30",
                            b.inside_cidr
                        ),
                    );
                }
                if let (Some(ba), Some(bb)) = (&a.bgp, &b.bgp) {
                    if ba.local_asn != bb.local_asn {
                        self.err(
                            format!("tunnel[{i}].bgp.local_asn"),
                            format!(
                                "{} differs from tunnel[{j}].bgp.local_asn {}; a customer gateway has one ASN",
                                bb.local_asn, ba.local_asn
                            ),
                        );
                    }
                }
            }
        }
    }

    fn tunnel(&mut self, cfg: &CgwConfig, i: usize, t: &Tunnel) {
        let f = |name: &str| format!("tunnel[{i}].{name}");

        if t.name.is_empty()
            || t.name.len() > 32
            || !t
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.err(
                f("name"),
                format!("{:?}: use 1 to 32 characters of A-Z a-z 0-9 . _ -", t.name),
            );
        }
        if t.device.is_empty()
            || t.device.len() > 15
            || t.device == "."
            || t.device == ".."
            || !t
                .device
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.err(
                f("device"),
                format!(
                    "{:?} is not a valid interface name: use 1 to 15 bytes of A-Z a-z 0-9 . _ - \
                     (not \".\" or \"..\")",
                    t.device
                ),
            );
        }

        match usable_unicast(t.aws_outside_address) {
            Err(e) => self.err(
                f("aws_outside_address"),
                format!("{e}; give the AWS tunnel outside address"),
            ),
            Ok(()) if t.aws_outside_address == cfg.gateway.local_address => self.err(
                f("aws_outside_address"),
                "equals gateway.local_address; give the AWS tunnel outside address",
            ),
            Ok(()) => {}
        }

        self.psk(&f("psk"), &t.psk);
        self.inside_cidr(&f("inside_cidr"), t.inside_cidr);

        let lab = cfg.gateway.lab_mode;
        let ranged = |v: &mut Self, key: &str, value: u64| -> bool {
            let before = v.errors.len();
            v.range(f(key), Section::Tunnel, key, value, lab);
            v.errors.len() == before
        };
        ranged(self, "mtu", t.mtu.into());
        if ranged(self, "tcp_mss", t.tcp_mss.into()) && u32::from(t.tcp_mss) + 40 > u32::from(t.mtu)
        {
            self.err(
                f("tcp_mss"),
                format!(
                    "{} is more than mtu - 40 = {}; a full segment would not fit the tunnel",
                    t.tcp_mss,
                    i64::from(t.mtu) - 40
                ),
            );
        }

        self.proposals(i, t);

        let min_margin = if lab { 5 } else { 60 };
        ranged(self, "ike_lifetime_secs", t.ike_lifetime_secs);
        if ranged(self, "child_lifetime_secs", t.child_lifetime_secs)
            && t.child_lifetime_secs >= t.ike_lifetime_secs
        {
            self.err(
                f("child_lifetime_secs"),
                format!(
                    "{} must be less than ike_lifetime_secs ({})",
                    t.child_lifetime_secs, t.ike_lifetime_secs
                ),
            );
        }
        let max_margin = t.child_lifetime_secs / 2;
        if t.rekey_margin_secs < min_margin || t.rekey_margin_secs > max_margin {
            self.err(
                f("rekey_margin_secs"),
                format!(
                    "{} is out of range: {min_margin} up to half of child_lifetime_secs ({max_margin})",
                    t.rekey_margin_secs
                ),
            );
        }
        ranged(self, "rekey_fuzz_percent", t.rekey_fuzz_percent.into());
        ranged(self, "replay_window", t.replay_window.into());
        let interval_ok = ranged(self, "dpd_interval_secs", t.dpd_interval_secs);
        if ranged(self, "dpd_timeout_secs", t.dpd_timeout_secs)
            && interval_ok
            && t.dpd_interval_secs >= t.dpd_timeout_secs
        {
            self.err(
                f("dpd_interval_secs"),
                format!(
                    "{} must be less than dpd_timeout_secs ({})",
                    t.dpd_interval_secs, t.dpd_timeout_secs
                ),
            );
        }

        match (&t.bgp, cfg.gateway.routing) {
            (None, Routing::Bgp) => self.err(
                f("bgp"),
                "missing: routing = \"bgp\" needs a [tunnel.bgp] section (local_asn, peer_asn) in each tunnel",
            ),
            (Some(_), r @ (Routing::Static | Routing::External)) => self.err(
                f("bgp"),
                format!("only allowed with routing = \"bgp\" (routing is \"{r}\"); remove it"),
            ),
            (Some(b), Routing::Bgp) => self.bgp(i, b),
            (None, _) => {}
        }
    }

    fn psk(&mut self, field: &str, psk: &str) {
        let len = psk.chars().count();
        if !(8..=64).contains(&len) {
            self.err(
                field,
                format!("{len} characters; AWS pre-shared keys have 8 to 64"),
            );
        }
        if let Some(bad) = psk
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
        {
            self.err(
                field,
                format!("contains {bad:?}; allowed are A-Z a-z 0-9 . and _"),
            );
        }
        if psk.starts_with('0') {
            self.err(field, "starts with '0', which AWS does not allow");
        }
    }

    fn inside_cidr(&mut self, field: &str, n: Ipv4Net) {
        if n.prefix_len() != 30 {
            self.err(
                field,
                format!(
                    "{n} is a /{}; AWS tunnel inside CIDRs are /30s in 169.254.0.0/16",
                    n.prefix_len()
                ),
            );
            return;
        }
        if n.trunc() != n {
            self.err(
                field,
                format!(
                    "{n} has host bits set; write the network address {}",
                    n.trunc()
                ),
            );
            return;
        }
        if !in_link_local(n) {
            self.err(
                field,
                format!("{n} is outside 169.254.0.0/16, where AWS tunnel inside CIDRs must be"),
            );
            return;
        }
        if RESERVED_INSIDE_CIDRS
            .iter()
            .any(|r| r.parse::<Ipv4Net>() == Ok(n))
        {
            self.err(
                field,
                format!(
                    "{n} is reserved by AWS (reserved: {}); pick another /30 in 169.254.0.0/16",
                    RESERVED_INSIDE_CIDRS.join(", ")
                ),
            );
        }
    }

    fn proposals(&mut self, i: usize, t: &Tunnel) {
        if t.ike_proposals.is_empty() {
            self.err(
                format!("tunnel[{i}].ike_proposals"),
                "empty; give at least one, e.g. \"aes256-sha384-ecp384\"",
            );
        }
        for (k, p) in t.ike_proposals.iter().enumerate() {
            if let Err(e) = IkeProposal::parse(p) {
                self.err(format!("tunnel[{i}].ike_proposals[{k}]"), e.to_string());
            }
        }
        if t.esp_proposals.is_empty() {
            self.err(
                format!("tunnel[{i}].esp_proposals"),
                "empty; give at least one, e.g. \"aes256gcm16-ecp384\"",
            );
        }
        for (k, p) in t.esp_proposals.iter().enumerate() {
            if let Err(e) = EspProposal::parse(p) {
                self.err(format!("tunnel[{i}].esp_proposals[{k}]"), e.to_string());
            }
        }
    }

    fn bgp(&mut self, i: usize, b: &TunnelBgp) {
        let f = |name: &str| format!("tunnel[{i}].bgp.{name}");
        if !(1..=2_147_483_647).contains(&b.local_asn) {
            self.err(
                f("local_asn"),
                format!(
                    "{} is out of range: AWS customer gateways take ASNs 1..=2147483647 \
                     (4200000000 and up are not supported)",
                    b.local_asn
                ),
            );
        }
        if !valid_amazon_asn(b.peer_asn) {
            self.err(
                f("peer_asn"),
                format!(
                    "{} is not an Amazon-side ASN: 64512..=65534, 4200000000..=4294967294, \
                     or 7224 / 9059 (older virtual private gateways)",
                    b.peer_asn
                ),
            );
        }
        if b.local_asn == b.peer_asn {
            self.err(
                f("local_asn"),
                format!(
                    "{} equals peer_asn; AWS peers over eBGP, so the ASNs must differ",
                    b.local_asn
                ),
            );
        }
        if b.hold_time_secs < 3 {
            self.err(
                f("hold_time_secs"),
                format!(
                    "{} is too short: at least 3 (AWS uses 30)",
                    b.hold_time_secs
                ),
            );
        }
        if b.keepalive_secs == 0 || b.keepalive_secs > b.hold_time_secs / 3 {
            self.err(
                f("keepalive_secs"),
                format!(
                    "{} is out of range: 1 up to a third of hold_time_secs ({})",
                    b.keepalive_secs,
                    b.hold_time_secs / 3
                ),
            );
        }
    }
}

/// Whether `asn` can be the Amazon side of a VPN BGP session.
pub fn valid_amazon_asn(asn: u32) -> bool {
    (64_512..=65_534).contains(&asn)
        || (4_200_000_000..=4_294_967_294).contains(&asn)
        || asn == 7224
        || asn == 9059
}
