//! IPv4 prefixes as carried in the NLRI and Withdrawn Routes fields (RFC 4271 4.3).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use thiserror::Error;

/// An IPv4 prefix: an address and a length of 0 to 32 bits, with the bits past the length
/// always zero (so two prefixes are equal exactly when they cover the same addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

/// Why a prefix could not be made or parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrefixError {
    /// The length is over 32.
    #[error("prefix length {0} is over 32")]
    LengthTooLong(u8),
    /// The text is not `a.b.c.d/len` (or a bare address).
    #[error("not an IPv4 prefix: {0:?}")]
    Syntax(String),
}

impl Ipv4Prefix {
    /// The prefix of `len` bits of `addr`; bits of `addr` past `len` are cleared.
    pub fn new(addr: Ipv4Addr, len: u8) -> Result<Self, PrefixError> {
        if len > 32 {
            return Err(PrefixError::LengthTooLong(len));
        }
        Ok(Self {
            addr: Ipv4Addr::from(u32::from(addr) & mask(len)),
            len,
        })
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route 0.0.0.0/0 (the only prefix with no bits).
    pub fn is_default(&self) -> bool {
        self.len == 0
    }

    /// Whether `addr` is inside this prefix.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & mask(self.len) == u32::from(self.addr)
    }

    /// Octets this prefix takes in an NLRI field: one length octet and the significant
    /// octets of the address.
    pub fn encoded_len(&self) -> usize {
        1 + usize::from(self.len).div_ceil(8)
    }

    /// Appends the NLRI encoding: length in bits, then the fewest octets that hold them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.len);
        out.extend_from_slice(&self.addr.octets()[..usize::from(self.len).div_ceil(8)]);
    }

    /// Parses one prefix from the front of `buf`; returns it and the octets used.
    /// Trailing bits past the length are ignored (RFC 4271 4.3: "irrelevant").
    pub fn decode(buf: &[u8]) -> Result<(Self, usize), NlriError> {
        let (&len, rest) = buf.split_first().ok_or(NlriError::Truncated)?;
        if len > 32 {
            return Err(NlriError::LengthTooLong(len));
        }
        let n = usize::from(len).div_ceil(8);
        let bytes = rest.get(..n).ok_or(NlriError::Truncated)?;
        let mut octets = [0u8; 4];
        octets[..n].copy_from_slice(bytes);
        let prefix =
            Self::new(Ipv4Addr::from(octets), len).map_err(|_| NlriError::LengthTooLong(len))?;
        Ok((prefix, 1 + n))
    }

    /// Parses a whole NLRI or Withdrawn Routes field.
    pub fn decode_all(mut buf: &[u8]) -> Result<Vec<Self>, NlriError> {
        // Every prefix takes at least one octet, so this never over-allocates.
        let mut out = Vec::with_capacity(buf.len().min(64));
        while !buf.is_empty() {
            let (p, used) = Self::decode(buf)?;
            out.push(p);
            buf = &buf[used..];
        }
        Ok(out)
    }
}

/// A syntax error in an NLRI or Withdrawn Routes field (RFC 7606 5.3: the session must be
/// reset, since the prefixes cannot be located).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NlriError {
    /// A prefix length over 32.
    #[error("prefix length {0} is over 32")]
    LengthTooLong(u8),
    /// The field ends inside a prefix.
    #[error("the field ends inside a prefix")]
    Truncated,
}

fn mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l => u32::MAX << (32 - u32::from(l.min(32))),
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Ipv4Prefix {
    type Err = PrefixError;

    /// Parses `a.b.c.d/len`; a bare address is a /32.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PrefixError::Syntax(s.to_string());
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, l.parse::<u8>().map_err(|_| bad())?),
            None => (s, 32),
        };
        Self::new(addr.parse().map_err(|_| bad())?, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_host_bits() {
        let p = Ipv4Prefix::new(Ipv4Addr::new(10, 1, 2, 3), 8).unwrap();
        assert_eq!(p.to_string(), "10.0.0.0/8");
        assert_eq!(p, "10.9.9.9/8".parse().unwrap());
        assert!(p.contains(Ipv4Addr::new(10, 255, 0, 1)));
        assert!(!p.contains(Ipv4Addr::new(11, 0, 0, 1)));
        assert_eq!("0.0.0.0/0".parse::<Ipv4Prefix>().unwrap().prefix_len(), 0);
        assert!("1.2.3.4/33".parse::<Ipv4Prefix>().is_err());
        assert!("1.2.3/8".parse::<Ipv4Prefix>().is_err());
    }

    #[test]
    fn nlri_encoding() {
        let mut out = Vec::new();
        for s in ["0.0.0.0/0", "10.0.0.0/8", "172.16.0.0/12", "192.0.2.1/32"] {
            s.parse::<Ipv4Prefix>().unwrap().encode(&mut out);
        }
        assert_eq!(hex::encode(&out), "00080a0cac1020c0000201");
        let back = Ipv4Prefix::decode_all(&out).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back[2].to_string(), "172.16.0.0/12");
        assert_eq!(
            Ipv4Prefix::decode(&[33, 1, 2, 3, 4, 5]),
            Err(NlriError::LengthTooLong(33))
        );
        assert_eq!(Ipv4Prefix::decode(&[24, 10, 0]), Err(NlriError::Truncated));
        // Trailing bits are irrelevant.
        assert_eq!(
            Ipv4Prefix::decode(&[9, 10, 0x7f]).unwrap().0.to_string(),
            "10.0.0.0/9"
        );
    }
}
