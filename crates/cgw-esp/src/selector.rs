//! Traffic selectors (RFC 7296 section 3.13.1) and the minimal inner-packet parsing needed
//! to check a decapsulated packet against them (RFC 4301 section 5.2, step 4).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::EspError;

/// IP protocol number of TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;
/// ESP next header for an IPv4 inner packet (tunnel mode).
pub const NEXT_HEADER_IPV4: u8 = 4;
/// ESP next header for an IPv6 inner packet (tunnel mode).
pub const NEXT_HEADER_IPV6: u8 = 41;
/// ESP next header of a dummy packet (RFC 4303 section 2.6).
pub const NEXT_HEADER_NO_NEXT: u8 = 59;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Range {
    V4(u32, u32),
    V6(u128, u128),
}

/// One traffic selector: an IPv4 or IPv6 address range, an IP protocol (0 = any) and a port
/// range (all ports = `0..=65535`).
///
/// Ports are only known for TCP and UDP in the first (or only) fragment; a selector that
/// narrows ports matches no other packet, as RFC 4301 section 4.4.1.1 allows (OPAQUE ports
/// match only a selector of ANY).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    range: Range,
    protocol: u8,
    start_port: u16,
    end_port: u16,
}

impl TrafficSelector {
    /// Every IPv4 address (0.0.0.0/0), any protocol, any port: AWS's default.
    pub const fn ipv4_any() -> Self {
        Self {
            range: Range::V4(0, u32::MAX),
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
        }
    }

    /// Every IPv6 address (::/0), any protocol, any port.
    pub const fn ipv6_any() -> Self {
        Self {
            range: Range::V6(0, u128::MAX),
            protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
        }
    }

    /// The IPv4 addresses `start..=end`, any protocol and port.
    pub fn ipv4_range(start: Ipv4Addr, end: Ipv4Addr) -> Result<Self, EspError> {
        let (s, e) = (u32::from(start), u32::from(end));
        if s > e {
            return Err(EspError::InvalidTrafficSelector("start address above end"));
        }
        Ok(Self {
            range: Range::V4(s, e),
            ..Self::ipv4_any()
        })
    }

    /// The IPv6 addresses `start..=end`, any protocol and port.
    pub fn ipv6_range(start: Ipv6Addr, end: Ipv6Addr) -> Result<Self, EspError> {
        let (s, e) = (u128::from(start), u128::from(end));
        if s > e {
            return Err(EspError::InvalidTrafficSelector("start address above end"));
        }
        Ok(Self {
            range: Range::V6(s, e),
            ..Self::ipv6_any()
        })
    }

    /// The addresses `start..=end` (both of one family), any protocol and port.
    pub fn range(start: IpAddr, end: IpAddr) -> Result<Self, EspError> {
        match (start, end) {
            (IpAddr::V4(s), IpAddr::V4(e)) => Self::ipv4_range(s, e),
            (IpAddr::V6(s), IpAddr::V6(e)) => Self::ipv6_range(s, e),
            _ => Err(EspError::InvalidTrafficSelector(
                "start and end are of different address families",
            )),
        }
    }

    /// The prefix `addr/prefix_len` (host bits of `addr` are ignored), any protocol and port.
    pub fn prefix(addr: IpAddr, prefix_len: u8) -> Result<Self, EspError> {
        match addr {
            IpAddr::V4(a) => {
                if prefix_len > 32 {
                    return Err(EspError::InvalidTrafficSelector(
                        "IPv4 prefix longer than 32",
                    ));
                }
                let host = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
                let a = u32::from(a);
                Self::ipv4_range((a & !host).into(), (a | host).into())
            }
            IpAddr::V6(a) => {
                if prefix_len > 128 {
                    return Err(EspError::InvalidTrafficSelector(
                        "IPv6 prefix longer than 128",
                    ));
                }
                let host = u128::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
                let a = u128::from(a);
                Self::ipv6_range((a & !host).into(), (a | host).into())
            }
        }
    }

    /// Narrows the selector to one IP protocol (0 = any).
    pub const fn with_protocol(mut self, protocol: u8) -> Self {
        self.protocol = protocol;
        self
    }

    /// Narrows the selector to the ports `start..=end`.
    pub fn with_ports(mut self, start: u16, end: u16) -> Result<Self, EspError> {
        if start > end {
            return Err(EspError::InvalidTrafficSelector("start port above end"));
        }
        self.start_port = start;
        self.end_port = end;
        Ok(self)
    }

    /// First address of the range.
    pub fn start_address(&self) -> IpAddr {
        match self.range {
            Range::V4(s, _) => IpAddr::V4(s.into()),
            Range::V6(s, _) => IpAddr::V6(s.into()),
        }
    }

