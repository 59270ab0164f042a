//! Combines the parsed input (XML or Generic, plus the JSON's tunnel options) into a
//! [`CgwConfig`] and its commented TOML.

use super::json::{JsonConnection, JsonTunnel};
use super::proposals::{self, PhaseLists};
use super::toml_out::{self, Notes};
use super::{Field, ImportError, ImportOptions, Imported, SourceFormat, SrcConnection, SrcTunnel};
use crate::config::{
    default_device, default_tunnel_name, defaults, CgwConfig, DpdAction, Gateway, Monitor, Routing,
    StartupAction, Tunnel, TunnelBgp,
};
use ipnet::Ipv4Net;
use std::collections::HashMap;
use std::net::Ipv4Addr;

type NoteMap = HashMap<&'static str, String>;

fn from(at: &str) -> String {
    format!("from {at}")
}

fn is_any(n: &Ipv4Net) -> bool {
    n.prefix_len() == 0
}

/// Pairs each tunnel with its TunnelOptions entry by AWS outside address.
fn pair(
    conn: SrcConnection,
    json: Option<&JsonConnection>,
) -> Result<Vec<(SrcTunnel, Option<JsonTunnel>)>, ImportError> {
    let src = conn.tunnels;
    // Duplicate AWS outside addresses in the XML/Generic text.
    for (i, t) in src.iter().enumerate() {
        if let Some(prev) = src[..i]
            .iter()
            .find(|p| p.aws_outside.value == t.aws_outside.value)
        {
            return Err(ImportError::at(
                &t.aws_outside.at,
                format!(
                    "{} is also {}'s address; the two AWS tunnel endpoints must differ",
                    t.aws_outside.value, prev.label
                ),
            ));
        }
    }
    let options = json.map(|j| j.tunnel_options.as_slice()).unwrap_or(&[]);
    if options.is_empty() {
        return Ok(src.into_iter().map(|t| (t, None)).collect());
    }
    let mut src: Vec<Option<SrcTunnel>> = src.into_iter().map(Some).collect();
    let mut out = Vec::new();
    for o in options {
        let Some(k) = src
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.aws_outside.value == o.outside))
        else {
            let used = out
                .iter()
                .any(|(t, _): &(SrcTunnel, Option<JsonTunnel>)| t.aws_outside.value == o.outside);
            let known: Vec<String> = src
                .iter()
                .flatten()
                .map(|t| t.aws_outside.value.to_string())
                .collect();
            return Err(ImportError::at(
                o.path("OutsideIpAddress"),
                if used {
                    format!("{} is listed twice in Options.TunnelOptions", o.outside)
                } else {
                    format!(
                        "{} matches no tunnel in CustomerGatewayConfiguration (whose remaining \
                         vpn_gateway outside addresses are: {})",
                        o.outside,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    )
                },
            ));
        };
        let t = src[k].take().expect("position found it");
        out.push((t, Some(o.clone())));
    }
    if let Some(t) = src.into_iter().flatten().next() {
        return Err(ImportError::at(
            &t.aws_outside.at,
            format!(
                "{} has no Options.TunnelOptions entry with that OutsideIpAddress",
                t.aws_outside.value
            ),
        ));
    }
    Ok(out)
}

