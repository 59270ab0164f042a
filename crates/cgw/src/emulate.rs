//! `cgw emulate-aws`: cgw playing the AWS side of a Site-to-Site VPN connection, for labs and
//! rehearsals without an AWS account.
//!
//! An emulator file (`aws-side.toml`) describes one VPN connection as AWS holds it: the
//! customer gateway's address, the two tunnels (outside address, pre-shared key, inside /30,
//! and optionally AWS's tunnel options), the routing type and the VPC prefixes. From it this
//! module builds, per tunnel, the configuration of a cgw daemon that behaves like an AWS
//! endpoint (first inside address, AWS's proposal order, traffic selectors 0.0.0.0/0, AWS's
//! lifetimes and rekey window, DPD, never initiating, a passive BGP speaker with ASN 64512 and
//! MED 100/200), and the `describe-vpn-connections` JSON AWS would hand the customer, so that
//! `cgw import aws` works on it unchanged.

use crate::config::{
    CgwConfig, DpdAction, Gateway, Monitor, Routing, StartupAction, Tunnel, TunnelBgp,
};
use crate::import::{render_describe_vpn_connections, AwsConnectionSpec, AwsTunnelSpec};
use ipnet::Ipv4Net;
use serde::Deserialize;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// The emulator's built-in connection, used by `cgw demo` and shown by
/// `cgw emulate-aws --print-example`.
pub const EXAMPLE: &str = r#"# The AWS side of one Site-to-Site VPN connection, for `cgw emulate-aws`.
[connection]
vpn_connection_id = "vpn-0e0u0l0a0t0e0d001"
# The customer gateway's public address: the IKE peer of both tunnels and its identity.
customer_gateway_address = "198.51.100.10"
# "static" (StaticRoutesOnly) or "bgp".
routing = "static"
# What lies behind AWS: advertised over BGP (and what the customer routes into the tunnels).
vpc_cidrs = ["10.201.0.0/16"]
# Static routing: the connection's static routes to the customer network (Routes[]).
customer_cidrs = ["10.10.0.0/24"]
amazon_asn = 64512
customer_asn = 65000

[[tunnel]]
outside_address = "203.0.113.11"
psk = "Emulated.Tunnel1_PreShared_Key_0"
inside_cidr = "169.254.11.0/30"

[[tunnel]]
outside_address = "203.0.113.12"
psk = "Emulated.Tunnel2_PreShared_Key_0"
inside_cidr = "169.254.12.0/30"
"#;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    connection: FileConnection,
    #[serde(rename = "tunnel")]
    tunnels: Vec<FileTunnel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConnection {
    #[serde(default = "default_vpn_id")]
    vpn_connection_id: String,
    customer_gateway_address: Ipv4Addr,
    #[serde(default = "default_routing")]
    routing: Routing,
    #[serde(default)]
    vpc_cidrs: Vec<Ipv4Net>,
    #[serde(default)]
    customer_cidrs: Vec<Ipv4Net>,
    #[serde(default = "default_amazon_asn")]
    amazon_asn: u32,
    #[serde(default = "default_customer_asn")]
    customer_asn: u32,
    #[serde(default)]
    control_socket: Option<PathBuf>,
}

fn default_vpn_id() -> String {
    "vpn-0e0u0l0a0t0e0d001".into()
}
fn default_routing() -> Routing {
    Routing::Static
}
fn default_amazon_asn() -> u32 {
    64512
}
fn default_customer_asn() -> u32 {
    65000
}

/// One tunnel: the required values, then AWS's tunnel options (absent: AWS's defaults).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTunnel {
    outside_address: Ipv4Addr,
    psk: String,
    inside_cidr: Ipv4Net,
    /// MED on the VPC routes advertised over this tunnel; default 100 (tunnel 1), 200 (tunnel 2).
    med: Option<u32>,
    /// TUN device name; default `awsN`.
    device: Option<String>,
    phase1_encryption: Option<Vec<String>>,
    phase1_integrity: Option<Vec<String>>,
    phase1_dh_groups: Option<Vec<u16>>,
    phase2_encryption: Option<Vec<String>>,
    phase2_integrity: Option<Vec<String>>,
    phase2_dh_groups: Option<Vec<u16>>,
    phase1_lifetime_secs: Option<u64>,
    phase2_lifetime_secs: Option<u64>,
    rekey_margin_secs: Option<u64>,
    rekey_fuzz_percent: Option<u32>,
    replay_window: Option<u32>,
    dpd_timeout_secs: Option<u64>,
    dpd_action: Option<String>,
}

