use crate::reader::Reader;
use crate::WireError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Traffic selector types (RFC 7296 3.13.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsType(pub u8);

impl TsType {
    /// TS_IPV4_ADDR_RANGE.
    pub const IPV4_ADDR_RANGE: TsType = TsType(7);
    /// TS_IPV6_ADDR_RANGE.
    pub const IPV6_ADDR_RANGE: TsType = TsType(8);
}

const MAX_SELECTORS: usize = 64;

/// One traffic selector: an address range, an IP protocol (0 = any) and a port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrafficSelector {
    /// IP protocol ID, 0 for any.
    pub ip_protocol: u8,
    /// First port (0 with `end_port` 65535 for any).
    pub start_port: u16,
    /// Last port.
    pub end_port: u16,
    /// First address.
    pub start_addr: IpAddr,
    /// Last address (same family as `start_addr`).
    pub end_addr: IpAddr,
}

impl TrafficSelector {
    /// 0.0.0.0/0, any protocol, any port: what AWS uses by default.
    pub const IPV4_ANY: TrafficSelector = TrafficSelector {
        ip_protocol: 0,
        start_port: 0,
        end_port: 65535,
        start_addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        end_addr: IpAddr::V4(Ipv4Addr::BROADCAST),
    };

    /// An IPv4 prefix, any protocol and port.
    pub fn ipv4_prefix(addr: Ipv4Addr, prefix_len: u8) -> Self {
        let bits = u32::from(addr);
        let mask = if prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - prefix_len.min(32) as u32)
        };
        Self {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start_addr: IpAddr::V4(Ipv4Addr::from(bits & mask)),
            end_addr: IpAddr::V4(Ipv4Addr::from(bits | !mask)),
        }
    }

    /// The TS type of this selector's address family.
    pub fn ts_type(&self) -> TsType {
        match self.start_addr {
            IpAddr::V4(_) => TsType::IPV4_ADDR_RANGE,
            IpAddr::V6(_) => TsType::IPV6_ADDR_RANGE,
        }
    }

    /// The intersection of two selectors (RFC 7296 2.9 narrowing), if not empty.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        let ip_protocol = match (self.ip_protocol, other.ip_protocol) {
            (0, p) | (p, 0) => p,
            (a, b) if a == b => a,
            _ => return None,
        };
        let start_port = self.start_port.max(other.start_port);
        let end_port = self.end_port.min(other.end_port);
        if start_port > end_port {
            return None;
        }
        let (start_addr, end_addr) = match (
            self.start_addr,
            self.end_addr,
            other.start_addr,
            other.end_addr,
        ) {
            (IpAddr::V4(a1), IpAddr::V4(a2), IpAddr::V4(b1), IpAddr::V4(b2)) => {
                let s = a1.max(b1);
                let e = a2.min(b2);
                if s > e {
                    return None;
                }
                (IpAddr::V4(s), IpAddr::V4(e))
            }
            (IpAddr::V6(a1), IpAddr::V6(a2), IpAddr::V6(b1), IpAddr::V6(b2)) => {
                let s = a1.max(b1);
                let e = a2.min(b2);
                if s > e {
                    return None;
                }
                (IpAddr::V6(s), IpAddr::V6(e))
            }
            _ => return None,
        };
        Some(Self {
            ip_protocol,
            start_port,
            end_port,
            start_addr,
            end_addr,
        })
    }

    /// Whether `self` contains all of `other`.
    pub fn contains(&self, other: &Self) -> bool {
        self.intersect(other).as_ref() == Some(other)
    }

    pub(crate) fn parse_list(body: &[u8]) -> Result<Vec<Self>, WireError> {
        let mut r = Reader::new(body);
        let n = r.u8("TS payload")? as usize;
        r.take(3, "TS payload")?;
        if n == 0 {
            return Err(WireError::Invalid("TS payload with no selectors"));
        }
        if n > MAX_SELECTORS {
            return Err(WireError::TooMany("traffic selectors"));
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let ts_type = TsType(r.u8("traffic selector")?);
            let ip_protocol = r.u8("traffic selector")?;
            let len = r.u16("traffic selector")? as usize;
            let start_port = r.u16("traffic selector")?;
            let end_port = r.u16("traffic selector")?;
            let (start_addr, end_addr) = match ts_type {
                TsType::IPV4_ADDR_RANGE => {
                    if len != 16 {
                        return Err(WireError::BadLength("IPv4 traffic selector"));
                    }
                    (
                        IpAddr::V4(Ipv4Addr::from(r.array::<4>("traffic selector")?)),
                        IpAddr::V4(Ipv4Addr::from(r.array::<4>("traffic selector")?)),
                    )
                }
                TsType::IPV6_ADDR_RANGE => {
                    if len != 40 {
                        return Err(WireError::BadLength("IPv6 traffic selector"));
                    }
                    (
                        IpAddr::V6(Ipv6Addr::from(r.array::<16>("traffic selector")?)),
                        IpAddr::V6(Ipv6Addr::from(r.array::<16>("traffic selector")?)),
                    )
                }
                _ => return Err(WireError::Invalid("traffic selector type")),
            };
            out.push(Self {
                ip_protocol,
                start_port,
                end_port,
                start_addr,
                end_addr,
            });
        }
        if !r.is_empty() {
            return Err(WireError::TrailingData("TS payload"));
        }
        Ok(out)
    }

    pub(crate) fn emit_list(list: &[Self], out: &mut Vec<u8>) {
        out.push(list.len() as u8);
        out.extend_from_slice(&[0, 0, 0]);
        for ts in list {
            out.push(ts.ts_type().0);
            out.push(ts.ip_protocol);
            let len: u16 = if ts.ts_type() == TsType::IPV4_ADDR_RANGE {
                16
            } else {
                40
            };
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&ts.start_port.to_be_bytes());
            out.extend_from_slice(&ts.end_port.to_be_bytes());
            for a in [ts.start_addr, ts.end_addr] {
                match a {
                    IpAddr::V4(v) => out.extend_from_slice(&v.octets()),
                    IpAddr::V6(v) => out.extend_from_slice(&v.octets()),
                }
            }
        }
    }
}

impl std::fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.start_addr, self.end_addr)?;
        if self.ip_protocol != 0 {
            write!(f, " proto {}", self.ip_protocol)?;
        }
        if (self.start_port, self.end_port) != (0, 65535) {
            write!(f, " ports {}-{}", self.start_port, self.end_port)?;
        }
        Ok(())
    }
}
