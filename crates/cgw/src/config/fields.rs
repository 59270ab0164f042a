//! The field table: every key of `cgw.toml` once, with its default, its allowed range and a
//! one-line description. It drives the validator's range checks and their messages, the
//! comment `cgw import aws` writes above each key, and the README reference check
//! (`tests/readme_reference.rs`), so the three cannot disagree; a test parses each default
//! back through serde, so the table cannot disagree with the code either.

/// A section of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `[gateway]`.
    Gateway,
    /// `[monitor]`.
    Monitor,
    /// `[[tunnel]]`.
    Tunnel,
    /// `[tunnel.bgp]`.
    TunnelBgp,
}

impl Section {
    /// The prefix of a key's path in messages (`tunnel[1].bgp.med` has `bgp.` after the
    /// index) and its name in TOML.
    pub fn toml_name(self) -> &'static str {
        match self {
            Section::Gateway => "gateway",
            Section::Monitor => "monitor",
            Section::Tunnel => "tunnel",
            Section::TunnelBgp => "tunnel.bgp",
        }
    }
}

/// What a key is when the file leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// The file must set it.
    Required,
    /// Absent (an `Option` that stays `None`).
    Unset,
    /// This TOML value.
    Value(&'static str),
    /// Derived from other keys or the position, as the README words it.
    Derived(&'static str),
}

impl DefaultValue {
    /// The README's "default" cell.
    pub fn readme_text(self) -> String {
        match self {
            DefaultValue::Required => "required".into(),
            DefaultValue::Unset => "unset".into(),
            DefaultValue::Value(v) => format!("`{v}`"),
            DefaultValue::Derived(text) => text.into(),
        }
    }
}

/// The allowed values of a numeric key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// Smallest value.
    pub min: u64,
    /// Smallest value with `gateway.lab_mode = true`.
    pub lab_min: u64,
    /// Largest value (`u64::MAX`: no upper bound).
    pub max: u64,
    /// Where the bounds come from.
    pub why: &'static str,
}

impl Range {
    /// The range as the messages, comments and README write it: `900..=28800`, or
    /// `at least 30` without an upper bound.
    pub fn text(&self, lab: bool) -> String {
        let min = if lab { self.lab_min } else { self.min };
        if self.max == u64::MAX {
            format!("at least {min}")
        } else {
            format!("{min}..={}", self.max)
        }
    }

    /// The error for `value`, if it is out of range.
    pub fn check(&self, value: u64, lab: bool) -> Option<String> {
        let min = if lab { self.lab_min } else { self.min };
        if (min..=self.max).contains(&value) {
            return None;
        }
        let lab_note = if lab && self.lab_min != self.min {
            " in lab mode"
        } else {
            ""
        };
        Some(format!(
            "{value} is out of range: {}{lab_note} ({})",
            self.text(lab),
            self.why
        ))
    }
}

/// One key of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The table it lives in.
    pub section: Section,
    /// The key, as written in the file.
    pub key: &'static str,
    /// Its value when the file leaves it out.
    pub default: DefaultValue,
    /// Fixed bounds, for numeric keys that have them (relations between keys, such as
    /// `tcp_mss` at most `mtu - 40`, are checked apart).
    pub range: Option<Range>,
    /// One line: what the key is (the comment `cgw import aws` writes).
    pub doc: &'static str,
}

const fn field(
    section: Section,
    key: &'static str,
    default: DefaultValue,
    doc: &'static str,
) -> Field {
    Field {
        section,
        key,
        default,
        range: None,
        doc,
    }
}