    /// Last address of the range.
    pub fn end_address(&self) -> IpAddr {
        match self.range {
            Range::V4(_, e) => IpAddr::V4(e.into()),
            Range::V6(_, e) => IpAddr::V6(e.into()),
        }
    }

    /// The IP protocol (0 = any).
    pub const fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The port range as `(start, end)`, inclusive.
    pub const fn ports(&self) -> (u16, u16) {
        (self.start_port, self.end_port)
    }

    /// Whether the selector is IPv6.
    pub const fn is_ipv6(&self) -> bool {
        matches!(self.range, Range::V6(..))
    }

    /// Whether the selector covers every address of its family, every protocol and port.
    pub(crate) const fn is_any(&self) -> bool {
        let all_addresses = match self.range {
            Range::V4(s, e) => s == 0 && e == u32::MAX,
            Range::V6(s, e) => s == 0 && e == u128::MAX,
        };
        all_addresses && self.protocol == 0 && self.all_ports()
    }

    const fn all_ports(&self) -> bool {
        self.start_port == 0 && self.end_port == u16::MAX
    }

    /// Whether an address, protocol and port (`None` when not known, e.g. for ICMP or a
    /// non-initial fragment) fall in this selector.
    pub fn matches(&self, addr: IpAddr, protocol: u8, port: Option<u16>) -> bool {
        let addr = match addr {
            IpAddr::V4(a) => Address::V4(a.into()),
            IpAddr::V6(a) => Address::V6(a.into()),
        };
        self.matches_parts(addr, protocol, port)
    }

    #[inline]
    fn matches_parts(&self, addr: Address, protocol: u8, port: Option<u16>) -> bool {
        let addr_ok = match (self.range, addr) {
            (Range::V4(s, e), Address::V4(a)) => s <= a && a <= e,
            (Range::V6(s, e), Address::V6(a)) => s <= a && a <= e,
            _ => false,
        };
        let proto_ok = self.protocol == 0 || self.protocol == protocol;
        let port_ok = self.all_ports()
            || matches!(port, Some(p) if self.start_port <= p && p <= self.end_port);
        addr_ok && proto_ok && port_ok
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Address {
    V4(u32),
    V6(u128),
}

/// The minimal well-formedness check of an inner packet: an IPv4 (next header 4) or IPv6
/// (next header 41) header of the right version whose length field fits the data. Returns the
/// datagram's length and whether it is IPv6.
#[inline]
/// For a Child SA's two selector lists (either order): whether both admit every IPv4 packet
/// and whether both admit every IPv6 packet, so the per-packet check can be skipped for that
/// family. Empty lists are refused.
pub(crate) fn admits_whole_families(
    a: &[TrafficSelector],
    b: &[TrafficSelector],
) -> Result<(bool, bool), EspError> {
    if a.is_empty() || b.is_empty() {
        return Err(EspError::InvalidTrafficSelector("empty selector list"));
    }
    let admits_all = |ipv6: bool| {
        let any =
            |list: &[TrafficSelector]| list.iter().any(|ts| ts.is_any() && ts.is_ipv6() == ipv6);
        any(a) && any(b)
    };
    Ok((admits_all(false), admits_all(true)))
}

pub(crate) fn inner_header(next_header: u8, data: &[u8]) -> Option<(usize, bool)> {
    let first = *data.first()?;
    let len = usize::from(be16(
        data,
        if next_header == NEXT_HEADER_IPV6 {
            4
        } else {
            2
        },
    )?);
    match (next_header, first >> 4) {
        (NEXT_HEADER_IPV4, 4) => {
            let ihl = usize::from(first & 0x0f) * 4;
            (ihl >= 20 && len >= ihl && len <= data.len()).then_some((len, false))
        }
        (NEXT_HEADER_IPV6, 6) => {
            let total = len + 40;
            (total <= data.len()).then_some((total, true))
        }
        _ => None,
    }
}

/// What the traffic selector check needs from an inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InnerPacket {
    /// Length of the IP datagram (by its own length field; shorter than the decrypted data
    /// when the sender added TFC padding, RFC 4303 section 2.7).
    pub len: usize,
    src: Address,
    dst: Address,
    protocol: u8,
    src_port: Option<u16>,
    dst_port: Option<u16>,
}

impl InnerPacket {
    /// Parses the inner IP header minimally; `None` when it is not a well-formed IPv4 (next
    /// header 4) or IPv6 (next header 41) packet.
    pub(crate) fn parse(next_header: u8, data: &[u8]) -> Option<Self> {
        match next_header {
            NEXT_HEADER_IPV4 => Self::parse_ipv4(data),
            NEXT_HEADER_IPV6 => Self::parse_ipv6(data),
            _ => None,
        }
    }

