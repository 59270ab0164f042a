//! Writes a complete `cgw.toml` with a one-line comment above every key: what it is and where
//! its value came from.

use crate::config::{CgwConfig, Tunnel};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::fmt::Write as _;

/// Where each value came from, keyed by the TOML key (`bgp.local_asn` for `[tunnel.bgp]`).
#[derive(Debug, Default)]
pub(crate) struct Notes {
    /// Header comment lines (without `# `).
    pub header: Vec<String>,
    pub gateway: HashMap<&'static str, String>,
    pub tunnels: Vec<HashMap<&'static str, String>>,
    /// A comment for a tunnel without `[tunnel.bgp]`.
    pub no_bgp: Option<String>,
}

/// A TOML basic string.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn nets(list: &[Ipv4Net]) -> String {
    let items: Vec<String> = list.iter().map(|n| quote(&n.to_string())).collect();
    format!("[{}]", items.join(", "))
}

fn strings_multiline(list: &[String]) -> String {
    if list.is_empty() {
        return "[]".to_string();
    }
    let mut s = String::from("[\n");
    for item in list {
        let _ = writeln!(s, "    {},", quote(item));
    }
    s.push(']');
    s
}

/// One comment line; newlines in a note would break the "one line" promise, so flatten them.
fn comment_line(what: &str, note: Option<&String>) -> String {
    let line = match note {
        Some(n) if !n.is_empty() => format!("# {what}; {n}"),
        _ => format!("# {what}"),
    };
    line.replace('\n', " ")
}

struct Section<'a> {
    out: &'a mut String,
    notes: Option<&'a HashMap<&'static str, String>>,
    prefix: &'static str,
    /// `gateway`, `monitor` or `tunnel`: where the keys' allowed ranges are looked up.
    section: &'static str,
}

impl Section<'_> {
    fn note(&self, key: &str) -> Option<&String> {
        let full = format!("{}{key}", self.prefix);
        self.notes.and_then(|n| n.get(full.as_str()))
    }

    /// The description with the key's allowed range (`cgw::config::RANGES`), if it has one.
    fn what(&self, key: &str, what: &str) -> String {
        match crate::config::RANGES
            .iter()
            .find(|r| r.section == self.section && r.key == key)
        {
            Some(r) => format!("{what} (allowed: {})", r.text(false)),
            None => what.to_string(),
        }
    }

    fn key(&mut self, key: &str, what: &str, value: &str) {
        let line = comment_line(&self.what(key, what), self.note(key));
        let _ = writeln!(self.out, "{line}");
        let _ = writeln!(self.out, "{key} = {value}");
    }

    fn unset(&mut self, key: &str, what: &str, example: &str) {
        let line = comment_line(&self.what(key, what), self.note(key));
        let _ = writeln!(self.out, "{line}");
        let _ = writeln!(self.out, "# {key} = {example}");
    }
}

/// Renders the whole file.
pub(crate) fn write(cfg: &CgwConfig, notes: &Notes, warnings: &[String]) -> String {
    let mut out = String::new();
    for h in &notes.header {
        let _ = writeln!(out, "{}", format!("# {h}").trim_end());
    }
    if !warnings.is_empty() {
        out.push_str("#\n# Warnings from the import:\n");
        for w in warnings {
            let _ = writeln!(out, "#   - {}", w.replace('\n', " "));
        }
    }
    out.push('\n');

    let g = &cfg.gateway;
    out.push_str("[gateway]\n");
    let mut s = Section {
        out: &mut out,
        notes: Some(&notes.gateway),
        prefix: "",
        section: "gateway",
    };
    s.key(
        "local_address",
        "Our outside address on this host (source of IKE and ESP)",
        &quote(&g.local_address.to_string()),
    );
    let what = "The customer gateway address AWS knows (the NAT's public address when behind NAT); our IKE ID";
    match g.public_address {
        Some(a) => s.key("public_address", what, &quote(&a.to_string())),
        None => s.unset("public_address", what, "\"198.51.100.10\""),
    }
    s.key(
        "routing",
        "How VPC routes are managed: \"static\" | \"bgp\" | \"external\"",
        &quote(&g.routing.to_string()),
    );
    s.key(
        "lan",
        "On-premises prefixes (advertised with BGP; sources of the route_table rule)",
        &nets(&g.lan),
    );
    s.key(
        "remote_cidrs",
        "The VPC CIDR(s) routed into the tunnels (static routing)",
        &nets(&g.remote_cidrs),
    );
    let what = "Routing table for the tunnel routes, plus a \"from <lan> lookup N\" rule per lan prefix; unset = main table";
    match g.route_table {
        Some(t) => s.key("route_table", what, &t.to_string()),
        None => s.unset("route_table", what, "100"),
    }
    s.key(
        "control_socket",
        "Control socket of the daemon (cgw status)",
        &quote(&g.control_socket.display().to_string()),
    );
    let what = "The AWS VPN connection (used in messages)";
    match &g.vpn_connection_id {
        Some(id) => s.key("vpn_connection_id", what, &quote(id)),
        None => s.unset("vpn_connection_id", what, "\"vpn-0123456789abcdef0\""),
    }

    let m = &cfg.monitor;
    out.push_str("\n# Tunnel liveness probes and failover (cgw defaults).\n[monitor]\n");
    let mut s = Section {
        out: &mut out,
        notes: None,
        prefix: "",
        section: "monitor",
    };
    s.key(
        "enabled",
        "Probe the tunnels and fail over between them",
        &m.enabled.to_string(),
    );
    s.key(
        "interval_secs",
        "Seconds between probes",
        &m.interval_secs.to_string(),
    );
    s.key(
        "threshold",
        "Missed probes before a tunnel counts as down",
        &m.threshold.to_string(),
    );
    s.key(
        "failback_hold_secs",
        "Seconds a recovered tunnel must stay up before traffic moves back to it",
        &m.failback_hold_secs.to_string(),
    );

    for (i, t) in cfg.tunnels.iter().enumerate() {
        tunnel(&mut out, t, notes.tunnels.get(i), notes.no_bgp.as_ref());
    }
    out
}

