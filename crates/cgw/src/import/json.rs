//! `describe-vpn-connections` JSON.

use super::{parse_at, ImportError};
use ipnet::Ipv4Net;
use serde_json::{Map, Value};
use std::net::Ipv4Addr;

/// One `Options.TunnelOptions[]` entry.
#[derive(Debug, Clone)]
pub(crate) struct JsonTunnel {
    /// `TunnelOptions[0]`.
    pub at: String,
    pub outside: Ipv4Addr,
    pub inside_cidr: Option<Ipv4Net>,
    pub psk: Option<String>,
    pub phase1_encryption: Option<Vec<String>>,
    pub phase1_integrity: Option<Vec<String>>,
    pub phase1_dh: Option<Vec<u16>>,
    pub phase2_encryption: Option<Vec<String>>,
    pub phase2_integrity: Option<Vec<String>>,
    pub phase2_dh: Option<Vec<u16>>,
    pub phase1_lifetime: Option<u64>,
    pub phase2_lifetime: Option<u64>,
    pub rekey_margin: Option<u64>,
    pub rekey_fuzz: Option<u32>,
    pub replay_window: Option<u32>,
    pub dpd_timeout: Option<u64>,
    pub dpd_action: Option<String>,
    pub startup_action: Option<String>,
    pub ike_versions: Option<Vec<String>>,
}

impl JsonTunnel {
    pub fn path(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }
}

/// The parts of a connection object that the import uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct JsonConnection {
    pub xml: String,
    pub vpn_connection_id: Option<String>,
    pub vpn_gateway_id: Option<String>,
    pub transit_gateway_id: Option<String>,
    pub static_routes_only: Option<bool>,
    /// Static routes (not deleted), with their paths.
    pub routes: Vec<(Ipv4Net, String)>,
    pub local_ipv4_network_cidr: Option<Ipv4Net>,
    pub remote_ipv4_network_cidr: Option<Ipv4Net>,
    pub tunnel_options: Vec<JsonTunnel>,
    pub state: Option<String>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn get_str(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(ImportError::at(
            at,
            format!("expected a string, found {}", type_name(v)),
        )),
    }
}

fn get_u64(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<u64>, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            ImportError::at(at, format!("expected a non-negative integer, found {n}"))
        }),
        Some(Value::String(s)) => parse_at(s, at, "an integer").map(Some),
        Some(v) => Err(ImportError::at(
            at,
            format!("expected an integer, found {}", type_name(v)),
        )),
    }
}

fn get_bool(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<bool>, ImportError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(v) => Err(ImportError::at(
            at,
            format!("expected true or false, found {}", type_name(v)),
        )),
    }
}

/// `[{"Value": x}, ...]` (or a plain array of values) as strings.
fn get_values(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Vec<Value>>, ImportError> {
    let arr = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(v) => {
            return Err(ImportError::at(
                at,
                format!("expected an array, found {}", type_name(v)),
            ))
        }
    };
    let mut out = Vec::new();
    for (i, item) in arr.iter().enumerate() {
        let v = match item {
            Value::Object(o) => o
                .get("Value")
                .cloned()
                .ok_or_else(|| ImportError::at(format!("{at}[{i}].Value"), "missing"))?,
            other => other.clone(),
        };
        out.push(v);
    }
    Ok(Some(out))
}

