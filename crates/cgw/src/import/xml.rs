//! The CustomerGatewayConfiguration XML.

use super::{parse_at, Field, ImportError, SrcBgp, SrcConnection, SrcTunnel};
use roxmltree::{Document, Node};
use std::net::Ipv4Addr;

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

/// The trimmed text of the element at `path` below `n`, if present (possibly empty).
fn text_at(n: Node<'_, '_>, path: &[&str]) -> Option<String> {
    let mut cur = n;
    for p in path {
        cur = child(cur, p)?;
    }
    Some(cur.text().unwrap_or("").trim().to_string())
}

/// Like `text_at`, but `None` for an empty element too.
fn nonempty_at(n: Node<'_, '_>, path: &[&str]) -> Option<String> {
    text_at(n, path).filter(|s| !s.is_empty())
}

struct Tun<'a, 'i> {
    node: Node<'a, 'i>,
    label: String,
}

impl Tun<'_, '_> {
    fn path(&self, path: &[&str]) -> String {
        format!("{}/{}", self.label, path.join("/"))
    }

    fn get<T: std::str::FromStr>(
        &self,
        path: &[&str],
        what: &str,
    ) -> Result<Option<Field<T>>, ImportError> {
        match nonempty_at(self.node, path) {
            None => Ok(None),
            Some(s) => {
                let at = self.path(path);
                Ok(Some(Field::new(parse_at(&s, &at, what)?, at)))
            }
        }
    }

    fn inside(&self, side: &str) -> Result<Option<Field<(Ipv4Addr, u8)>>, ImportError> {
        let Some(addr) = self.get::<Ipv4Addr>(
            &[side, "tunnel_inside_address", "ip_address"],
            "an IPv4 address",
        )?
        else {
            return Ok(None);
        };
        let len = if let Some(c) = self.get::<u8>(
            &[side, "tunnel_inside_address", "network_cidr"],
            "a prefix length",
        )? {
            c.value
        } else if let Some(m) = self.get::<Ipv4Addr>(
            &[side, "tunnel_inside_address", "network_mask"],
            "a network mask",
        )? {
            let bits = u32::from(m.value);
            if bits.leading_ones() + bits.trailing_zeros() != 32 {
                return Err(ImportError::at(
                    m.at,
                    format!("{} is not a contiguous network mask", m.value),
                ));
            }
            bits.leading_ones() as u8
        } else {
            30
        };
        if len != 30 {
            return Err(ImportError::at(
                self.path(&[side, "tunnel_inside_address", "network_cidr"]),
                format!("/{len}; AWS tunnel inside networks are /30s"),
            ));
        }
        Ok(Some(Field::new((addr.value, len), addr.at)))
    }

    fn bgp(&self, side: &str) -> Result<Option<SrcBgp>, ImportError> {
        if child(self.node, side)
            .and_then(|s| child(s, "bgp"))
            .is_none()
        {
            return Ok(None);
        }
        Ok(Some(SrcBgp {
            asn: self.get(&[side, "bgp", "asn"], "an AS number")?,
            hold_time: self.get(&[side, "bgp", "hold_time"], "a hold time in seconds")?,
        }))
    }
}

/// Parses the XML.
pub(crate) fn parse(text: &str) -> Result<SrcConnection, ImportError> {
    let doc = Document::parse(text.trim()).map_err(|e| {
        ImportError::at(
            "CustomerGatewayConfiguration",
            format!("not well-formed XML: {e}"),
        )
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "vpn_connection" {
        return Err(ImportError::at(
            "CustomerGatewayConfiguration",
            format!(
                "the root element is <{}>, expected <vpn_connection>",
                root.tag_name().name()
            ),
        ));
    }
    let vpn_connection_id = root
        .attribute("id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Field::new(s.to_string(), "vpn_connection/@id"));
    let attrs = nonempty_at(root, &["vpn_connection_attributes"]);
    let static_routing = Field::new(
        attrs.as_deref() == Some("NoBGPVPNConnection"),
        if attrs.is_some() {
            "vpn_connection_attributes"
        } else {
            "vpn_connection_attributes (absent: BGP)"
        },
    );

    let mut tunnels = Vec::new();
    for (i, node) in root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "ipsec_tunnel")
        .enumerate()
    {
        let t = Tun {
            node,
            label: format!("ipsec_tunnel[{}]", i + 1),
        };
        let aws_outside_path = ["vpn_gateway", "tunnel_outside_address", "ip_address"];
        let aws_outside = t
            .get::<Ipv4Addr>(&aws_outside_path, "an IPv4 address")?
            .ok_or_else(|| ImportError::at(t.path(&aws_outside_path), "missing"))?;
        let cgw_outside_path = ["customer_gateway", "tunnel_outside_address", "ip_address"];
        let cgw_outside = match t.get::<Ipv4Addr>(&cgw_outside_path, "an IPv4 address")? {
            Some(f) => Field::new(Some(f.value), f.at),
            None => Field::new(None, t.path(&cgw_outside_path)),
        };
        let psk_path = ["ike", "pre_shared_key"];
        tunnels.push(SrcTunnel {
            cgw_outside,
            aws_outside,
            cgw_inside: t.inside("customer_gateway")?,
            aws_inside: t.inside("vpn_gateway")?,
            inside_at: t.path(&["vpn_gateway", "tunnel_inside_address", "ip_address"]),
            psk: nonempty_at(node, &psk_path).map(|s| Field::new(s, t.path(&psk_path))),
            psk_at: t.path(&psk_path),
            cgw_bgp: t.bgp("customer_gateway")?,
            aws_bgp: t.bgp("vpn_gateway")?,
            asn_at: (
                t.path(&["customer_gateway", "bgp", "asn"]),
                t.path(&["vpn_gateway", "bgp", "asn"]),
            ),
            tcp_mss: t.get(&["ipsec", "tcp_mss_adjustment"], "an MSS in bytes")?,
            mtu: None,
            dpd_interval: t.get(
                &["ipsec", "dead_peer_detection", "interval"],
                "an interval in seconds",
            )?,
            dpd_retries: t.get(&["ipsec", "dead_peer_detection", "retries"], "a count")?,
            ike_lifetime: t.get(&["ike", "lifetime"], "a lifetime in seconds")?,
            child_lifetime: t.get(&["ipsec", "lifetime"], "a lifetime in seconds")?,
            label: t.label,
        });
    }
    Ok(SrcConnection {
        vpn_connection_id,
        customer_gateway_id: nonempty_at(root, &["customer_gateway_id"]),
        vpn_gateway_id: text_at(root, &["vpn_gateway_id"]),
        transit_gateway_id: None,
        static_routing,
        tunnels,
        tunnels_at: "ipsec_tunnel".to_string(),
    })
}
