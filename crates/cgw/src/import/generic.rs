//! AWS's "Generic" (vendor-independent) configuration text download.
//!
//! A header with `Your VPN Connection ID : vpn-...` lines, then one block per tunnel headed
//! `IPsec Tunnel #N`, with sections `#1: Internet Key Exchange Configuration`,
//! `#2: IPsec Configuration`, `#3: Tunnel Interface Configuration` and `#4: Border Gateway
//! Protocol (BGP) Configuration` (or `#4: Static Routing Configuration`), whose values are
//! `- Key : value` lines.

use super::{parse_at, Field, ImportError, SrcBgp, SrcConnection, SrcTunnel};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Whether the text looks like a Generic download.
pub(crate) fn looks_generic(text: &str) -> bool {
    text.lines().any(|l| tunnel_header(l).is_some())
        || text.to_ascii_lowercase().contains("your vpn connection id")
}

/// `IPsec Tunnel #2` -> 2.
fn tunnel_header(line: &str) -> Option<u32> {
    let l = line.trim().to_ascii_lowercase();
    let rest = l.strip_prefix("ipsec tunnel #")?;
    rest.trim().parse().ok()
}

/// Lower case, single spaces, no trailing colon.
fn norm_key(k: &str) -> String {
    k.trim()
        .trim_end_matches(':')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

/// `- Key : value` -> (key, value).
fn key_value(line: &str) -> Option<(String, String)> {
    let l = line.trim_start().strip_prefix('-')?;
    let (k, v) = l.split_once(':')?;
    let v = v.trim_start_matches([':', ' ', '\t']).trim();
    Some((norm_key(k), v.to_string()))
}

/// The leading number of `28800 seconds` / `1387 bytes`.
fn leading_number(v: &str) -> &str {
    let v = v.trim();
    let end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    &v[..end]
}

#[derive(Default)]
struct Block {
    number: u32,
    section: u32,
    subsection: String,
    cgw_outside_raw: Option<(String, String)>,
    aws_outside: Option<Field<Ipv4Addr>>,
    cgw_inside: Option<Field<(Ipv4Addr, u8)>>,
    aws_inside: Option<Field<(Ipv4Addr, u8)>>,
    psk: Option<Field<String>>,
    ike_lifetime: Option<Field<u64>>,
    child_lifetime: Option<Field<u64>>,
    dpd_interval: Option<Field<u64>>,
    dpd_retries: Option<Field<u64>>,
    tcp_mss: Option<Field<u16>>,
    mtu: Option<Field<u16>>,
    bgp_section: bool,
    static_section: bool,
    cgw_asn: Option<Field<u32>>,
    aws_asn: Option<Field<u32>>,
    hold_time: Option<Field<u16>>,
}

impl Block {
    fn label(&self) -> String {
        format!("IPsec Tunnel #{}", self.number)
    }

    fn at(&self, key: &str) -> String {
        let section = match self.section {
            1 => "#1 Internet Key Exchange",
            2 => "#2 IPsec",
            3 => "#3 Tunnel Interface",
            4 if self.bgp_section => "#4 BGP",
            4 => "#4 Static Routing",
            _ => "",
        };
        let mut parts = vec![self.label()];
        if !section.is_empty() {
            parts.push(section.to_string());
        }
        if !self.subsection.is_empty() {
            parts.push(self.subsection.clone());
        }
        parts.push(key.to_string());
        parts.join(" > ")
    }

    fn num<T: std::str::FromStr>(
        &self,
        key: &str,
        value: &str,
        what: &str,
    ) -> Result<Field<T>, ImportError> {
        let at = self.at(key);
        match leading_number(value).parse() {
            Ok(v) => Ok(Field::new(v, at)),
            Err(_) => Err(ImportError::at(
                at,
                format!("expected {what}, found {value:?}"),
            )),
        }
    }

    fn inside(&self, key: &str, value: &str) -> Result<Field<(Ipv4Addr, u8)>, ImportError> {
        let at = self.at(key);
        let net: Ipv4Net = if value.contains('/') {
            parse_at(
                value,
                &at,
                "an address with a prefix length (169.254.x.y/30)",
            )?
        } else {
            Ipv4Net::new(parse_at(value, &at, "an IPv4 address")?, 30).expect("30 <= 32")
        };
        if net.prefix_len() != 30 {
            return Err(ImportError::at(
                at,
                format!("{net}: AWS tunnel inside networks are /30s"),
            ));
        }
        Ok(Field::new((net.addr(), net.prefix_len()), at))
    }

    fn line(&mut self, key: &str, value: &str, original_key: &str) -> Result<(), ImportError> {
        match (self.section, key) {
            (1, "pre-shared key") => {
                self.psk = Some(Field::new(value.to_string(), self.at("Pre-Shared Key")))
            }
            (1, "lifetime") => {
                self.ike_lifetime = Some(self.num("Lifetime", value, "a lifetime in seconds")?)
            }
            (2, "lifetime") => {
                self.child_lifetime = Some(self.num("Lifetime", value, "a lifetime in seconds")?)
            }
            (2, "dpd interval") => {
                self.dpd_interval = Some(self.num("DPD Interval", value, "seconds")?)
            }
            (2, "dpd retries") => {
                self.dpd_retries = Some(self.num("DPD Retries", value, "a count")?)
            }
            (2, "tcp mss adjustment") => {
                self.tcp_mss = Some(self.num("TCP MSS Adjustment", value, "an MSS in bytes")?)
            }
            (3, "tunnel interface mtu") => {
                self.subsection.clear();
                self.mtu = Some(self.num("Tunnel interface MTU", value, "an MTU in bytes")?)
            }
            (3, k) if self.subsection.starts_with("Outside") => {
                if k == "customer gateway" {
                    self.cgw_outside_raw = Some((value.to_string(), self.at("Customer Gateway")));
                } else if k.ends_with("gateway") {
                    let at = self.at(original_key.trim().trim_end_matches(':').trim());
                    self.aws_outside =
                        Some(Field::new(parse_at(value, &at, "an IPv4 address")?, at));
                }
            }
            (3, k) if self.subsection.starts_with("Inside") => {
                if k == "customer gateway" {
                    self.cgw_inside = Some(self.inside("Customer Gateway", value)?);
                } else if k.ends_with("gateway") {
                    let key = original_key.trim().trim_end_matches(':').trim().to_string();
                    self.aws_inside = Some(self.inside(&key, value)?);
                }
            }
            (4, "customer gateway asn") => {
                self.cgw_asn = Some(self.num("Customer Gateway ASN", value, "an AS number")?)
            }
            (4, k) if k.ends_with("gateway asn") => {
                let key = original_key
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                self.aws_asn = Some(self.num(&key, value, "an AS number")?)
            }
            (4, "neighbor hold time") => {
                self.hold_time = Some(self.num("Neighbor Hold Time", value, "seconds")?)
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(self) -> Result<SrcTunnel, ImportError> {
        let label = self.label();
        let outside_at = format!("{label} > #3 Tunnel Interface > Outside IP Addresses");
        let aws_outside = self.aws_outside.ok_or_else(|| {
            ImportError::at(format!("{outside_at} > Virtual Private Gateway"), "missing")
        })?;
        let cgw_outside = match self.cgw_outside_raw {
            // A placeholder such as YOUR_UPLINK_ADDRESS counts as missing.
            Some((raw, at)) => Field::new(raw.parse::<Ipv4Addr>().ok(), at),
            None => Field::new(None, format!("{outside_at} > Customer Gateway")),
        };
        let bgp = |asn: Option<Field<u32>>, hold: Option<Field<u16>>| {
            Some(SrcBgp {
                asn,
                hold_time: hold,
            })
        };
        let (cgw_bgp, aws_bgp) = if self.bgp_section {
            (
                bgp(self.cgw_asn, self.hold_time.clone()),
                bgp(self.aws_asn, self.hold_time),
            )
        } else {
            (None, None)
        };
        Ok(SrcTunnel {
            cgw_outside,
            aws_outside,
            cgw_inside: self.cgw_inside,
            aws_inside: self.aws_inside,
            inside_at: format!(
                "{label} > #3 Tunnel Interface > Inside IP Addresses > Virtual Private Gateway"
            ),
            psk: self.psk,
            psk_at: format!("{label} > #1 Internet Key Exchange > Pre-Shared Key"),
            cgw_bgp,
            aws_bgp,
            asn_at: (
                format!("{label} > #4 BGP > Customer Gateway ASN"),
                format!("{label} > #4 BGP > Virtual Private Gateway ASN"),
            ),
            tcp_mss: self.tcp_mss,
            mtu: self.mtu,
            dpd_interval: self.dpd_interval,
            dpd_retries: self.dpd_retries,
            ike_lifetime: self.ike_lifetime,
            child_lifetime: self.child_lifetime,
            label,
        })
    }
}

/// Parses the text.
pub(crate) fn parse(text: &str) -> Result<SrcConnection, ImportError> {
    let mut vpn_connection_id = None;
    let mut customer_gateway_id = None;
    let mut vpn_gateway_id = None;
    let mut transit_gateway_id = None;
    let mut blocks: Vec<Block> = Vec::new();

    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim();
        if let Some(n) = tunnel_header(trimmed) {
            blocks.push(Block {
                number: n,
                ..Default::default()
            });
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            // The header.
            if let Some((k, v)) = trimmed.split_once(':') {
                let v = v.trim().to_string();
                match norm_key(k).as_str() {
                    "your vpn connection id" => vpn_connection_id = Some(v),
                    "your customer gateway id" => customer_gateway_id = Some(v),
                    "your virtual private gateway id" => vpn_gateway_id = Some(v),
                    "your transit gateway id" => transit_gateway_id = Some(v),
                    _ => {}
                }
            }
            continue;
        };
        // Section headings: "#3: Tunnel Interface Configuration".
        if let Some(rest) = trimmed.strip_prefix('#') {
            if let Some((num, title)) = rest.split_once(':') {
                if let Ok(n) = num.trim().parse::<u32>() {
                    block.section = n;
                    block.subsection.clear();
                    let t = title.to_ascii_lowercase();
                    if n == 4 {
                        block.bgp_section =
                            t.contains("border gateway protocol") || t.contains("bgp");
                        block.static_section = t.contains("static");
                    }
                    continue;
                }
            }
        }
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("outside ip addresses") {
            block.subsection = "Outside IP Addresses".into();
            continue;
        }
        if lower.starts_with("inside ip addresses") {
            block.subsection = "Inside IP Addresses".into();
            continue;
        }
        if let Some((key, value)) = key_value(trimmed) {
            let original_key = trimmed
                .trim_start_matches('-')
                .split(':')
                .next()
                .unwrap_or("");
            block.line(&key, &value, original_key)?;
        }
    }

    if blocks.is_empty() {
        return Err(ImportError::at(
            "IPsec Tunnel #1",
            "missing: no \"IPsec Tunnel #N\" block in the text",
        ));
    }
    let bgp = blocks.iter().any(|b| b.bgp_section);
    let any_static = blocks.iter().any(|b| b.static_section);
    let static_routing = Field::new(
        !bgp,
        if bgp {
            "#4: Border Gateway Protocol (BGP) Configuration"
        } else if any_static {
            "#4: Static Routing Configuration"
        } else {
            "no #4 BGP section (static routing)"
        },
    );
    let tunnels = blocks
        .into_iter()
        .map(Block::finish)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SrcConnection {
        vpn_connection_id: vpn_connection_id
            .filter(|s: &String| !s.is_empty())
            .map(|s| Field::new(s, "Your VPN Connection ID")),
        customer_gateway_id,
        vpn_gateway_id,
        transit_gateway_id,
        static_routing,
        tunnels,
        tunnels_at: "IPsec Tunnel #N".to_string(),
    })
}