/// A parsed emulator file.
#[derive(Debug, Clone)]
pub struct Emulator {
    /// The connection as AWS describes it (also the source of the JSON).
    pub spec: AwsConnectionSpec,
    /// Static or BGP.
    pub routing: Routing,
    /// The prefixes behind AWS.
    pub vpc_cidrs: Vec<Ipv4Net>,
    /// MED per tunnel.
    pub meds: [u32; 2],
    /// TUN device per tunnel.
    pub devices: [String; 2],
    /// Control socket of tunnel N's endpoint is this path with `-N` appended.
    pub control_socket: PathBuf,
    /// Per tunnel: whether the file listed (phase 1, phase 2) DH groups itself. Only then
    /// does the endpoint accept MODP-6144 and MODP-8192 (a DH of 50-100 ms each: a CPU
    /// amplifier for anyone who sends IKE_SA_INIT), although AWS's defaults allow them.
    pub explicit_dh: [(bool, bool); 2],
}

/// DH groups the emulated endpoints accept only when the file lists them (issue 12).
pub const EXPENSIVE_DH: [u16; 2] = [17, 18];

/// AWS's values in AWS's own order: it evaluates the customer's proposals against its list
/// lowest value first, whatever order the customer gateway offers them in.
const ENC_ORDER: [(&str, &str); 4] = [
    ("AES128", "aes128"),
    ("AES256", "aes256"),
    ("AES128-GCM-16", "aes128gcm16"),
    ("AES256-GCM-16", "aes256gcm16"),
];
const INTEG_ORDER: [(&str, &str); 4] = [
    ("SHA1", "sha1"),
    ("SHA2-256", "sha256"),
    ("SHA2-384", "sha384"),
    ("SHA2-512", "sha512"),
];
/// The groups AWS allows, in AWS's order.
const DH_ORDER: [(u16, &str); 13] = [
    (2, "modp1024"),
    (5, "modp1536"),
    (14, "modp2048"),
    (15, "modp3072"),
    (16, "modp4096"),
    (17, "modp6144"),
    (18, "modp8192"),
    (19, "ecp256"),
    (20, "ecp384"),
    (21, "ecp521"),
    (22, "modp1024s160"),
    (23, "modp2048s224"),
    (24, "modp2048s256"),
];

/// Proposal strings for one phase in AWS's evaluation order: the AES-CBC proposal (lowest
/// values first) before the AES-GCM one. `ike` adds PRFs (one per integrity hash) and requires
/// DH; ESP always carries the DH groups (AWS requires PFS).
pub fn aws_order_proposals(
    encryption: &[String],
    integrity: &[String],
    dh: &[u16],
    ike: bool,
) -> Result<Vec<String>, String> {
    let has = |l: &[String], v: &str| l.iter().any(|x| x.trim().eq_ignore_ascii_case(v));
    for e in encryption {
        if !ENC_ORDER
            .iter()
            .any(|(a, _)| a.eq_ignore_ascii_case(e.trim()))
        {
            return Err(format!("unknown AWS encryption algorithm {e:?}"));
        }
    }
    for i in integrity {
        if !INTEG_ORDER
            .iter()
            .any(|(a, _)| a.eq_ignore_ascii_case(i.trim()))
        {
            return Err(format!("unknown AWS integrity algorithm {i:?}"));
        }
    }
    let cbc: Vec<&str> = ENC_ORDER[..2]
        .iter()
        .filter(|(a, _)| has(encryption, a))
        .map(|(_, s)| *s)
        .collect();
    let gcm: Vec<&str> = ENC_ORDER[2..]
        .iter()
        .filter(|(a, _)| has(encryption, a))
        .map(|(_, s)| *s)
        .collect();
    let integ: Vec<&str> = INTEG_ORDER
        .iter()
        .filter(|(a, _)| has(integrity, a))
        .map(|(_, s)| *s)
        .collect();
    let groups: Vec<&str> = DH_ORDER
        .iter()
        .filter(|(g, _)| dh.contains(g))
        .map(|(_, s)| *s)
        .collect();
    if groups.is_empty() {
        return Err(format!(
            "no DH group cgw implements among {dh:?} (it has 2, 5, 14-20)"
        ));
    }
    if integ.is_empty() && (ike || !cbc.is_empty()) {
        return Err("no integrity algorithm (SHA1, SHA2-256, SHA2-384, SHA2-512)".into());
    }
    let prfs: Vec<String> = integ.iter().map(|i| format!("prf{i}")).collect();
    let prfs: Vec<&str> = prfs.iter().map(String::as_str).collect();
    let join = |parts: &[&[&str]]| parts.concat().join("-");
    let mut out = Vec::new();
    if !cbc.is_empty() {
        out.push(join(&[&cbc, &integ, &groups]));
    }
    if !gcm.is_empty() {
        if ike {
            out.push(join(&[&gcm, &prfs, &groups]));
        } else {
            out.push(join(&[&gcm, &groups]));
        }
    }
    if out.is_empty() {
        return Err("no encryption algorithm".into());
    }
    Ok(out)
}