pub(crate) fn build(
    format: SourceFormat,
    conn: SrcConnection,
    json: Option<JsonConnection>,
    opts: &ImportOptions,
) -> Result<Imported, ImportError> {
    let mut warnings: Vec<String> = Vec::new();
    let mut notes = Notes::default();
    let mut gn: NoteMap = HashMap::new();

    match conn.tunnels.len() {
        0 => {
            return Err(ImportError::at(
                &conn.tunnels_at,
                "missing: the connection describes no tunnel",
            ))
        }
        1 | 2 => {}
        n => {
            return Err(ImportError::at(
                &conn.tunnels_at,
                format!("{n} tunnels; an AWS VPN connection has 2"),
            ))
        }
    }

    // Connection identity and target.
    let vpn_id_field: Option<Field<String>> = json
        .as_ref()
        .and_then(|j| j.vpn_connection_id.clone())
        .map(|id| Field::new(id, "VpnConnectionId"))
        .or_else(|| conn.vpn_connection_id.clone());
    let vpn_connection_id = match vpn_id_field {
        Some(f)
            if f.value
                .strip_prefix("vpn-")
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric())) =>
        {
            gn.insert("vpn_connection_id", from(&f.at));
            Some(f.value)
        }
        Some(f) => {
            warnings.push(format!(
                "{}: {:?} is not a VPN connection id; left out",
                f.at, f.value
            ));
            None
        }
        None => None,
    };
    let transit_gateway_id = json
        .as_ref()
        .and_then(|j| j.transit_gateway_id.clone())
        .or(conn.transit_gateway_id.clone())
        .filter(|s| !s.is_empty());
    let vpn_gateway_id = json
        .as_ref()
        .and_then(|j| j.vpn_gateway_id.clone())
        .filter(|s| !s.is_empty())
        .or(conn.vpn_gateway_id.clone());
    let customer_gateway = conn
        .customer_gateway_id
        .clone()
        .map(|c| format!(" from customer gateway {c}"))
        .unwrap_or_default();
    let target = match (&vpn_gateway_id, &transit_gateway_id) {
        (_, Some(tgw)) => format!("transit gateway {tgw}"),
        (Some(v), None) if !v.is_empty() => format!("virtual private gateway {v}"),
        (Some(_), None) => "a transit gateway (vpn_gateway_id is empty)".to_string(),
        (None, None) => "unknown gateway".to_string(),
    };

    if let Some(j) = &json {
        if let Some(state) = &j.state {
            if matches!(state.as_str(), "deleted" | "deleting") {
                warnings.push(format!("State: the connection is {state}"));
            }
        }
    }

    // Routing.
    let static_routing = match json.as_ref().and_then(|j| j.static_routes_only) {
        Some(s) => {
            if s != conn.static_routing.value {
                warnings.push(format!(
                    "Options.StaticRoutesOnly is {s} but {} says {}; using Options.StaticRoutesOnly",
                    conn.static_routing.at,
                    if conn.static_routing.value {
                        "static"
                    } else {
                        "BGP"
                    }
                ));
            }
            gn.insert("routing", format!("from Options.StaticRoutesOnly = {s}"));
            s
        }
        None => {
            gn.insert("routing", from(&conn.static_routing.at));
            conn.static_routing.value
        }
    };
    let routing = if static_routing {
        Routing::Static
    } else {
        Routing::Bgp
    };
    notes.no_bgp = Some(format!("static routing ({})", gn["routing"]));

    // Pair tunnels with their TunnelOptions.
    let pairs = pair(conn, json.as_ref())?;
    let have_options = pairs.iter().all(|(_, o)| o.is_some());

    // The customer gateway address.
    let mut cgw_addr: Option<Field<Ipv4Addr>> = None;
    for (t, _) in &pairs {
        if let Some(a) = t.cgw_outside.value {
            match &cgw_addr {
                Some(prev) if prev.value != a => {
                    return Err(ImportError::at(
                        &t.cgw_outside.at,
                        format!(
                            "{a} differs from {} ({}); one customer gateway has one address",
                            prev.value, prev.at
                        ),
                    ))
                }
                Some(_) => {}
                None => cgw_addr = Some(Field::new(a, t.cgw_outside.at.clone())),
            }
        }
    }
    let local_address = match (opts.local_address, &cgw_addr) {
        (Some(l), Some(c)) if l != c.value => {
            gn.insert(
                "local_address",
                format!(
                    "from --local-address (differs from the customer gateway address {}: behind NAT)",
                    c.value
                ),
            );
            l
        }
        (Some(l), _) => {
            gn.insert("local_address", "from --local-address".to_string());
            l
        }
        (None, Some(c)) => {
            gn.insert(
                "local_address",
                format!(
                    "from {} (the customer gateway address; pass --local-address if this host is behind NAT)",
                    c.at
                ),
            );
            c.value
        }
        (None, None) => {
            return Err(ImportError::at(
                &pairs[0].0.cgw_outside.at,
                "missing or not an IPv4 address (e.g. a YOUR_UPLINK_ADDRESS placeholder): pass \
                 --local-address with this host's outside address",
            ))
        }
    };
    let public_address = match &cgw_addr {
        Some(c) => {
            gn.insert(
                "public_address",
                format!("from {} (the customer gateway address)", c.at),
            );
            Some(c.value)
        }
        None => {
            warnings.push(
                "the customer gateway address is not in the input: cgw will use --local-address \
                 as its IKE ID; set gateway.public_address if this host is behind NAT"
                    .to_string(),
            );
            gn.insert(
                "public_address",
                "unknown (not in the input); defaults to local_address".to_string(),
            );
            None
        }
    };

    // LAN and VPC prefixes.
    let local_ts = json.as_ref().and_then(|j| j.local_ipv4_network_cidr);
    let remote_ts = json.as_ref().and_then(|j| j.remote_ipv4_network_cidr);
    for (name, n) in [
        ("Options.LocalIpv4NetworkCidr", local_ts),
        ("Options.RemoteIpv4NetworkCidr", remote_ts),
    ] {
        if let Some(n) = n.filter(|n| !is_any(n)) {
            warnings.push(format!(
                "{name} is {n}: cgw negotiates 0.0.0.0/0 traffic selectors, which AWS may refuse \
                 (TS_UNACCEPTABLE); set the connection's local and remote IPv4 network CIDRs to 0.0.0.0/0"
            ));
        }
    }
    // AWS's `Routes[]` are the connection's static routes *to the customer network* (AWS
    // routes those prefixes into the tunnels), so they are our LAN, not the VPC.
    let json_routes: Vec<Ipv4Net> = json
        .as_ref()
        .map(|j| j.routes.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default();
    let lan: Vec<Ipv4Net> = if !opts.lan.is_empty() {
        gn.insert("lan", "from --lan".to_string());
        opts.lan.iter().map(Ipv4Net::trunc).collect()
    } else if !json_routes.is_empty() {
        gn.insert(
            "lan",
            "from Routes[].DestinationCidrBlock (the connection's static routes to this network)"
                .to_string(),
        );
        let mut v = json_routes.clone();
        v.dedup();
        v
    } else if let Some(n) = local_ts.filter(|n| !is_any(n)) {
        gn.insert("lan", "from Options.LocalIpv4NetworkCidr".to_string());
        vec![n.trunc()]
    } else {
        gn.insert("lan", "none given (--lan CIDR)".to_string());
        Vec::new()
    };
    if !opts.lan.is_empty() && !json_routes.is_empty() {
        for r in &json_routes {
            if !lan.iter().any(|l| l.contains(r)) {
                warnings.push(format!(
                    "the connection has a static route to {r} (Routes[]), which --lan does not \
                     cover: AWS sends that prefix's traffic into the tunnels"
                ));
            }
        }
    }
    let remote_cidrs: Vec<Ipv4Net> = if !opts.remote_cidrs.is_empty() {
        gn.insert("remote_cidrs", "from --remote-cidr".to_string());
        opts.remote_cidrs.iter().map(Ipv4Net::trunc).collect()
    } else if let (Routing::Static, Some(n)) = (routing, remote_ts.filter(|n| !is_any(n))) {
        gn.insert(
            "remote_cidrs",
            "from Options.RemoteIpv4NetworkCidr".to_string(),
        );
        vec![n.trunc()]
    } else {
        gn.insert(
            "remote_cidrs",
            if routing == Routing::Bgp {
                "empty: with BGP the VPC routes are learned from AWS".to_string()
            } else {
                "none given (--remote-cidr CIDR)".to_string()
            },
        );
        Vec::new()
    };
    if routing == Routing::Static && remote_cidrs.is_empty() {
        return Err(ImportError::at(
            "--remote-cidr",
            format!(
                "static routing ({}) needs the VPC CIDR, which AWS's files do not contain: pass \
                 --remote-cidr CIDR (repeatable)",
                gn["routing"]
            ),
        ));
    }
    gn.insert("route_table", "cgw default (main table)".to_string());
    gn.insert("control_socket", "cgw default".to_string());

    if !have_options {
        let what = match format {
            SourceFormat::GenericText => "The Generic text",
            SourceFormat::Xml => "The CustomerGatewayConfiguration XML",
            SourceFormat::DescribeJson => {
                "The JSON has no Options.TunnelOptions, and its CustomerGatewayConfiguration XML"
            }
        };
        warnings.push(format!(
            "{what} lists only AWS's fixed algorithm template (aes-128-cbc, sha1, DH group 2), not \
             the tunnels' real options: cgw proposes its defaults instead (Suite-B-GCM-256 first: IKE \
             aes256-sha384-ecp384, ESP aes256gcm16-ecp384; then AES/SHA-2/DH 14-20). If the tunnel \
             options were narrowed, import the describe-vpn-connections JSON or edit \
             ike_proposals/esp_proposals"
        ));
    }

    // Tunnels.
    let mut tunnels = Vec::new();
    for (i, (src, jt)) in pairs.iter().enumerate() {
        let mut n: NoteMap = HashMap::new();
        let t = tunnel(i, src, jt.as_ref(), routing, format, &mut n, &mut warnings)?;
        tunnels.push(t);
        notes.tunnels.push(n);
    }

    let mut gateway = Gateway::new(local_address, routing);
    gateway.public_address = public_address;
    gateway.lan = lan;
    gateway.remote_cidrs = remote_cidrs;
    gateway.vpn_connection_id = vpn_connection_id.clone();
    let mut config = CgwConfig {
        gateway,
        monitor: Monitor::default(),
        tunnels,
    };
    config.fill_defaults();
    config.validate().map_err(ImportError::Invalid)?;
    for w in config.warnings() {
        if w.starts_with("gateway.lan: empty") {
            warnings.push(
                "no --lan given: with BGP cgw advertises gateway.lan, so AWS will send no VPC \
                 traffic here until you add your on-premises prefixes"
                    .to_string(),
            );
        } else {
            warnings.push(w);
        }
    }

    notes.header = vec![
        "cgw configuration, written by `cgw import aws`.".to_string(),
        format!(
            "Source: {}{}",
            format,
            opts.source_name
                .as_ref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        ),
        format!(
            "Connection: {}{customer_gateway} to {target}; {} routing.",
            vpn_connection_id.as_deref().unwrap_or("(id unknown)"),
            if static_routing { "static" } else { "BGP" }
        ),
        "This file holds the tunnels' pre-shared keys: keep it private (mode 0600).".to_string(),
        "Check it with `cgw check -c <this file>`.".to_string(),
    ];
    notes.gateway = gn;
    let toml = toml_out::write(&config, &notes, &warnings);
    debug_assert_eq!(
        CgwConfig::from_toml_str(&toml).ok().as_ref(),
        Some(&config),
        "the written TOML must load back to the same configuration"
    );
    Ok(Imported {
        config,
        toml,
        warnings,
        format,
    })
}

