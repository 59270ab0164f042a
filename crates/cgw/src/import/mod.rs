//! `cgw import aws FILE`: turn what AWS gives you into a complete, commented `cgw.toml`.
//!
//! Three inputs are understood, detected from the content:
//!
//! 1. the JSON printed by `aws ec2 describe-vpn-connections` (`{"VpnConnections":[{...}]}` with
//!    exactly one connection, `{"VpnConnection":{...}}` from `create-vpn-connection`, or a bare
//!    connection object);
//! 2. the bare `CustomerGatewayConfiguration` XML;
//! 3. AWS's "Generic" vendor-independent text download.
//!
//! Traps handled (see the AWS facts notes, §3):
//!
//! - The XML's and the Generic file's IKE/IPsec algorithms are a fixed template (aes-128-cbc,
//!   sha1, group 2) that ignores the tunnel's real options. With JSON input the proposals come
//!   from `Options.TunnelOptions[]` (Phase1/Phase2 Encryption/Integrity/DH lists); without it,
//!   cgw's Suite-B-GCM-256-first defaults are used, with a warning.
//! - XML tunnels and `TunnelOptions` are paired by the AWS outside address, never by order.
//! - `vpn_connection_attributes` = `NoBGPVPNConnection` (or `StaticRoutesOnly`) means static
//!   routing; `vpn_gateway_id` is empty for a transit gateway.
//! - `TunnelInsideCidr` may be written with host bits set (`169.254.15.193/30`).
//!
//! [`render_describe_vpn_connections`] does the reverse, for tests and the AWS emulator.

mod aws;
mod build;
mod generic;
mod json;
mod proposals;
mod toml_out;
mod xml;

pub use aws::{render_describe_vpn_connections, AwsConnectionSpec, AwsTarget, AwsTunnelSpec};

use crate::config::{CgwConfig, ConfigError};
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;

/// Options of `cgw import aws`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// `--local-address IP`: our outside address on this host, when it is not the customer
    /// gateway address AWS knows (we are behind a NAT).
    pub local_address: Option<Ipv4Addr>,
    /// `--remote-cidr CIDR`: the VPC CIDR(s) to route into the tunnels (static routing);
    /// overrides the connection's static routes.
    pub remote_cidrs: Vec<Ipv4Net>,
    /// `--lan CIDR`: the on-premises prefixes.
    pub lan: Vec<Ipv4Net>,
    /// The input file's name, mentioned in the header of the written TOML.
    pub source_name: Option<String>,
}

/// What kind of input was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    /// `describe-vpn-connections` (or `create-vpn-connection`) JSON.
    DescribeJson,
    /// The bare CustomerGatewayConfiguration XML.
    Xml,
    /// AWS's "Generic" text download.
    GenericText,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFormat::DescribeJson => "describe-vpn-connections JSON",
            SourceFormat::Xml => "CustomerGatewayConfiguration XML",
            SourceFormat::GenericText => "AWS Generic configuration text",
        })
    }
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The configuration (already validated).
    pub config: CgwConfig,
    /// The complete, commented `cgw.toml`; it loads back to `config`. It contains the
    /// pre-shared keys: write it with mode 0600.
    pub toml: String,
    /// Things the user should know (also written as comments at the top of `toml`).
    pub warnings: Vec<String>,
    /// What the input was.
    pub format: SourceFormat,
}

/// Why an import failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The input is none of the three formats.
    #[error(
        "unrecognised input: {0} (expected describe-vpn-connections JSON, CustomerGatewayConfiguration XML or AWS's Generic text download)"
    )]
    UnknownFormat(String),
    /// An element of the input is missing, malformed or cannot be mapped.
    #[error("{element}: {message}")]
    Element {
        /// Where: an XML path (`ipsec_tunnel[2]/vpn_gateway/tunnel_outside_address/ip_address`,
        /// 1-based), a JSON path (`TunnelOptions[0].Phase1DHGroupNumbers`, 0-based), a
        /// Generic location (`IPsec Tunnel #2 > Outside IP Addresses > Virtual Private Gateway`)
        /// or a command-line option (`--remote-cidr`).
        element: String,
        /// What is wrong.
        message: String,
    },
    /// The imported configuration breaks a `cgw check` rule.
    #[error("the imported configuration is not valid:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

