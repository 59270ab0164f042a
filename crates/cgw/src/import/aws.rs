//! The reverse of the import: `describe-vpn-connections` JSON as AWS writes it, for tests and
//! the AWS emulator.

use super::proposals::{AWS_ENCRYPTION, AWS_INTEGRITY, AWS_PHASE1_DH, AWS_PHASE2_DH};
use ipnet::Ipv4Net;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

/// What the connection terminates on at AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsTarget {
    /// A virtual private gateway (`vgw-...`): the XML's `vpn_gateway_id` holds it.
    VpnGateway(String),
    /// A transit gateway (`tgw-...`): the XML's `vpn_gateway_id` is empty and the JSON has
    /// `TransitGatewayId`.
    TransitGateway(String),
}

/// One AWS tunnel: its `Options.TunnelOptions[]` entry and its part of the XML.
///
/// Empty algorithm lists are left out of the JSON (as AWS does for options never set), which
/// means "everything allowed".
#[derive(Clone, PartialEq, Eq)]
pub struct AwsTunnelSpec {
    /// AWS's tunnel outside address.
    pub outside_address: Ipv4Addr,
    /// The inside /30 (AWS first host, customer gateway second host).
    pub inside_cidr: Ipv4Net,
    /// The pre-shared key.
    pub psk: String,
    /// `Phase1EncryptionAlgorithms`: `AES128`, `AES256`, `AES128-GCM-16`, `AES256-GCM-16`.
    pub phase1_encryption: Vec<String>,
    /// `Phase1IntegrityAlgorithms`: `SHA1`, `SHA2-256`, `SHA2-384`, `SHA2-512`.
    pub phase1_integrity: Vec<String>,
    /// `Phase1DHGroupNumbers`.
    pub phase1_dh: Vec<u16>,
    /// `Phase2EncryptionAlgorithms`.
    pub phase2_encryption: Vec<String>,
    /// `Phase2IntegrityAlgorithms`.
    pub phase2_integrity: Vec<String>,
    /// `Phase2DHGroupNumbers`.
    pub phase2_dh: Vec<u16>,
    /// `IkeVersions`: `ikev1`, `ikev2`.
    pub ike_versions: Vec<String>,
    /// `Phase1LifetimeSeconds`.
    pub phase1_lifetime_secs: u64,
    /// `Phase2LifetimeSeconds`.
    pub phase2_lifetime_secs: u64,
    /// `RekeyMarginTimeSeconds`.
    pub rekey_margin_secs: u64,
    /// `RekeyFuzzPercentage`.
    pub rekey_fuzz_percent: u32,
    /// `ReplayWindowSize`.
    pub replay_window: u32,
    /// `DpdTimeoutSeconds`.
    pub dpd_timeout_secs: u64,
    /// `DpdTimeoutAction`: `clear`, `none`, `restart`.
    pub dpd_action: String,
    /// `StartupAction`: `add`, `start`.
    pub startup_action: String,
    /// The Amazon-side ASN (XML `vpn_gateway/bgp/asn`).
    pub amazon_asn: u32,
    /// The customer gateway's ASN (XML `customer_gateway/bgp/asn`).
    pub customer_asn: u32,
    /// XML `bgp/hold_time` on both sides.
    pub bgp_hold_time_secs: u16,
    /// XML `ipsec/tcp_mss_adjustment`.
    pub tcp_mss: u16,
}

impl std::fmt::Debug for AwsTunnelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsTunnelSpec")
            .field("outside_address", &self.outside_address)
            .field("inside_cidr", &self.inside_cidr)
            .field("psk", &"<redacted>")
            .field("phase1_encryption", &self.phase1_encryption)
            .field("phase1_integrity", &self.phase1_integrity)
            .field("phase1_dh", &self.phase1_dh)
            .field("phase2_encryption", &self.phase2_encryption)
            .field("phase2_integrity", &self.phase2_integrity)
            .field("phase2_dh", &self.phase2_dh)
            .field("startup_action", &self.startup_action)
            .finish_non_exhaustive()
    }
}