#[allow(clippy::too_many_arguments)]
fn tunnel(
    i: usize,
    src: &SrcTunnel,
    jt: Option<&JsonTunnel>,
    routing: Routing,
    format: SourceFormat,
    n: &mut NoteMap,
    warnings: &mut Vec<String>,
) -> Result<Tunnel, ImportError> {
    let position = match jt {
        Some(j) => format!("by position ({}, {})", j.at, src.label),
        None => format!("by position ({})", src.label),
    };
    n.insert("name", format!("cgw default {position}"));
    n.insert("device", format!("cgw default {position}"));

    let aws_outside = src.aws_outside.value;
    n.insert(
        "aws_outside_address",
        match jt {
            Some(j) => format!(
                "from {} (= {})",
                src.aws_outside.at,
                j.path("OutsideIpAddress")
            ),
            None => from(&src.aws_outside.at),
        },
    );

    // Pre-shared key.
    let psk =
        match (jt.and_then(|j| j.psk.clone()), &src.psk) {
            (Some(p), x) => {
                let j = jt.expect("psk came from it");
                if let Some(x) = x {
                    if x.value != p {
                        warnings.push(format!(
                            "{} and {} differ; using {}",
                            j.path("PreSharedKey"),
                            x.at,
                            j.path("PreSharedKey")
                        ));
                    }
                }
                n.insert("psk", from(&j.path("PreSharedKey")));
                p
            }
            (None, Some(x)) => {
                n.insert("psk", from(&x.at));
                x.value.clone()
            }
            (None, None) => return Err(ImportError::at(
                &src.psk_at,
                "missing: cgw needs the tunnel's pre-shared key (certificate authentication is \
                 not supported; a key kept in AWS Secrets Manager must be fetched from there)",
            )),
        };

    // Inside /30.
    let from_xml: Option<(Ipv4Net, String)> = match (&src.aws_inside, &src.cgw_inside) {
        (Some(a), c) => {
            let net = Ipv4Net::new(a.value.0, 30).expect("30").trunc();
            if u32::from(a.value.0) != u32::from(net.network()) + 1 {
                return Err(ImportError::at(
                    &a.at,
                    format!(
                        "{} is not the first host of {net}; AWS's inside address is the first host of the /30",
                        a.value.0
                    ),
                ));
            }
            if let Some(c) = c {
                if u32::from(c.value.0) != u32::from(net.network()) + 2 {
                    return Err(ImportError::at(
                        &c.at,
                        format!(
                            "{} is not the second host of {net} (AWS has {}); the customer \
                             gateway's inside address is the second host of the /30",
                            c.value.0, a.value.0
                        ),
                    ));
                }
            }
            Some((net, a.at.clone()))
        }
        (None, Some(c)) => {
            let net = Ipv4Net::new(c.value.0, 30).expect("30").trunc();
            if u32::from(c.value.0) != u32::from(net.network()) + 2 {
                return Err(ImportError::at(
                    &c.at,
                    format!(
                        "{} is not the second host of {net}; the customer gateway's inside \
                         address is the second host of the /30",
                        c.value.0
                    ),
                ));
            }
            Some((net, c.at.clone()))
        }
        (None, None) => None,
    };
    let inside_cidr = match (from_xml, jt.and_then(|j| j.inside_cidr.map(|c| (c, j)))) {
        (Some((net, at)), Some((c, j))) => {
            if c.trunc() != net || c.prefix_len() != 30 {
                return Err(ImportError::at(
                    j.path("TunnelInsideCidr"),
                    format!("{c} disagrees with the inside addresses at {at} (which make {net})"),
                ));
            }
            n.insert(
                "inside_cidr",
                format!("from {at} (= {})", j.path("TunnelInsideCidr")),
            );
            net
        }
        (Some((net, at)), None) => {
            n.insert("inside_cidr", from(&at));
            net
        }
        (None, Some((c, j))) => {
            n.insert("inside_cidr", from(&j.path("TunnelInsideCidr")));
            c.trunc()
        }
        (None, None) => return Err(ImportError::at(&src.inside_at, "missing")),
    };

    // MTU and MSS.
    let mtu = match &src.mtu {
        Some(f) => {
            n.insert("mtu", from(&f.at));
            f.value
        }
        None => {
            n.insert(
                "mtu",
                "cgw default (fits AES-GCM with NAT-T and most AES-CBC suites)".to_string(),
            );
            defaults::mtu()
        }
    };
    let tcp_mss = match &src.tcp_mss {
        Some(f) => {
            n.insert("tcp_mss", from(&f.at));
            f.value
        }
        None => {
            n.insert("tcp_mss", "cgw default".to_string());
            defaults::tcp_mss()
        }
    };

    // Proposals.
    let (ike_proposals, esp_proposals) = match jt {
        Some(j) => {
            let p1 = PhaseLists {
                encryption: j.phase1_encryption.as_deref(),
                integrity: j.phase1_integrity.as_deref(),
                dh: j.phase1_dh.as_deref(),
                at: format!("{}.Phase1", j.at),
            };
            let p2 = PhaseLists {
                encryption: j.phase2_encryption.as_deref(),
                integrity: j.phase2_integrity.as_deref(),
                dh: j.phase2_dh.as_deref(),
                at: format!("{}.Phase2", j.at),
            };
            let ike = proposals::ike(&p1, warnings)?;
            let esp = proposals::esp(&p2, warnings)?;
            n.insert("ike_proposals", ike.note);
            n.insert("esp_proposals", esp.note);
            (ike.proposals, esp.proposals)
        }
        None => {
            let why = match format {
                SourceFormat::GenericText => "the Generic text's aes-128-cbc/sha1/Group 2",
                _ => "the XML's aes-128-cbc/sha1/group2",
            };
            let note = format!(
                "cgw defaults (Suite-B-GCM-256 first), not {why}: that is AWS's fixed template, not the tunnel's options"
            );
            n.insert("ike_proposals", note.clone());
            n.insert("esp_proposals", note);
            (defaults::ike_proposals(), defaults::esp_proposals())
        }
    };

    // Lifetimes, rekeying, replay window.
    let not_in = match format {
        SourceFormat::DescribeJson => "not in the JSON".to_string(),
        f => format!("not in the {f}"),
    };
    let pick_u64 = |n: &mut NoteMap,
                    key: &'static str,
                    json_key: &str,
                    json_val: Option<u64>,
                    src_val: Option<&Field<u64>>,
                    src_note: &str,
                    default: u64| {
        if let (Some(v), Some(j)) = (json_val, jt) {
            n.insert(key, from(&j.path(json_key)));
            v
        } else if let Some(f) = src_val {
            n.insert(key, format!("from {}{src_note}", f.at));
            f.value
        } else {
            n.insert(key, format!("AWS default ({not_in})"));
            default
        }
    };
    let template = " (the template value, AWS's default)";
    let ike_lifetime_secs = pick_u64(
        n,
        "ike_lifetime_secs",
        "Phase1LifetimeSeconds",
        jt.and_then(|j| j.phase1_lifetime),
        src.ike_lifetime.as_ref(),
        template,
        defaults::ike_lifetime(),
    );
    let child_lifetime_secs = pick_u64(
        n,
        "child_lifetime_secs",
        "Phase2LifetimeSeconds",
        jt.and_then(|j| j.phase2_lifetime),
        src.child_lifetime.as_ref(),
        template,
        defaults::child_lifetime(),
    );
    let rekey_margin_secs = pick_u64(
        n,
        "rekey_margin_secs",
        "RekeyMarginTimeSeconds",
        jt.and_then(|j| j.rekey_margin),
        None,
        "",
        defaults::rekey_margin(),
    );
    let rekey_fuzz_percent = pick_u64(
        n,
        "rekey_fuzz_percent",
        "RekeyFuzzPercentage",
        jt.and_then(|j| j.rekey_fuzz).map(u64::from),
        None,
        "",
        u64::from(defaults::rekey_fuzz()),
    ) as u32;
    let replay_window = pick_u64(
        n,
        "replay_window",
        "ReplayWindowSize",
        jt.and_then(|j| j.replay_window).map(u64::from),
        None,
        "",
        u64::from(defaults::replay_window()),
    ) as u32;

    // DPD.
    let dpd_interval_secs = match &src.dpd_interval {
        Some(f) => {
            n.insert("dpd_interval_secs", from(&f.at));
            f.value
        }
        None => {
            n.insert("dpd_interval_secs", "cgw default".to_string());
            defaults::dpd_interval()
        }
    };
    let dpd_timeout_secs = match (
        jt.and_then(|j| j.dpd_timeout.map(|v| (v, j))),
        &src.dpd_retries,
    ) {
        (Some((v, j)), _) => {
            n.insert("dpd_timeout_secs", from(&j.path("DpdTimeoutSeconds")));
            v
        }
        (None, Some(r)) if src.dpd_interval.is_some() => {
            let v = (dpd_interval_secs * r.value).max(30);
            n.insert(
                "dpd_timeout_secs",
                format!("interval x retries from {} (at least 30)", r.at),
            );
            v
        }
        _ => {
            n.insert(
                "dpd_timeout_secs",
                "cgw default (AWS's minimum)".to_string(),
            );
            defaults::dpd_timeout()
        }
    };
    let dpd_action = DpdAction::Restart;
    n.insert(
        "dpd_action",
        match jt.and_then(|j| j.dpd_action.as_ref().map(|a| (a, j))) {
            Some((a, j)) => format!(
                "cgw default; {} is {a:?}, which is what AWS does when we go silent: either way \
                 the customer gateway must re-initiate, so cgw restarts",
                j.path("DpdTimeoutAction")
            ),
            None => "cgw default: re-initiate at once".to_string(),
        },
    );

    // Startup action and IKE version.
    let startup_action = match jt.and_then(|j| j.startup_action.as_ref().map(|a| (a, j))) {
        Some((a, j)) => {
            let at = j.path("StartupAction");
            let v = match a.as_str() {
                "add" => StartupAction::Initiate,
                "start" => StartupAction::Respond,
                other => {
                    return Err(ImportError::at(
                        at,
                        format!("unknown startup action {other:?} (AWS uses \"add\" or \"start\")"),
                    ))
                }
            };
            n.insert("startup_action", format!("from {at} = {a:?}"));
            v
        }
        None => {
            n.insert(
                "startup_action",
                "AWS default (startup action add: the customer gateway initiates)".to_string(),
            );
            StartupAction::Initiate
        }
    };
    if let Some(j) = jt {
        if let Some(v) = j.ike_versions.as_ref().filter(|v| !v.is_empty()) {
            if !v.iter().any(|x| x.eq_ignore_ascii_case("ikev2")) {
                return Err(ImportError::at(
                    j.path("IkeVersions"),
                    format!(
                        "only {}; cgw speaks IKEv2 only: allow ikev2 in the tunnel options",
                        v.join(", ")
                    ),
                ));
            }
        }
    }

    // BGP.
    let bgp = if routing == Routing::Bgp {
        let local = src
            .cgw_bgp
            .as_ref()
            .and_then(|b| b.asn.clone())
            .ok_or_else(|| {
                ImportError::at(&src.asn_at.0, "missing (needed for a BGP connection)")
            })?;
        let peer = src
            .aws_bgp
            .as_ref()
            .and_then(|b| b.asn.clone())
            .ok_or_else(|| {
                ImportError::at(&src.asn_at.1, "missing (needed for a BGP connection)")
            })?;
        let hold = src
            .aws_bgp
            .as_ref()
            .and_then(|b| b.hold_time.clone())
            .or_else(|| src.cgw_bgp.as_ref().and_then(|b| b.hold_time.clone()));
        n.insert("bgp.local_asn", from(&local.at));
        n.insert("bgp.peer_asn", from(&peer.at));
        let hold_time_secs = match hold {
            Some(h) => {
                n.insert("bgp.hold_time_secs", from(&h.at));
                h.value
            }
            None => {
                n.insert("bgp.hold_time_secs", "AWS default".to_string());
                defaults::hold_time()
            }
        };
        let keepalive_secs = defaults::keepalive().min(hold_time_secs / 3);
        n.insert(
            "bgp.keepalive_secs",
            "AWS's sample configurations (10 s, at most a third of the hold time)".to_string(),
        );
        Some(TunnelBgp {
            local_asn: local.value,
            peer_asn: peer.value,
            hold_time_secs,
            keepalive_secs,
            local_pref: None,
            as_path_prepend: 0,
            med: None,
            passive: false,
        })
    } else {
        None
    };

    Ok(Tunnel {
        name: default_tunnel_name(i),
        device: default_device(i),
        aws_outside_address: aws_outside,
        psk: psk.into(),
        inside_cidr,
        mtu,
        tcp_mss,
        ike_proposals,
        esp_proposals,
        ike_lifetime_secs,
        child_lifetime_secs,
        rekey_margin_secs,
        rekey_fuzz_percent,
        dpd_interval_secs,
        dpd_timeout_secs,
        dpd_action,
        replay_window,
        child_lifetime_packets: None,
        child_lifetime_bytes: None,
        startup_action,
        bgp,
        role: crate::config::Role::CustomerGateway,
    })
}