const fn ranged(
    section: Section,
    key: &'static str,
    default: DefaultValue,
    (min, lab_min, max, why): (u64, u64, u64, &'static str),
    doc: &'static str,
) -> Field {
    Field {
        section,
        key,
        default,
        range: Some(Range {
            min,
            lab_min,
            max,
            why,
        }),
        doc,
    }
}

use DefaultValue::{Derived, Required, Unset, Value};
use Section::{Gateway as G, Monitor as M, Tunnel as T, TunnelBgp as B};

/// Every key of `cgw.toml`, in the order the README and `cgw import aws` list them.
pub const FIELDS: &[Field] = &[
    field(G, "local_address", Required, "Our outside address on this host (source of IKE and ESP)"),
    field(G, "public_address", Derived("the `local_address`"),
        "The customer gateway address AWS knows (the NAT's public address when behind NAT); our IKE ID"),
    field(G, "routing", Required, "How VPC routes are managed: \"static\" | \"bgp\" | \"external\""),
    field(G, "lan", Value("[]"), "On-premises prefixes (advertised with BGP; sources of the route_table rule)"),
    field(G, "remote_cidrs", Value("[]"), "The VPC CIDR(s) routed into the tunnels (static routing)"),
    field(G, "route_table", Unset,
        "Routing table for the tunnel routes, plus a \"from <lan> lookup N\" rule per lan prefix; unset = main table"),
    field(G, "control_socket", Value("\"/run/cgw/cgw.sock\""), "Control socket of the daemon (cgw status)"),
    field(G, "vpn_connection_id", Unset, "The AWS VPN connection (used in messages)"),
    field(G, "advertise_interfaces", Value("[]"), "BGP: also advertise the connected prefixes of these interfaces"),
    field(G, "bgp_ecmp", Value("false"), "BGP: install equal best paths over both tunnels as one multipath route"),
    field(G, "metrics_listen", Unset, "Serve Prometheus metrics on this address and port"),
    field(G, "lab_mode", Value("false"), "Lab use only: allow lifetimes and margins below AWS's minimums"),
    field(M, "enabled", Value("true"), "Probe the tunnels and fail over between them"),
    ranged(M, "interval_secs", Value("2"), (1, 1, u64::MAX, "seconds"), "Seconds between probes"),
    ranged(M, "threshold", Value("5"), (1, 1, u64::MAX, "intervals without an answer"),
        "Missed probes before a tunnel counts as down"),
    field(M, "failback_hold_secs", Value("30"),
        "Seconds a recovered tunnel must stay up before traffic moves back to it"),
    field(T, "name", Value("\"tunnel1\""), "Name in logs and cgw status"),
    field(T, "device", Value("\"cgw0\""), "TUN device (at most 15 bytes of A-Z a-z 0-9 . _ -)"),
    field(T, "aws_outside_address", Required, "AWS's tunnel endpoint: the IKE peer and its expected ID"),
    field(T, "psk", Required, "Pre-shared key (keep this file private)"),
    field(T, "inside_cidr", Required, "Inside /30 in 169.254.0.0/16: AWS the first host, us the second"),
    ranged(T, "mtu", Value("1427"), (576, 576, 1446, "1446 is the largest AWS supports"), "TUN device MTU"),
    ranged(T, "tcp_mss", Value("1379"), (536, 536, 1406, "1406 is the largest AWS supports"),
        "TCP MSS clamp (at most mtu - 40)"),
    field(T, "ike_proposals", Value("[\"aes256-sha384-ecp384\"]"),
        "IKE SA proposals (strongSwan syntax), preferred first"),
    field(T, "esp_proposals", Value("[\"aes256gcm16-ecp384\"]"),
        "ESP proposals (strongSwan syntax; the DH group is PFS for rekeys), preferred first"),
    ranged(T, "ike_lifetime_secs", Value("28800"), (900, 20, 28_800, "AWS's phase 1 lifetimes"),
        "AWS's phase 1 lifetime; cgw rekeys rekey_margin_secs (plus fuzz) before it"),
    ranged(T, "child_lifetime_secs", Value("3600"), (900, 20, 3_600, "AWS's phase 2 lifetimes"),
        "AWS's phase 2 lifetime; cgw rekeys rekey_margin_secs (plus fuzz) before it"),
    field(T, "rekey_margin_secs", Value("270"),
        "Rekey this long before a lifetime ends (60 to child_lifetime_secs / 2)"),
    ranged(T, "rekey_fuzz_percent", Value("100"), (0, 0, 100, "AWS's rekey fuzz"),
        "Widen the rekey margin at random by up to this percentage"),
    ranged(T, "dpd_interval_secs", Value("10"), (1, 1, u64::MAX, "seconds"),
        "Send a DPD probe after this long without hearing from AWS"),
    ranged(T, "dpd_timeout_secs", Value("30"), (30, 30, u64::MAX, "AWS's minimum DPD timeout"),
        "Declare AWS dead after this long without an answer"),
    field(T, "dpd_action", Value("\"restart\""), "What cgw does then: \"restart\" | \"clear\" | \"none\""),
    ranged(T, "replay_window", Value("1024"), (64, 64, 2048, "AWS's replay window sizes, in packets"),
        "ESP anti-replay window in packets"),
    field(T, "child_lifetime_packets", Unset,
        "Rekey a Child SA after this many packets in one direction (unset: by time only, as AWS)"),
    field(T, "child_lifetime_bytes", Unset,
        "Rekey a Child SA after this many bytes in one direction (unset: by time only)"),
    field(T, "startup_action", Value("\"initiate\""),
        "\"initiate\" (AWS startup action add) | \"respond\" (AWS startup action start; cgw still retries)"),
    field(T, "bgp", Unset, "The [tunnel.bgp] table"),
    field(B, "local_asn", Value("65000"), "Our ASN (the customer gateway's)"),
    field(B, "peer_asn", Value("64512"), "AWS's ASN (the Amazon side)"),
    field(B, "hold_time_secs", Value("30"), "BGP hold time"),
    field(B, "keepalive_secs", Value("10"), "BGP keepalive interval (at most hold_time_secs / 3)"),
    field(B, "local_pref", Unset, "LOCAL_PREF of routes learned over this tunnel"),
    field(B, "as_path_prepend", Value("0"), "Prepend our ASN this many extra times to what we advertise here"),
    field(B, "med", Unset, "MULTI_EXIT_DISC on what we advertise over this tunnel"),
    field(B, "passive", Value("false"), "Never connect; wait for the peer to"),
];

/// The entry of `section.key`. Panics for a key not in [`FIELDS`] (a programming error:
/// every key of the file is in the table, which a test checks).
pub fn field_of(section: Section, key: &str) -> &'static Field {
    FIELDS
        .iter()
        .find(|f| f.section == section && f.key == key)
        .unwrap_or_else(|| panic!("no field {}.{key}", section.toml_name()))
}

/// The range of `section.key`. Panics when it has none (a programming error).
pub fn range(section: Section, key: &str) -> &'static Range {
    field_of(section, key)
        .range
        .as_ref()
        .unwrap_or_else(|| panic!("{}.{key} has no range", section.toml_name()))
}