impl Emulator {
    /// Parses an emulator file; errors name the field.
    pub fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        if f.tunnels.len() != 2 {
            return Err(format!(
                "tunnel: an AWS VPN connection has exactly two tunnels, found {}",
                f.tunnels.len()
            ));
        }
        let c = f.connection;
        if c.vpc_cidrs.is_empty() {
            return Err("connection.vpc_cidrs: empty; name the prefixes behind AWS".into());
        }
        if c.routing == Routing::Static && c.customer_cidrs.is_empty() {
            return Err(
                "connection.customer_cidrs: empty with routing = \"static\"; AWS needs static \
                 routes to the customer network"
                    .into(),
            );
        }
        if c.routing == Routing::External {
            return Err("connection.routing: \"static\" or \"bgp\"".into());
        }
        let mut tunnels = Vec::new();
        let mut meds = [100, 200];
        let mut devices = [String::from("aws0"), String::from("aws1")];
        let mut explicit_dh = [(false, false); 2];
        for (i, t) in f.tunnels.into_iter().enumerate() {
            let mut s = AwsTunnelSpec::new(t.outside_address, t.inside_cidr, t.psk);
            let at = |k: &str| format!("tunnel[{i}].{k}");
            if t.inside_cidr.prefix_len() != 30 {
                return Err(format!("{}: must be a /30", at("inside_cidr")));
            }
            if let Some(v) = t.phase1_encryption {
                s.phase1_encryption = v;
            }
            if let Some(v) = t.phase1_integrity {
                s.phase1_integrity = v;
            }
            explicit_dh[i].0 = t.phase1_dh_groups.is_some();
            explicit_dh[i].1 = t.phase2_dh_groups.is_some();
            if let Some(v) = t.phase1_dh_groups {
                s.phase1_dh = v;
            }
            if let Some(v) = t.phase2_encryption {
                s.phase2_encryption = v;
            }
            if let Some(v) = t.phase2_integrity {
                s.phase2_integrity = v;
            }
            if let Some(v) = t.phase2_dh_groups {
                s.phase2_dh = v;
            }
            s.phase1_lifetime_secs = t.phase1_lifetime_secs.unwrap_or(s.phase1_lifetime_secs);
            s.phase2_lifetime_secs = t.phase2_lifetime_secs.unwrap_or(s.phase2_lifetime_secs);
            s.rekey_margin_secs = t.rekey_margin_secs.unwrap_or(s.rekey_margin_secs);
            s.rekey_fuzz_percent = t.rekey_fuzz_percent.unwrap_or(s.rekey_fuzz_percent);
            s.replay_window = t.replay_window.unwrap_or(s.replay_window);
            s.dpd_timeout_secs = t.dpd_timeout_secs.unwrap_or(s.dpd_timeout_secs);
            if let Some(a) = t.dpd_action {
                if !["clear", "restart", "none"].contains(&a.as_str()) {
                    return Err(format!(
                        "{}: {a:?}; AWS's actions are clear, restart and none",
                        at("dpd_action")
                    ));
                }
                s.dpd_action = a;
            }
            s.amazon_asn = c.amazon_asn;
            s.customer_asn = c.customer_asn;
            aws_order_proposals(
                &s.phase1_encryption,
                &s.phase1_integrity,
                &s.phase1_dh,
                true,
            )
            .map_err(|e| format!("{}: {e}", at("phase1_*")))?;
            aws_order_proposals(
                &s.phase2_encryption,
                &s.phase2_integrity,
                &s.phase2_dh,
                false,
            )
            .map_err(|e| format!("{}: {e}", at("phase2_*")))?;
            if let Some(m) = t.med {
                meds[i] = m;
            }
            if let Some(d) = t.device {
                devices[i] = d;
            }
            tunnels.push(s);
        }
        let tunnels: [AwsTunnelSpec; 2] = tunnels.try_into().expect("checked: two tunnels");
        if tunnels[0].outside_address == tunnels[1].outside_address {
            return Err("tunnel[1].outside_address: both tunnels have the same address".into());
        }
        if tunnels[0].inside_cidr == tunnels[1].inside_cidr {
            return Err(format!(
                "tunnel[1].inside_cidr: both tunnels use {}; each needs its own /30",
                tunnels[0].inside_cidr
            ));
        }
        let mut spec =
            AwsConnectionSpec::new(c.vpn_connection_id, c.customer_gateway_address, tunnels);
        spec.static_routes_only = c.routing == Routing::Static;
        if spec.static_routes_only {
            spec.routes = c.customer_cidrs.clone();
        }
        Ok(Self {
            spec,
            routing: c.routing,
            vpc_cidrs: c.vpc_cidrs,
            meds,
            devices,
            explicit_dh,
            control_socket: c
                .control_socket
                .unwrap_or_else(|| PathBuf::from("/run/cgw/aws.sock")),
        })
    }

    /// What AWS's `describe-vpn-connections` would print for this connection.
    pub fn describe_vpn_connections_json(&self) -> String {
        render_describe_vpn_connections(&self.spec)
    }

    /// The control socket of tunnel `index`'s endpoint (0-based).
    pub fn control_socket_of(&self, index: usize) -> PathBuf {
        let mut s = self.control_socket.clone().into_os_string();
        s.push(format!("-{}", index + 1));
        PathBuf::from(s)
    }

    /// The daemon configuration of AWS's endpoint for tunnel `index` (0-based).
    pub fn endpoint_config(&self, index: usize) -> Result<CgwConfig, String> {
        let s = self
            .spec
            .tunnels
            .get(index)
            .ok_or_else(|| format!("no tunnel {}", index + 1))?;
        let mut t = Tunnel::new(
            index,
            self.spec.customer_gateway_address,
            s.psk.clone(),
            s.inside_cidr,
        );
        t.name = format!("aws-tunnel{}", index + 1);
        t.device = self.devices[index].clone();
        t.role = crate::config::Role::AwsEndpoint;
        let cheap = |groups: &[u16], explicit: bool| -> Vec<u16> {
            groups
                .iter()
                .copied()
                .filter(|g| explicit || !EXPENSIVE_DH.contains(g))
                .collect()
        };
        let (dh1, dh2) = self.explicit_dh[index];
        t.ike_proposals = aws_order_proposals(
            &s.phase1_encryption,
            &s.phase1_integrity,
            &cheap(&s.phase1_dh, dh1),
            true,
        )?;
        t.esp_proposals = aws_order_proposals(
            &s.phase2_encryption,
            &s.phase2_integrity,
            &cheap(&s.phase2_dh, dh2),
            false,
        )?;
        t.ike_lifetime_secs = s.phase1_lifetime_secs;
        t.child_lifetime_secs = s.phase2_lifetime_secs;
        t.rekey_margin_secs = s.rekey_margin_secs;
        t.rekey_fuzz_percent = s.rekey_fuzz_percent;
        t.replay_window = s.replay_window;
        // AWS sends DPD after 10 s of silence and gives up after the DPD timeout.
        t.dpd_interval_secs = 10;
        t.dpd_timeout_secs = s.dpd_timeout_secs;
        t.dpd_action = match s.dpd_action.as_str() {
            "restart" => DpdAction::Restart,
            "none" => DpdAction::None,
            _ => DpdAction::Clear,
        };
        t.startup_action = StartupAction::Respond;
        t.bgp = (self.routing == Routing::Bgp).then(|| TunnelBgp {
            local_asn: s.amazon_asn,
            peer_asn: s.customer_asn,
            hold_time_secs: s.bgp_hold_time_secs,
            keepalive_secs: 10,
            local_pref: None,
            as_path_prepend: 0,
            med: Some(self.meds[index]),
            passive: true,
        });
        let gateway = Gateway {
            local_address: s.outside_address,
            public_address: None,
            routing: self.routing,
            lan: self.vpc_cidrs.clone(),
            remote_cidrs: if self.routing == Routing::Static {
                self.spec.routes.clone()
            } else {
                Vec::new()
            },
            route_table: None,
            control_socket: self.control_socket_of(index),
            vpn_connection_id: Some(self.spec.vpn_connection_id.clone()),
            advertise_interfaces: Vec::new(),
            bgp_ecmp: false,
            metrics_listen: None,
            // Lets a lab file shorten the lifetimes below AWS's 900 s minimum.
            lab_mode: true,
        };
        let cfg = CgwConfig {
            gateway,
            monitor: Monitor {
                enabled: false,
                ..Monitor::default()
            },
            tunnels: vec![t],
        };
        cfg.validate().map_err(|errs| {
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        Ok(cfg)
    }
}