impl AwsTunnelSpec {
    /// A tunnel with AWS's defaults: every algorithm and group listed, lifetimes 28800/3600,
    /// margin 270, fuzz 100, replay window 1024, DPD 30 s / clear, startup add, ASNs
    /// 64512 (Amazon) / 65000 (customer), hold time 30, MSS 1379.
    pub fn new(outside_address: Ipv4Addr, inside_cidr: Ipv4Net, psk: impl Into<String>) -> Self {
        let s = |l: &[&str]| l.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        Self {
            outside_address,
            inside_cidr: inside_cidr.trunc(),
            psk: psk.into(),
            phase1_encryption: s(&AWS_ENCRYPTION),
            phase1_integrity: s(&AWS_INTEGRITY),
            phase1_dh: AWS_PHASE1_DH.to_vec(),
            phase2_encryption: s(&AWS_ENCRYPTION),
            phase2_integrity: s(&AWS_INTEGRITY),
            phase2_dh: AWS_PHASE2_DH.to_vec(),
            ike_versions: s(&["ikev1", "ikev2"]),
            phase1_lifetime_secs: 28_800,
            phase2_lifetime_secs: 3_600,
            rekey_margin_secs: 270,
            rekey_fuzz_percent: 100,
            replay_window: 1024,
            dpd_timeout_secs: 30,
            dpd_action: "clear".to_string(),
            startup_action: "add".to_string(),
            amazon_asn: 64512,
            customer_asn: 65000,
            bgp_hold_time_secs: 30,
            tcp_mss: 1379,
        }
    }

    /// AWS's inside address (first host).
    pub fn aws_inside_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.inside_cidr.network()) + 1)
    }

    /// The customer gateway's inside address (second host).
    pub fn customer_inside_address(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.inside_cidr.network()) + 2)
    }
}

/// One VPN connection as `describe-vpn-connections` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsConnectionSpec {
    /// `vpn-...`.
    pub vpn_connection_id: String,
    /// `cgw-...`.
    pub customer_gateway_id: String,
    /// The customer gateway's (public) address.
    pub customer_gateway_address: Ipv4Addr,
    /// VGW or TGW.
    pub target: AwsTarget,
    /// `Options.StaticRoutesOnly` (and `NoBGPVPNConnection` in the XML).
    pub static_routes_only: bool,
    /// `Routes[]` (static routing): the static routes to the customer network (on-premises
    /// prefixes AWS routes into the tunnels).
    pub routes: Vec<Ipv4Net>,
    /// `Options.LocalIpv4NetworkCidr` (default 0.0.0.0/0).
    pub local_ipv4_network_cidr: Ipv4Net,
    /// `Options.RemoteIpv4NetworkCidr` (default 0.0.0.0/0).
    pub remote_ipv4_network_cidr: Ipv4Net,
    /// The two tunnels, in `TunnelOptions` order.
    pub tunnels: [AwsTunnelSpec; 2],
    /// Write the XML's `ipsec_tunnel`s in the opposite order to `TunnelOptions` (AWS does not
    /// promise any order).
    pub reverse_xml_tunnel_order: bool,
}

impl AwsConnectionSpec {
    /// A BGP connection to virtual private gateway `vgw-0b1c2d3e4f5a6b7c8` with AWS defaults.
    pub fn new(
        vpn_connection_id: impl Into<String>,
        customer_gateway_address: Ipv4Addr,
        tunnels: [AwsTunnelSpec; 2],
    ) -> Self {
        Self {
            vpn_connection_id: vpn_connection_id.into(),
            customer_gateway_id: "cgw-0a1b2c3d4e5f6a7b8".to_string(),
            customer_gateway_address,
            target: AwsTarget::VpnGateway("vgw-0b1c2d3e4f5a6b7c8".to_string()),
            static_routes_only: false,
            routes: Vec::new(),
            local_ipv4_network_cidr: Ipv4Net::default(),
            remote_ipv4_network_cidr: Ipv4Net::default(),
            tunnels,
            reverse_xml_tunnel_order: false,
        }
    }