    fn parse_ipv4(data: &[u8]) -> Option<Self> {
        let first = *data.first()?;
        if first >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(first & 0x0f) * 4;
        let total = usize::from(be16(data, 2)?);
        if ihl < 20 || total < ihl || total > data.len() {
            return None;
        }
        let frag_offset = be16(data, 6)? & 0x1fff;
        let protocol = *data.get(9)?;
        let src = Address::V4(be32(data, 12)?);
        let dst = Address::V4(be32(data, 16)?);
        let (src_port, dst_port) = if frag_offset == 0 {
            ports(protocol, data.get(ihl..total)?)
        } else {
            (None, None)
        };
        Some(Self {
            len: total,
            src,
            dst,
            protocol,
            src_port,
            dst_port,
        })
    }

    fn parse_ipv6(data: &[u8]) -> Option<Self> {
        const HEADER: usize = 40;
        let first = *data.first()?;
        if first >> 4 != 6 {
            return None;
        }
        let total = HEADER + usize::from(be16(data, 4)?);
        let packet = data.get(..total)?;
        let src = Address::V6(be128(packet, 8)?);
        let dst = Address::V6(be128(packet, 24)?);
        // Walk a bounded number of extension headers to the upper-layer protocol. A chain that
        // runs past the packet or is longer than 8 headers leaves protocol and ports unknown
        // (they match only selectors of any protocol and port).
        let mut next = *packet.get(6)?;
        let mut offset = HEADER;
        let mut ports_known = true;
        let mut walked = 0;
        loop {
            let step = match next {
                // Hop-by-Hop, Routing, Destination Options: (Hdr Ext Len + 1) * 8 bytes.
                0 | 43 | 60 => packet
                    .get(offset..offset + 2)
                    .map(|h| (h[0], (usize::from(h[1]) + 1) * 8)),
                // Fragment header: 8 bytes, offset in the high 13 bits of bytes 2-3.
                44 => packet.get(offset..offset + 8).map(|h| {
                    let frag_offset = u16::from_be_bytes([h[2], h[3]]) >> 3;
                    ports_known &= frag_offset == 0;
                    (h[0], 8)
                }),
                _ => break,
            };
            walked += 1;
            match step {
                Some((nh, len)) if walked <= 8 => {
                    next = nh;
                    offset += len;
                }
                _ => {
                    ports_known = false;
                    break;
                }
            }
        }
        let (src_port, dst_port) = match packet.get(offset..) {
            Some(upper) if ports_known => ports(next, upper),
            _ => (None, None),
        };
        Some(Self {
            len: total,
            src,
            dst,
            protocol: next,
            src_port,
            dst_port,
        })
    }

    /// RFC 4301 section 5.2: the inner source must fall in one of the remote (peer's)
    /// selectors, the inner destination in one of the local selectors.
    pub(crate) fn matches(&self, remote: &[TrafficSelector], local: &[TrafficSelector]) -> bool {
        remote
            .iter()
            .any(|ts| ts.matches_parts(self.src, self.protocol, self.src_port))
            && local
                .iter()
                .any(|ts| ts.matches_parts(self.dst, self.protocol, self.dst_port))
    }
}

fn ports(protocol: u8, upper: &[u8]) -> (Option<u16>, Option<u16>) {
    if protocol == IPPROTO_TCP || protocol == IPPROTO_UDP {
        (be16(upper, 0), be16(upper, 2))
    } else {
        (None, None)
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes(b.try_into().ok()?))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(b.try_into().ok()?))
}