impl ImportError {
    pub(crate) fn at(element: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError::Element {
            element: element.into(),
            message: message.into(),
        }
    }

    /// The element an [`ImportError::Element`] names.
    pub fn element(&self) -> Option<&str> {
        match self {
            ImportError::Element { element, .. } => Some(element),
            _ => None,
        }
    }
}

/// Imports an AWS VPN connection description (any of the three formats).
pub fn import_aws(input: &str, opts: &ImportOptions) -> Result<Imported, ImportError> {
    let text = input.strip_prefix('\u{feff}').unwrap_or(input);
    let trimmed = text.trim_start();
    let (format, conn, json) = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let j = json::parse(trimmed)?;
        let conn = xml::parse(&j.xml)?;
        (SourceFormat::DescribeJson, conn, Some(j))
    } else if trimmed.starts_with('<') {
        (SourceFormat::Xml, xml::parse(trimmed)?, None)
    } else if generic::looks_generic(trimmed) {
        (SourceFormat::GenericText, generic::parse(trimmed)?, None)
    } else {
        let first: String = trimmed
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(40)
            .collect();
        return Err(ImportError::UnknownFormat(if first.is_empty() {
            "the input is empty".to_string()
        } else {
            format!("it starts with {first:?}")
        }));
    };
    build::build(format, conn, json, opts)
}

/// Parses a number, address or prefix from an element's text.
pub(crate) fn parse_at<T: std::str::FromStr>(
    text: &str,
    at: &str,
    what: &str,
) -> Result<T, ImportError> {
    text.trim()
        .parse()
        .map_err(|_| ImportError::at(at, format!("expected {what}, found {:?}", text.trim())))
}

/// A value and the element it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<T> {
    pub value: T,
    pub at: String,
}

impl<T> Field<T> {
    pub fn new(value: T, at: impl Into<String>) -> Self {
        Field {
            value,
            at: at.into(),
        }
    }
}

/// The BGP settings of one side of a tunnel.
#[derive(Debug, Clone, Default)]
pub(crate) struct SrcBgp {
    pub asn: Option<Field<u32>>,
    pub hold_time: Option<Field<u16>>,
}

/// One tunnel as the XML or the Generic text describes it.
#[derive(Debug, Clone)]
pub(crate) struct SrcTunnel {
    /// `ipsec_tunnel[1]` or `IPsec Tunnel #1`.
    pub label: String,
    /// The customer gateway address (None: missing or a placeholder; `at` says where).
    pub cgw_outside: Field<Option<Ipv4Addr>>,
    /// AWS's outside address.
    pub aws_outside: Field<Ipv4Addr>,
    /// Our inside address and its prefix length.
    pub cgw_inside: Option<Field<(Ipv4Addr, u8)>>,
    /// AWS's inside address and its prefix length.
    pub aws_inside: Option<Field<(Ipv4Addr, u8)>>,
    /// Where the inside addresses are (for "missing" errors).
    pub inside_at: String,
    pub psk: Option<Field<String>>,
    /// Where the PSK is (for "missing" errors).
    pub psk_at: String,
    pub cgw_bgp: Option<SrcBgp>,
    pub aws_bgp: Option<SrcBgp>,
    /// Where the ASNs are (for "missing" errors): ours, AWS's.
    pub asn_at: (String, String),
    pub tcp_mss: Option<Field<u16>>,
    pub mtu: Option<Field<u16>>,
    pub dpd_interval: Option<Field<u64>>,
    pub dpd_retries: Option<Field<u64>>,
    pub ike_lifetime: Option<Field<u64>>,
    pub child_lifetime: Option<Field<u64>>,
}

/// A connection as the XML or the Generic text describes it.
#[derive(Debug, Clone)]
pub(crate) struct SrcConnection {
    pub vpn_connection_id: Option<Field<String>>,
    pub customer_gateway_id: Option<String>,
    /// `Some("")` for a transit gateway (the element is present but empty).
    pub vpn_gateway_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    /// Static routing, and where that was read.
    pub static_routing: Field<bool>,
    pub tunnels: Vec<SrcTunnel>,
    /// What to call the tunnel list in errors (`ipsec_tunnel`, `IPsec Tunnel #N`).
    pub tunnels_at: String,
}