fn get_string_list(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Vec<String>>, ImportError> {
    let Some(values) = get_values(obj, key, at)? else {
        return Ok(None);
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) => Ok(s),
            other => Err(ImportError::at(
                format!("{at}[{i}].Value"),
                format!("expected a string, found {}", type_name(&other)),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn get_number_list(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Vec<u16>>, ImportError> {
    let Some(values) = get_values(obj, key, at)? else {
        return Ok(None);
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let vat = format!("{at}[{i}].Value");
            match v {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u16::try_from(n).ok())
                    .ok_or_else(|| ImportError::at(vat, format!("{n} is not a DH group number"))),
                Value::String(s) => parse_at(&s, &vat, "a DH group number"),
                other => Err(ImportError::at(
                    vat,
                    format!("expected a number, found {}", type_name(&other)),
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn get_cidr(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Option<Ipv4Net>, ImportError> {
    get_str(obj, key, at)?
        .map(|s| parse_at::<Ipv4Net>(&s, at, "an IPv4 CIDR"))
        .transpose()
}

/// Parses the JSON and picks the one connection in it.
pub(crate) fn parse(text: &str) -> Result<JsonConnection, ImportError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ImportError::at("JSON", format!("not valid JSON: {e}")))?;
    let conn = match &v {
        Value::Object(o) if o.contains_key("VpnConnections") => match o.get("VpnConnections") {
            Some(Value::Array(list)) => match list.as_slice() {
                [] => {
                    return Err(ImportError::at(
                        "VpnConnections",
                        "empty: the JSON describes no VPN connection",
                    ))
                }
                [one] => one,
                many => {
                    let ids: Vec<String> = many
                        .iter()
                        .map(|c| {
                            c.get("VpnConnectionId")
                                .and_then(Value::as_str)
                                .unwrap_or("?")
                                .to_string()
                        })
                        .collect();
                    return Err(ImportError::at(
                        "VpnConnections",
                        format!(
                            "{} connections ({}); exactly one is expected: run `aws ec2 \
                             describe-vpn-connections --vpn-connection-ids <id>` for the one you want",
                            many.len(),
                            ids.join(", ")
                        ),
                    ));
                }
            },
            Some(other) => {
                return Err(ImportError::at(
                    "VpnConnections",
                    format!("expected an array, found {}", type_name(other)),
                ))
            }
            None => unreachable!(),
        },
        Value::Object(o) if o.contains_key("VpnConnection") => &o["VpnConnection"],
        Value::Object(_) => &v,
        other => {
            return Err(ImportError::at(
                "JSON",
                format!(
                    "expected an object with VpnConnections, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    let Value::Object(c) = conn else {
        return Err(ImportError::at(
            "VpnConnections[0]",
            format!("expected an object, found {}", type_name(conn)),
        ));
    };

    let xml = get_str(
        c,
        "CustomerGatewayConfiguration",
        "CustomerGatewayConfiguration",
    )?
    .filter(|s| !s.trim().is_empty())
    .ok_or_else(|| {
        if c.contains_key("VpnConnectionId") || c.contains_key("Options") {
            ImportError::at(
                "CustomerGatewayConfiguration",
                "missing: the connection has no configuration XML (it holds the tunnel \
                     addresses and BGP ASNs); describe the connection as its owner",
            )
        } else {
            ImportError::at(
                "VpnConnections",
                "missing: this JSON is not describe-vpn-connections output",
            )
        }
    })?;

    let mut out = JsonConnection {
        xml,
        vpn_connection_id: get_str(c, "VpnConnectionId", "VpnConnectionId")?,
        vpn_gateway_id: get_str(c, "VpnGatewayId", "VpnGatewayId")?,
        transit_gateway_id: get_str(c, "TransitGatewayId", "TransitGatewayId")?,
        state: get_str(c, "State", "State")?,
        ..Default::default()
    };

    if let Some(opts) = c.get("Options") {
        let Value::Object(o) = opts else {
            return Err(ImportError::at(
                "Options",
                format!("expected an object, found {}", type_name(opts)),
            ));
        };
        out.static_routes_only = get_bool(o, "StaticRoutesOnly", "Options.StaticRoutesOnly")?;
        out.local_ipv4_network_cidr =
            get_cidr(o, "LocalIpv4NetworkCidr", "Options.LocalIpv4NetworkCidr")?;
        out.remote_ipv4_network_cidr =
            get_cidr(o, "RemoteIpv4NetworkCidr", "Options.RemoteIpv4NetworkCidr")?;
        match o.get("TunnelOptions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, t) in list.iter().enumerate() {
                    let at = format!("TunnelOptions[{i}]");
                    let Value::Object(t) = t else {
                        return Err(ImportError::at(
                            at,
                            format!("expected an object, found {}", type_name(t)),
                        ));
                    };
                    out.tunnel_options.push(tunnel(t, at)?);
                }
            }
            Some(other) => {
                return Err(ImportError::at(
                    "Options.TunnelOptions",
                    format!("expected an array, found {}", type_name(other)),
                ))
            }
        }
    }

    match c.get("Routes") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, r) in list.iter().enumerate() {
                let at = format!("Routes[{i}]");
                let Value::Object(r) = r else {
                    return Err(ImportError::at(
                        at,
                        format!("expected an object, found {}", type_name(r)),
                    ));
                };
                let state = get_str(r, "State", &format!("{at}.State"))?.unwrap_or_default();
                if matches!(state.as_str(), "deleted" | "deleting") {
                    continue;
                }
                let dat = format!("{at}.DestinationCidrBlock");
                let cidr = get_str(r, "DestinationCidrBlock", &dat)?
                    .ok_or_else(|| ImportError::at(&dat, "missing"))?;
                if cidr.contains(':') {
                    // An IPv6 route: cgw's tunnels carry IPv4 only.
                    continue;
                }
                let net: Ipv4Net = parse_at(&cidr, &dat, "an IPv4 CIDR")?;
                out.routes.push((net.trunc(), dat));
            }
        }
        Some(other) => {
            return Err(ImportError::at(
                "Routes",
                format!("expected an array, found {}", type_name(other)),
            ))
        }
    }
    Ok(out)
}

fn tunnel(t: &Map<String, Value>, at: String) -> Result<JsonTunnel, ImportError> {
    let p = |k: &str| format!("{at}.{k}");
    let outside_at = p("OutsideIpAddress");
    let outside = get_str(t, "OutsideIpAddress", &outside_at)?
        .ok_or_else(|| ImportError::at(&outside_at, "missing"))?;
    let outside: Ipv4Addr = parse_at(&outside, &outside_at, "an IPv4 address")?;
    Ok(JsonTunnel {
        outside,
        inside_cidr: get_cidr(t, "TunnelInsideCidr", &p("TunnelInsideCidr"))?,
        psk: get_str(t, "PreSharedKey", &p("PreSharedKey"))?.filter(|s| !s.is_empty()),
        phase1_encryption: get_string_list(
            t,
            "Phase1EncryptionAlgorithms",
            &p("Phase1EncryptionAlgorithms"),
        )?,
        phase1_integrity: get_string_list(
            t,
            "Phase1IntegrityAlgorithms",
            &p("Phase1IntegrityAlgorithms"),
        )?,
        phase1_dh: get_number_list(t, "Phase1DHGroupNumbers", &p("Phase1DHGroupNumbers"))?,
        phase2_encryption: get_string_list(
            t,
            "Phase2EncryptionAlgorithms",
            &p("Phase2EncryptionAlgorithms"),
        )?,
        phase2_integrity: get_string_list(
            t,
            "Phase2IntegrityAlgorithms",
            &p("Phase2IntegrityAlgorithms"),
        )?,
        phase2_dh: get_number_list(t, "Phase2DHGroupNumbers", &p("Phase2DHGroupNumbers"))?,
        phase1_lifetime: get_u64(t, "Phase1LifetimeSeconds", &p("Phase1LifetimeSeconds"))?,
        phase2_lifetime: get_u64(t, "Phase2LifetimeSeconds", &p("Phase2LifetimeSeconds"))?,
        rekey_margin: get_u64(t, "RekeyMarginTimeSeconds", &p("RekeyMarginTimeSeconds"))?,
        rekey_fuzz: get_u64(t, "RekeyFuzzPercentage", &p("RekeyFuzzPercentage"))?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        replay_window: get_u64(t, "ReplayWindowSize", &p("ReplayWindowSize"))?
            .map(|v| u32::try_from(v).unwrap_or(u32::MAX)),
        dpd_timeout: get_u64(t, "DpdTimeoutSeconds", &p("DpdTimeoutSeconds"))?,
        dpd_action: get_str(t, "DpdTimeoutAction", &p("DpdTimeoutAction"))?,
        startup_action: get_str(t, "StartupAction", &p("StartupAction"))?,
        ike_versions: get_string_list(t, "IkeVersions", &p("IkeVersions"))?,
        at,
    })
}