fn be128(data: &[u8], at: usize) -> Option<u128> {
    let b = data.get(at..at.checked_add(16)?)?;
    Some(u128::from_be_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
        let mut p = vec![0u8; 28];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&28u16.to_be_bytes());
        p[8] = 64;
        p[9] = IPPROTO_UDP;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&dport.to_be_bytes());
        p[24..26].copy_from_slice(&8u16.to_be_bytes());
        p
    }

    #[test]
    fn prefix_ranges() {
        let ts = TrafficSelector::prefix("10.1.2.3".parse().unwrap(), 16).unwrap();
        assert_eq!(ts.start_address(), "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(ts.end_address(), "10.1.255.255".parse::<IpAddr>().unwrap());
        let ts = TrafficSelector::prefix("0.0.0.0".parse().unwrap(), 0).unwrap();
        assert_eq!(ts, TrafficSelector::ipv4_any());
        let ts = TrafficSelector::prefix("::".parse().unwrap(), 0).unwrap();
        assert_eq!(ts, TrafficSelector::ipv6_any());
        let ts = TrafficSelector::prefix("2001:db8::1".parse().unwrap(), 128).unwrap();
        assert_eq!(ts.start_address(), ts.end_address());
        assert!(TrafficSelector::prefix("1.2.3.4".parse().unwrap(), 33).is_err());
        assert!(TrafficSelector::ipv4_range([10, 0, 0, 2].into(), [10, 0, 0, 1].into()).is_err());
        assert!(TrafficSelector::ipv4_any().with_ports(10, 9).is_err());
        assert!(
            TrafficSelector::range("1.2.3.4".parse().unwrap(), "::1".parse().unwrap()).is_err()
        );
    }

    #[test]
    fn ipv4_ports_and_fragments() {
        let p = ipv4_udp([10, 0, 0, 1], [192, 168, 1, 1], 5000, 53);
        let inner = InnerPacket::parse(NEXT_HEADER_IPV4, &p).unwrap();
        assert_eq!(inner.len, 28);
        assert_eq!(inner_header(4, &p), Some((28, false)));
        assert_eq!(inner_header(41, &p), None);
        let dns = TrafficSelector::ipv4_any()
            .with_protocol(IPPROTO_UDP)
            .with_ports(53, 53)
            .unwrap();
        let any = TrafficSelector::ipv4_any();
        assert!(inner.matches(&[any], &[dns]));
        assert!(!inner.matches(&[dns], &[any]), "source port 5000 is not 53");
        // A non-initial fragment has no ports: only ANY-port selectors match.
        let mut frag = p.clone();
        frag[6..8].copy_from_slice(&100u16.to_be_bytes());
        let inner = InnerPacket::parse(NEXT_HEADER_IPV4, &frag).unwrap();
        assert!(!inner.matches(&[any], &[dns]));
        assert!(inner.matches(&[any], &[any.with_protocol(IPPROTO_UDP)]));
        // TFC padding after the datagram is tolerated and trimmed.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0; 10]);
        assert_eq!(InnerPacket::parse(4, &padded).unwrap().len, 28);
        // Malformed headers.
        assert!(
            InnerPacket::parse(41, &p).is_none(),
            "version 4 under next header 41"
        );
        assert!(InnerPacket::parse(4, &p[..19]).is_none());
        let mut bad = p.clone();
        bad[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert!(
            InnerPacket::parse(4, &bad).is_none(),
            "total length beyond data"
        );
        let mut bad = p.clone();
        bad[0] = 0x44;
        assert!(InnerPacket::parse(4, &bad).is_none(), "IHL below 5");
    }

    #[test]
    fn ipv6_with_extension_headers() {
        let mut p = vec![0u8; 40 + 8 + 8 + 8];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&24u16.to_be_bytes());
        p[6] = 0; // hop-by-hop
        p[8..24].copy_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        p[24..40].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        p[40] = 44; // -> fragment
        p[41] = 0;
        p[48] = IPPROTO_TCP; // fragment -> TCP, offset 0
        p[56..58].copy_from_slice(&443u16.to_be_bytes());
        p[58..60].copy_from_slice(&40000u16.to_be_bytes());
        let inner = InnerPacket::parse(NEXT_HEADER_IPV6, &p).unwrap();
        assert_eq!(inner.len, 64);
        assert_eq!(inner.protocol, IPPROTO_TCP);
        assert_eq!((inner.src_port, inner.dst_port), (Some(443), Some(40000)));
        let https = TrafficSelector::ipv6_any()
            .with_protocol(IPPROTO_TCP)
            .with_ports(443, 443)
            .unwrap();
        assert!(inner.matches(&[https], &[TrafficSelector::ipv6_any()]));
        assert!(!inner.matches(
            &[TrafficSelector::ipv4_any()],
            &[TrafficSelector::ipv6_any()]
        ));
        // A truncated extension header chain leaves protocol and ports unknown.
        let mut short = p[..48].to_vec();
        short[4..6].copy_from_slice(&8u16.to_be_bytes());
        let inner = InnerPacket::parse(41, &short).unwrap();
        assert_eq!((inner.protocol, inner.src_port), (44, None));
        assert!(inner.matches(
            &[TrafficSelector::ipv6_any()],
            &[TrafficSelector::ipv6_any()]
        ));
        assert!(!inner.matches(&[https], &[TrafficSelector::ipv6_any()]));
        assert_eq!(inner_header(41, &short), Some((48, true)));
        // A chain ending in "no next header" has no ports.
        short[40] = 59;
        let inner = InnerPacket::parse(41, &short).unwrap();
        assert_eq!((inner.protocol, inner.src_port), (59, None));
    }
}