fn tunnel(
    out: &mut String,
    t: &Tunnel,
    notes: Option<&HashMap<&'static str, String>>,
    no_bgp: Option<&String>,
) {
    out.push_str("\n[[tunnel]]\n");
    let mut s = Section {
        out,
        notes,
        prefix: "",
        section: "tunnel",
    };
    s.key("name", "Name in logs and cgw status", &quote(&t.name));
    s.key(
        "device",
        "TUN device (at most 15 bytes of A-Z a-z 0-9 . _ -)",
        &quote(&t.device),
    );
    s.key(
        "aws_outside_address",
        "AWS's tunnel endpoint: the IKE peer and its expected ID",
        &quote(&t.aws_outside_address.to_string()),
    );
    s.key(
        "psk",
        "Pre-shared key (keep this file private)",
        &quote(&t.psk),
    );
    s.key(
        "inside_cidr",
        &format!(
            "Inside /30: AWS {} (first host), us {} (second host)",
            t.aws_inside_address(),
            t.our_inside_address()
        ),
        &quote(&t.inside_cidr.to_string()),
    );
    s.key(
        "mtu",
        "TUN device MTU (576..=1446; AWS supports at most 1446)",
        &t.mtu.to_string(),
    );
    s.key(
        "tcp_mss",
        "TCP MSS clamp (at most mtu - 40)",
        &t.tcp_mss.to_string(),
    );
    s.key(
        "ike_proposals",
        "IKE SA proposals (strongSwan syntax), preferred first",
        &strings_multiline(&t.ike_proposals),
    );
    s.key(
        "esp_proposals",
        "ESP proposals (strongSwan syntax; the DH group is PFS for rekeys), preferred first",
        &strings_multiline(&t.esp_proposals),
    );
    s.key(
        "ike_lifetime_secs",
        "AWS's phase 1 lifetime; cgw rekeys rekey_margin_secs (plus fuzz) before it",
        &t.ike_lifetime_secs.to_string(),
    );
    s.key(
        "child_lifetime_secs",
        "AWS's phase 2 lifetime; cgw rekeys rekey_margin_secs (plus fuzz) before it",
        &t.child_lifetime_secs.to_string(),
    );
    s.key(
        "rekey_margin_secs",
        "Rekey this long before a lifetime ends (60 to child_lifetime_secs / 2)",
        &t.rekey_margin_secs.to_string(),
    );
    s.key(
        "rekey_fuzz_percent",
        "Widen the rekey margin at random by up to this percentage",
        &t.rekey_fuzz_percent.to_string(),
    );
    s.key(
        "replay_window",
        "ESP anti-replay window in packets",
        &t.replay_window.to_string(),
    );
    let what =
        "Rekey a Child SA after this many packets in one direction (unset: by time only, as AWS)";
    match t.child_lifetime_packets {
        Some(v) => s.key("child_lifetime_packets", what, &v.to_string()),
        None => s.unset("child_lifetime_packets", what, "1000000000"),
    }
    let what = "Rekey a Child SA after this many bytes in one direction (unset: by time only)";
    match t.child_lifetime_bytes {
        Some(v) => s.key("child_lifetime_bytes", what, &v.to_string()),
        None => s.unset("child_lifetime_bytes", what, "1000000000000"),
    }
    s.key(
        "dpd_interval_secs",
        "Send a DPD probe after this long without hearing from AWS",
        &t.dpd_interval_secs.to_string(),
    );
    s.key(
        "dpd_timeout_secs",
        "Declare AWS dead after this long without an answer",
        &t.dpd_timeout_secs.to_string(),
    );
    s.key(
        "dpd_action",
        "What cgw does then: \"restart\" | \"clear\" | \"none\"",
        &quote(&t.dpd_action.to_string()),
    );
    s.key(
        "startup_action",
        "\"initiate\" (AWS startup action add) | \"respond\" (AWS startup action start; cgw still retries)",
        &quote(&t.startup_action.to_string()),
    );
    match &t.bgp {
        Some(b) => {
            s.out.push_str("[tunnel.bgp]\n");
            s.prefix = "bgp.";
            s.key(
                "local_asn",
                "Our ASN (the customer gateway's)",
                &b.local_asn.to_string(),
            );
            s.key(
                "peer_asn",
                "AWS's ASN (the Amazon side)",
                &b.peer_asn.to_string(),
            );
            s.key(
                "hold_time_secs",
                "BGP hold time",
                &b.hold_time_secs.to_string(),
            );
            s.key(
                "keepalive_secs",
                "BGP keepalive interval (at most hold_time_secs / 3)",
                &b.keepalive_secs.to_string(),
            );
        }
        None => {
            if let Some(n) = no_bgp {
                let _ = writeln!(s.out, "{}", comment_line("No [tunnel.bgp]", Some(n)));
            }
        }
    }
}