    /// The CustomerGatewayConfiguration XML, with AWS's fixed algorithm template.
    pub fn customer_gateway_configuration(&self) -> String {
        let mut x = String::new();
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            x,
            "<vpn_connection id=\"{}\">",
            esc(&self.vpn_connection_id)
        );
        let _ = writeln!(
            x,
            "  <customer_gateway_id>{}</customer_gateway_id>",
            esc(&self.customer_gateway_id)
        );
        match &self.target {
            AwsTarget::VpnGateway(id) => {
                let _ = writeln!(x, "  <vpn_gateway_id>{}</vpn_gateway_id>", esc(id));
            }
            AwsTarget::TransitGateway(_) => x.push_str("  <vpn_gateway_id></vpn_gateway_id>\n"),
        }
        x.push_str("  <vpn_connection_type>ipsec.1</vpn_connection_type>\n");
        if self.static_routes_only {
            x.push_str(
                "  <vpn_connection_attributes>NoBGPVPNConnection</vpn_connection_attributes>\n",
            );
        }
        let mut order: Vec<&AwsTunnelSpec> = self.tunnels.iter().collect();
        if self.reverse_xml_tunnel_order {
            order.reverse();
        }
        for t in order {
            self.xml_tunnel(&mut x, t);
        }
        x.push_str("</vpn_connection>\n");
        x
    }

    fn xml_tunnel(&self, x: &mut String, t: &AwsTunnelSpec) {
        let side = |x: &mut String, name: &str, outside: Ipv4Addr, inside: Ipv4Addr, asn: u32| {
            let _ = write!(
                x,
                "    <{name}>\n      <tunnel_outside_address>\n        <ip_address>{outside}</ip_address>\n      </tunnel_outside_address>\n      <tunnel_inside_address>\n        <ip_address>{inside}</ip_address>\n        <network_mask>255.255.255.252</network_mask>\n        <network_cidr>30</network_cidr>\n      </tunnel_inside_address>\n"
            );
            if !self.static_routes_only {
                let _ = write!(
                    x,
                    "      <bgp>\n        <asn>{asn}</asn>\n        <hold_time>{}</hold_time>\n      </bgp>\n",
                    t.bgp_hold_time_secs
                );
            }
            let _ = writeln!(x, "    </{name}>");
        };
        x.push_str("  <ipsec_tunnel>\n");
        side(
            x,
            "customer_gateway",
            self.customer_gateway_address,
            t.customer_inside_address(),
            t.customer_asn,
        );
        side(
            x,
            "vpn_gateway",
            t.outside_address,
            t.aws_inside_address(),
            t.amazon_asn,
        );
        let _ = write!(
            x,
            "    <ike>\n      <authentication_protocol>sha1</authentication_protocol>\n      <encryption_protocol>aes-128-cbc</encryption_protocol>\n      <lifetime>28800</lifetime>\n      <perfect_forward_secrecy>group2</perfect_forward_secrecy>\n      <mode>main</mode>\n      <pre_shared_key>{}</pre_shared_key>\n    </ike>\n",
            esc(&t.psk)
        );
        let _ = write!(
            x,
            "    <ipsec>\n      <protocol>esp</protocol>\n      <authentication_protocol>hmac-sha1-96</authentication_protocol>\n      <encryption_protocol>aes-128-cbc</encryption_protocol>\n      <lifetime>3600</lifetime>\n      <perfect_forward_secrecy>group2</perfect_forward_secrecy>\n      <mode>tunnel</mode>\n      <clear_df_bit>true</clear_df_bit>\n      <fragmentation_before_encryption>true</fragmentation_before_encryption>\n      <tcp_mss_adjustment>{}</tcp_mss_adjustment>\n      <dead_peer_detection>\n        <interval>10</interval>\n        <retries>3</retries>\n      </dead_peer_detection>\n    </ipsec>\n",
            t.tcp_mss
        );
        x.push_str("  </ipsec_tunnel>\n");
    }

    /// The connection object (one element of `VpnConnections`).
    pub fn connection_json(&self) -> Value {
        let values_s = |l: &[String]| -> Value {
            Value::Array(l.iter().map(|v| json!({ "Value": v })).collect())
        };
        let values_n = |l: &[u16]| -> Value {
            Value::Array(l.iter().map(|v| json!({ "Value": v })).collect())
        };
        let tunnel_options: Vec<Value> = self
            .tunnels
            .iter()
            .map(|t| {
                let mut o = json!({
                    "OutsideIpAddress": t.outside_address.to_string(),
                    "TunnelInsideCidr": t.inside_cidr.to_string(),
                    "PreSharedKey": t.psk,
                    "Phase1LifetimeSeconds": t.phase1_lifetime_secs,
                    "Phase2LifetimeSeconds": t.phase2_lifetime_secs,
                    "RekeyMarginTimeSeconds": t.rekey_margin_secs,
                    "RekeyFuzzPercentage": t.rekey_fuzz_percent,
                    "ReplayWindowSize": t.replay_window,
                    "DpdTimeoutSeconds": t.dpd_timeout_secs,
                    "DpdTimeoutAction": t.dpd_action,
                    "StartupAction": t.startup_action,
                    "LogOptions": { "CloudWatchLogOptions": { "LogEnabled": false } },
                    "EnableTunnelLifecycleControl": false,
                });
                let m = o.as_object_mut().expect("an object");
                let lists: [(&str, Value, bool); 7] = [
                    (
                        "Phase1EncryptionAlgorithms",
                        values_s(&t.phase1_encryption),
                        t.phase1_encryption.is_empty(),
                    ),
                    (
                        "Phase1IntegrityAlgorithms",
                        values_s(&t.phase1_integrity),
                        t.phase1_integrity.is_empty(),
                    ),
                    (
                        "Phase1DHGroupNumbers",
                        values_n(&t.phase1_dh),
                        t.phase1_dh.is_empty(),
                    ),
                    (
                        "Phase2EncryptionAlgorithms",
                        values_s(&t.phase2_encryption),
                        t.phase2_encryption.is_empty(),
                    ),
                    (
                        "Phase2IntegrityAlgorithms",
                        values_s(&t.phase2_integrity),
                        t.phase2_integrity.is_empty(),
                    ),
                    (
                        "Phase2DHGroupNumbers",
                        values_n(&t.phase2_dh),
                        t.phase2_dh.is_empty(),
                    ),
                    (
                        "IkeVersions",
                        values_s(&t.ike_versions),
                        t.ike_versions.is_empty(),
                    ),
                ];
                for (k, v, empty) in lists {
                    if !empty {
                        m.insert(k.to_string(), v);
                    }
                }
                o
            })
            .collect();
        let mut c = json!({
            "Category": "VPN",
            "CustomerGatewayConfiguration": self.customer_gateway_configuration(),
            "CustomerGatewayId": self.customer_gateway_id,
            "State": "available",
            "Type": "ipsec.1",
            "VpnConnectionId": self.vpn_connection_id,
            "Options": {
                "EnableAcceleration": false,
                "StaticRoutesOnly": self.static_routes_only,
                "LocalIpv4NetworkCidr": self.local_ipv4_network_cidr.to_string(),
                "RemoteIpv4NetworkCidr": self.remote_ipv4_network_cidr.to_string(),
                "OutsideIpAddressType": "PublicIpv4",
                "TunnelInsideIpVersion": "ipv4",
                "TunnelOptions": tunnel_options,
            },
            "Routes": self.routes.iter().map(|r| json!({
                "DestinationCidrBlock": r.to_string(),
                "Source": "Static",
                "State": "available",
            })).collect::<Vec<_>>(),
            "Tags": [],
            "VgwTelemetry": self.tunnels.iter().map(|t| json!({
                "AcceptedRouteCount": 0,
                "LastStatusChange": "2024-01-01T00:00:00+00:00",
                "OutsideIpAddress": t.outside_address.to_string(),
                "Status": "DOWN",
                "StatusMessage": "",
            })).collect::<Vec<_>>(),
        });
        let m = c.as_object_mut().expect("an object");
        match &self.target {
            AwsTarget::VpnGateway(id) => m.insert("VpnGatewayId".into(), json!(id)),
            AwsTarget::TransitGateway(id) => m.insert("TransitGatewayId".into(), json!(id)),
        };
        c
    }
}

/// Renders `{"VpnConnections":[...]}` as `aws ec2 describe-vpn-connections` prints it: the
/// CustomerGatewayConfiguration XML with AWS's fixed algorithm template, and TunnelOptions
/// with the real lists.
pub fn render_describe_vpn_connections(spec: &AwsConnectionSpec) -> String {
    let v = json!({ "VpnConnections": [spec.connection_json()] });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON values always serialise");
    s.push('\n');
    s
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}
