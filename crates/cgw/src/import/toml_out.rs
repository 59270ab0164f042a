//! Writes a complete `cgw.toml` with a one-line comment above every key: what it is and where
//! its value came from.

use crate::config::{field_of, CgwConfig, Section, Tunnel};
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

struct Writer<'a> {
    out: &'a mut String,
    notes: Option<&'a HashMap<&'static str, String>>,
    prefix: &'static str,
    /// Where the keys' descriptions and allowed ranges are looked up in the field table.
    section: Section,
}

impl Writer<'_> {
    fn note(&self, key: &str) -> Option<&String> {
        let full = format!("{}{key}", self.prefix);
        self.notes.and_then(|n| n.get(full.as_str()))
    }

    /// The key's description from the field table, with its allowed range if it has one.
    fn what(&self, key: &str) -> String {
        let f = field_of(self.section, key);
        match &f.range {
            Some(r) => format!("{} (allowed: {})", f.doc, r.text(false)),
            None => f.doc.to_string(),
        }
    }

    fn key(&mut self, key: &str, value: &str) {
        self.key_with(key, "", value)
    }

    /// A key whose comment adds `detail` (values of this file) to the table's description.
    fn key_with(&mut self, key: &str, detail: &str, value: &str) {
        let mut what = self.what(key);
        if !detail.is_empty() {
            what = format!("{what} ({detail})");
        }
        let line = comment_line(&what, self.note(key));
        let _ = writeln!(self.out, "{line}");
        let _ = writeln!(self.out, "{key} = {value}");
    }

    fn unset(&mut self, key: &str, example: &str) {
        let line = comment_line(&self.what(key), self.note(key));
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
    let mut s = Writer {
        out: &mut out,
        notes: Some(&notes.gateway),
        prefix: "",
        section: Section::Gateway,
    };
    s.key("local_address", &quote(&g.local_address.to_string()));
    match g.public_address {
        Some(a) => s.key("public_address", &quote(&a.to_string())),
        None => s.unset("public_address", "\"198.51.100.10\""),
    }
    s.key("routing", &quote(&g.routing.to_string()));
    s.key("lan", &nets(&g.lan));
    s.key("remote_cidrs", &nets(&g.remote_cidrs));
    match g.route_table {
        Some(t) => s.key("route_table", &t.to_string()),
        None => s.unset("route_table", "100"),
    }
    s.key(
        "control_socket",
        &quote(&g.control_socket.display().to_string()),
    );
    match &g.vpn_connection_id {
        Some(id) => s.key("vpn_connection_id", &quote(id)),
        None => s.unset("vpn_connection_id", "\"vpn-0123456789abcdef0\""),
    }

    let m = &cfg.monitor;
    out.push_str("\n# Tunnel liveness probes and failover (cgw defaults).\n[monitor]\n");
    let mut s = Writer {
        out: &mut out,
        notes: None,
        prefix: "",
        section: Section::Monitor,
    };
    s.key("enabled", &m.enabled.to_string());
    s.key("interval_secs", &m.interval_secs.to_string());
    s.key("threshold", &m.threshold.to_string());
    s.key("failback_hold_secs", &m.failback_hold_secs.to_string());

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
    let mut s = Writer {
        out,
        notes,
        prefix: "",
        section: Section::Tunnel,
    };
    s.key("name", &quote(&t.name));
    s.key("device", &quote(&t.device));
    s.key(
        "aws_outside_address",
        &quote(&t.aws_outside_address.to_string()),
    );
    s.key("psk", &quote(&t.psk));
    s.key_with(
        "inside_cidr",
        &format!(
            "AWS {}, us {}",
            t.aws_inside_address(),
            t.our_inside_address()
        ),
        &quote(&t.inside_cidr.to_string()),
    );
    s.key("mtu", &t.mtu.to_string());
    s.key("tcp_mss", &t.tcp_mss.to_string());
    s.key("ike_proposals", &strings_multiline(&t.ike_proposals));
    s.key("esp_proposals", &strings_multiline(&t.esp_proposals));
    s.key("ike_lifetime_secs", &t.ike_lifetime_secs.to_string());
    s.key("child_lifetime_secs", &t.child_lifetime_secs.to_string());
    s.key("rekey_margin_secs", &t.rekey_margin_secs.to_string());
    s.key("rekey_fuzz_percent", &t.rekey_fuzz_percent.to_string());
    s.key("replay_window", &t.replay_window.to_string());
    match t.child_lifetime_packets {
        Some(v) => s.key("child_lifetime_packets", &v.to_string()),
        None => s.unset("child_lifetime_packets", "1000000000"),
    }
    match t.child_lifetime_bytes {
        Some(v) => s.key("child_lifetime_bytes", &v.to_string()),
        None => s.unset("child_lifetime_bytes", "1000000000000"),
    }
    s.key("dpd_interval_secs", &t.dpd_interval_secs.to_string());
    s.key("dpd_timeout_secs", &t.dpd_timeout_secs.to_string());
    s.key("dpd_action", &quote(&t.dpd_action.to_string()));
    s.key("startup_action", &quote(&t.startup_action.to_string()));
    match &t.bgp {
        Some(b) => {
            s.out.push_str("[tunnel.bgp]\n");
            s.prefix = "bgp.";
            s.section = Section::TunnelBgp;
            s.key("local_asn", &b.local_asn.to_string());
            s.key("peer_asn", &b.peer_asn.to_string());
            s.key("hold_time_secs", &b.hold_time_secs.to_string());
            s.key("keepalive_secs", &b.keepalive_secs.to_string());
        }
        None => {
            if let Some(n) = no_bgp {
                let _ = writeln!(s.out, "{}", comment_line("No [tunnel.bgp]", Some(n)));
            }
        }
    }
}
