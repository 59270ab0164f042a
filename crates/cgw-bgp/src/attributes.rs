//! UPDATE path attributes (RFC 4271 4.3 and 5, RFC 6793 for 4-octet AS numbers) and their
//! revised error handling (RFC 7606).

use crate::message::{DecodeError, EncodeError, WireOptions};
use crate::AS_TRANS;
use std::fmt;
use std::net::Ipv4Addr;
use thiserror::Error;

/// Attribute Type Codes (RFC 4271 4.3, RFC 4760, RFC 6793).
pub mod attribute_type {
    /// ORIGIN (well-known mandatory).
    pub const ORIGIN: u8 = 1;
    /// AS_PATH (well-known mandatory).
    pub const AS_PATH: u8 = 2;
    /// NEXT_HOP (well-known mandatory).
    pub const NEXT_HOP: u8 = 3;
    /// MULTI_EXIT_DISC (optional non-transitive).
    pub const MULTI_EXIT_DISC: u8 = 4;
    /// LOCAL_PREF (well-known, internal peers only).
    pub const LOCAL_PREF: u8 = 5;
    /// ATOMIC_AGGREGATE (well-known discretionary).
    pub const ATOMIC_AGGREGATE: u8 = 6;
    /// AGGREGATOR (optional transitive).
    pub const AGGREGATOR: u8 = 7;
    /// MP_REACH_NLRI (optional non-transitive, RFC 4760).
    pub const MP_REACH_NLRI: u8 = 14;
    /// MP_UNREACH_NLRI (optional non-transitive, RFC 4760).
    pub const MP_UNREACH_NLRI: u8 = 15;
    /// AS4_PATH (optional transitive, RFC 6793).
    pub const AS4_PATH: u8 = 17;
    /// AS4_AGGREGATOR (optional transitive, RFC 6793).
    pub const AS4_AGGREGATOR: u8 = 18;
}

/// Bits of the Attribute Flags octet (RFC 4271 4.3). The low four bits are unused: sent as
/// zero, ignored on receipt.
pub mod attribute_flags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive (1) or non-transitive (0); always 1 for well-known attributes.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: some speaker on the path did not recognise this optional transitive attribute.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: the Attribute Length is two octets.
    pub const EXTENDED_LENGTH: u8 = 0x10;
}

use attribute_flags::*;
use attribute_type::*;

/// The name an RFC gives an attribute type, or "unknown".
pub fn attribute_name(type_code: u8) -> &'static str {
    match type_code {
        ORIGIN => "ORIGIN",
        AS_PATH => "AS_PATH",
        NEXT_HOP => "NEXT_HOP",
        MULTI_EXIT_DISC => "MULTI_EXIT_DISC",
        LOCAL_PREF => "LOCAL_PREF",
        ATOMIC_AGGREGATE => "ATOMIC_AGGREGATE",
        AGGREGATOR => "AGGREGATOR",
        8 => "COMMUNITIES",
        MP_REACH_NLRI => "MP_REACH_NLRI",
        MP_UNREACH_NLRI => "MP_UNREACH_NLRI",
        16 => "EXTENDED COMMUNITIES",
        AS4_PATH => "AS4_PATH",
        AS4_AGGREGATOR => "AS4_AGGREGATOR",
        32 => "LARGE_COMMUNITY",
        _ => "unknown",
    }
}

/// ORIGIN (RFC 4271 5.1.1); lower is preferred in route selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// Learned from an interior protocol (or configured): 0.
    Igp = 0,
    /// Learned through EGP: 1.
    Egp = 1,
    /// Learned some other way (redistribution): 2.
    Incomplete = 2,
}

impl Origin {
    /// The ORIGIN value for `v`, if defined.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Igp),
            1 => Some(Self::Egp),
            2 => Some(Self::Incomplete),
            _ => None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Igp => "IGP",
            Self::Egp => "EGP",
            Self::Incomplete => "incomplete",
        })
    }
}

/// Path segment types (RFC 4271 4.3; the confederation types of RFC 5065 are not accepted
/// from our external peers and are treated as malformed).
pub mod segment_type {
    /// AS_SET: unordered set of ASes a route in the UPDATE has traversed.
    pub const AS_SET: u8 = 1;
    /// AS_SEQUENCE: ordered set of ASes a route in the UPDATE has traversed.
    pub const AS_SEQUENCE: u8 = 2;
}

/// One AS_PATH segment. Never empty when decoded (an empty segment is malformed, RFC 7606 7.2);
/// empty segments are skipped when encoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsPathSegment {
    /// AS_SET.
    Set(Vec<u32>),
    /// AS_SEQUENCE, nearest AS first.
    Sequence(Vec<u32>),
}

impl AsPathSegment {
    /// The ASes of the segment.
    pub fn asns(&self) -> &[u32] {
        match self {
            Self::Set(v) | Self::Sequence(v) => v,
        }
    }
}

/// AS_PATH (RFC 4271 5.1.2), always held with 4-octet AS numbers; the codec converts to and
/// from the 2-octet form with AS_TRANS and AS4_PATH (RFC 6793) when the session needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AsPath {
    /// The segments, nearest first.
    pub segments: Vec<AsPathSegment>,
}

impl AsPath {
    /// An empty path (a route originated inside our AS, before it is sent to a neighbour).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A path of one AS_SEQUENCE.
    pub fn from_sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let v: Vec<u32> = asns.into_iter().collect();
        if v.is_empty() {
            return Self::empty();
        }
        Self {
            segments: vec![AsPathSegment::Sequence(v)],
        }
    }

    /// The length used in route selection (RFC 4271 9.1.2.2 a): each AS of an AS_SEQUENCE
    /// counts one, an AS_SET counts one however many ASes it holds.
    pub fn path_length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                AsPathSegment::Set(v) => usize::from(!v.is_empty()),
                AsPathSegment::Sequence(v) => v.len(),
            })
            .sum()
    }

    /// The neighbouring AS: the first AS of the path when it starts with an AS_SEQUENCE
    /// (RFC 4271 9.1.2.2 c), `None` for an empty path or one that starts with an AS_SET.
    pub fn neighbor_as(&self) -> Option<u32> {
        match self.segments.first()? {
            AsPathSegment::Sequence(v) => v.first().copied(),
            AsPathSegment::Set(_) => None,
        }
    }

    /// Whether `asn` appears anywhere in the path (loop detection).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns().contains(&asn))
    }

    /// Puts `asn` in front `count` times (RFC 4271 5.1.2 b: into the leading AS_SEQUENCE,
    /// or a new one if the path is empty or starts with an AS_SET or the first is full).
    pub fn prepend(&mut self, asn: u32, count: usize) {
        for _ in 0..count {
            match self.segments.first_mut() {
                Some(AsPathSegment::Sequence(v)) if v.len() < 255 => v.insert(0, asn),
                _ => self.segments.insert(0, AsPathSegment::Sequence(vec![asn])),
            }
        }
    }

    /// Whether any AS needs four octets.
    fn needs_four_octets(&self) -> bool {
        self.segments
            .iter()
            .any(|s| s.asns().iter().any(|&a| a > 0xFFFF))
    }

    /// Appends the attribute value with 2- or 4-octet ASes (in 2-octet form, ASes above
    /// 65535 become AS_TRANS). Segments over 255 ASes are split.
    fn encode(&self, four: bool, out: &mut Vec<u8>) {
        for seg in &self.segments {
            let (ty, asns) = match seg {
                AsPathSegment::Set(v) => (segment_type::AS_SET, v),
                AsPathSegment::Sequence(v) => (segment_type::AS_SEQUENCE, v),
            };
            for chunk in asns.chunks(255) {
                out.push(ty);
                out.push(chunk.len() as u8);
                for &a in chunk {
                    if four {
                        out.extend_from_slice(&a.to_be_bytes());
                    } else {
                        let a = u16::try_from(a).unwrap_or(AS_TRANS as u16);
                        out.extend_from_slice(&a.to_be_bytes());
                    }
                }
            }
        }
    }

    /// Parses an AS_PATH or AS4_PATH value. `None` if malformed (RFC 7606 7.2: unknown segment
    /// type, empty segment, overrun, or a single octet left over).
    fn decode(mut v: &[u8], four: bool) -> Option<Self> {
        let width = if four { 4 } else { 2 };
        let mut segments = Vec::new();
        while !v.is_empty() {
            let (&ty, rest) = v.split_first()?;
            let (&n, rest) = rest.split_first()?;
            if n == 0 {
                return None;
            }
            let body = rest.get(..usize::from(n) * width)?;
            let asns = body
                .chunks_exact(width)
                .map(|c| {
                    if four {
                        u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                    } else {
                        u32::from(u16::from_be_bytes([c[0], c[1]]))
                    }
                })
                .collect();
            segments.push(match ty {
                segment_type::AS_SET => AsPathSegment::Set(asns),
                segment_type::AS_SEQUENCE => AsPathSegment::Sequence(asns),
                _ => return None,
            });
            v = &rest[body.len()..];
        }
        Some(Self { segments })
    }

    /// Reconstructs the path from AS_PATH and AS4_PATH received from a 2-octet speaker
    /// (RFC 6793 4.2.3): the leading (n - m) ASes of AS_PATH, then AS4_PATH, where n and m
    /// are their path lengths; AS4_PATH is ignored when it is the longer.
    fn merge_as4(&self, as4: &AsPath) -> AsPath {
        let n = self.path_length();
        let m = as4.path_length();
        if m > n {
            return self.clone();
        }
        let mut keep = n - m;
        let mut segments = Vec::new();
        for seg in &self.segments {
            if keep == 0 {
                break;
            }
            match seg {
                AsPathSegment::Set(v) => {
                    segments.push(AsPathSegment::Set(v.clone()));
                    keep -= 1;
                }
                AsPathSegment::Sequence(v) => {
                    let take = keep.min(v.len());
                    segments.push(AsPathSegment::Sequence(v[..take].to_vec()));
                    keep -= take;
                }
            }
        }
        // Join the sequences on either side of the seam.
        let mut rest = as4.segments.iter();
        if let (Some(AsPathSegment::Sequence(v)), Some(AsPathSegment::Sequence(w))) =
            (segments.last_mut(), as4.segments.first())
        {
            v.extend_from_slice(w);
            rest.next();
        }
        segments.extend(rest.cloned());
        AsPath { segments }
    }
}

impl fmt::Display for AsPath {
    /// `64512 65000 {1 2}`, the way routers show paths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let list = seg
                .asns()
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ");
            match seg {
                AsPathSegment::Set(_) => write!(f, "{{{list}}}")?,
                AsPathSegment::Sequence(_) => f.write_str(&list)?,
            }
        }
        Ok(())
    }
}

/// AGGREGATOR (RFC 4271 5.1.7), with a 4-octet AS number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Aggregator {
    /// The AS of the speaker that aggregated.
    pub asn: u32,
    /// Its IP address (BGP identifier).
    pub address: Ipv4Addr,
}

/// An optional attribute this implementation does not recognise, kept to be passed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute Flags, without Extended Length (the encoder chooses it) and with the low
    /// four bits clear. Received unknown optional transitive attributes have Partial set
    /// (RFC 4271 5: "the Partial bit ... set to 1").
    pub flags: u8,
    /// Attribute Type Code.
    pub type_code: u8,
    /// Attribute value.
    pub value: Vec<u8>,
}

/// The path attributes of a route: the mandatory ones, the ones we use, and the unknown
/// optional transitive ones to pass on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttributes {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH (with 4-octet ASes; AS4_PATH already merged in).
    pub as_path: AsPath,
    /// NEXT_HOP.
    pub next_hop: Ipv4Addr,
    /// MULTI_EXIT_DISC.
    pub multi_exit_disc: Option<u32>,
    /// LOCAL_PREF (only exchanged with internal peers; ignored from external ones).
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (AS4_AGGREGATOR already merged in).
    pub aggregator: Option<Aggregator>,
    /// Unrecognised optional transitive attributes, in the order received.
    pub unknown: Vec<RawAttribute>,
}

impl PathAttributes {
    /// The mandatory attributes and nothing else.
    pub fn new(origin: Origin, as_path: AsPath, next_hop: Ipv4Addr) -> Self {
        Self {
            origin,
            as_path,
            next_hop,
            multi_exit_disc: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            unknown: Vec::new(),
        }
    }

    /// Appends the Path Attributes field, attributes in ascending type order.
    pub(crate) fn encode(&self, opts: &WireOptions, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut attrs: Vec<(u8, u8, Vec<u8>)> = Vec::with_capacity(8 + self.unknown.len());
        attrs.push((TRANSITIVE, ORIGIN, vec![self.origin as u8]));
        let mut path = Vec::new();
        self.as_path.encode(opts.four_octet_as, &mut path);
        attrs.push((TRANSITIVE, AS_PATH, path));
        attrs.push((TRANSITIVE, NEXT_HOP, self.next_hop.octets().to_vec()));
        if let Some(med) = self.multi_exit_disc {
            attrs.push((OPTIONAL, MULTI_EXIT_DISC, med.to_be_bytes().to_vec()));
        }
        if let Some(lp) = self.local_pref {
            attrs.push((TRANSITIVE, LOCAL_PREF, lp.to_be_bytes().to_vec()));
        }
        if self.atomic_aggregate {
            attrs.push((TRANSITIVE, ATOMIC_AGGREGATE, Vec::new()));
        }
        if let Some(agg) = self.aggregator {
            let mut v = Vec::with_capacity(8);
            if opts.four_octet_as {
                v.extend_from_slice(&agg.asn.to_be_bytes());
            } else {
                let two = u16::try_from(agg.asn).unwrap_or(AS_TRANS as u16);
                v.extend_from_slice(&two.to_be_bytes());
            }
            v.extend_from_slice(&agg.address.octets());
            attrs.push((OPTIONAL | TRANSITIVE, AGGREGATOR, v));
            if !opts.four_octet_as && agg.asn > 0xFFFF {
                let mut v = agg.asn.to_be_bytes().to_vec();
                v.extend_from_slice(&agg.address.octets());
                attrs.push((OPTIONAL | TRANSITIVE, AS4_AGGREGATOR, v));
            }
        }
        if !opts.four_octet_as && self.as_path.needs_four_octets() {
            let mut v = Vec::new();
            self.as_path.encode(true, &mut v);
            attrs.push((OPTIONAL | TRANSITIVE, AS4_PATH, v));
        }
        for raw in &self.unknown {
            attrs.push((raw.flags, raw.type_code, raw.value.clone()));
        }
        attrs.sort_by_key(|a| a.1);
        for (flags, ty, value) in attrs {
            let flags = flags & 0xE0;
            if value.len() > 0xFF {
                let len =
                    u16::try_from(value.len()).map_err(|_| EncodeError::AttributeTooLong {
                        type_code: ty,
                        length: value.len(),
                    })?;
                out.extend_from_slice(&[flags | EXTENDED_LENGTH, ty]);
                out.extend_from_slice(&len.to_be_bytes());
            } else {
                out.extend_from_slice(&[flags, ty, value.len() as u8]);
            }
            out.extend_from_slice(&value);
        }
        Ok(())
    }
}

/// What RFC 7606 says to do about a malformed attribute that does not require a session reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// "Treat-as-withdraw": the UPDATE's NLRI are handled as if listed in Withdrawn Routes.
    TreatAsWithdraw,
    /// "Attribute discard": the attribute is dropped and the UPDATE is otherwise used.
    AttributeDiscard,
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TreatAsWithdraw => "treat-as-withdraw",
            Self::AttributeDiscard => "attribute discard",
        })
    }
}

/// What was wrong with an attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeProblem {
    /// The Optional or Transitive flag contradicts the attribute's definition (RFC 7606 3 c).
    FlagsConflict {
        /// The flags received.
        flags: u8,
    },
    /// The length is wrong for the attribute.
    LengthError {
        /// The Attribute Length received.
        length: usize,
    },
    /// An ORIGIN value other than 0, 1, 2.
    InvalidOrigin(u8),
    /// An AS_PATH (or AS4_PATH) that does not parse, or from an external peer that does not
    /// start with the peer's AS.
    MalformedAsPath,
    /// A NEXT_HOP that is not a usable unicast address (or is ours).
    InvalidNextHop(Ipv4Addr),
    /// A second occurrence of the attribute (RFC 7606 3 g).
    Duplicate,
    /// A well-known mandatory attribute is missing although there are NLRI (RFC 7606 3 d).
    Missing,
    /// The attribute header or value runs past the Total Path Attribute Length (RFC 7606 4).
    Overrun,
}

impl fmt::Display for AttributeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FlagsConflict { flags } => write!(f, "wrong attribute flags {flags:#04x}"),
            Self::LengthError { length } => write!(f, "wrong attribute length {length}"),
            Self::InvalidOrigin(v) => write!(f, "undefined ORIGIN value {v}"),
            Self::MalformedAsPath => f.write_str("malformed AS_PATH"),
            Self::InvalidNextHop(a) => write!(f, "invalid NEXT_HOP {a}"),
            Self::Duplicate => f.write_str("repeated attribute"),
            Self::Missing => f.write_str("missing well-known mandatory attribute"),
            Self::Overrun => f.write_str("attribute overruns the path attributes field"),
        }
    }
}

/// A malformed attribute that RFC 7606 handles without resetting the session.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{problem} in {} (type {type_code}): {action}", attribute_name(*type_code))]
pub struct AttributeError {
    /// The attribute's type code (0 when an attribute header itself was cut short).
    pub type_code: u8,
    /// What was wrong.
    pub problem: AttributeProblem,
    /// What was done about it.
    pub action: ErrorAction,
}

/// The outcome of decoding a Path Attributes field.
#[derive(Debug, Default)]
pub(crate) struct DecodedAttributes {
    /// Complete attributes, unless treat-as-withdraw applies or a mandatory one is missing.
    pub attributes: Option<PathAttributes>,
    /// The RFC 7606 errors found.
    pub errors: Vec<AttributeError>,
}

/// Whether `a` may be a NEXT_HOP: a unicast host address (RFC 4271 6.3).
fn valid_next_hop(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.octets()[0] >= 240)
}

fn be32(v: &[u8]) -> u32 {
    u32::from_be_bytes([v[0], v[1], v[2], v[3]])
}

/// Decodes a Path Attributes field. `nlri_present`: whether the UPDATE carries NLRI (only then
/// are missing mandatory attributes an error). Errors that need a session reset come back as
/// `Err`; the others are listed in the result.
pub(crate) fn decode_path_attributes(
    mut buf: &[u8],
    opts: &WireOptions,
    nlri_present: bool,
) -> Result<DecodedAttributes, DecodeError> {
    let mut errors = Vec::new();
    let mut seen = [false; 256];
    let mut origin = None;
    let mut as_path = None;
    let mut next_hop = None;
    let mut med = None;
    let mut local_pref = None;
    let mut atomic_aggregate = false;
    let mut aggregator = None;
    let mut as4_path = None;
    let mut as4_aggregator = None;
    let mut unknown = Vec::new();
    let mut err = |type_code, problem, action| {
        errors.push(AttributeError {
            type_code,
            problem,
            action,
        })
    };
    use ErrorAction::{AttributeDiscard as Discard, TreatAsWithdraw as Withdraw};

    while !buf.is_empty() {
        let (flags, ty) = match buf {
            [flags, ty, ..] => (*flags, *ty),
            _ => {
                err(0, AttributeProblem::Overrun, Withdraw);
                break;
            }
        };
        let (len, header) = if flags & EXTENDED_LENGTH != 0 {
            match buf.get(2..4) {
                Some(l) => (usize::from(u16::from_be_bytes([l[0], l[1]])), 4),
                None => {
                    err(ty, AttributeProblem::Overrun, Withdraw);
                    break;
                }
            }
        } else {
            match buf.get(2) {
                Some(&l) => (usize::from(l), 3),
                None => {
                    err(ty, AttributeProblem::Overrun, Withdraw);
                    break;
                }
            }
        };
        let Some(value) = buf.get(header..header + len) else {
            err(ty, AttributeProblem::Overrun, Withdraw);
            break;
        };
        let whole = &buf[..header + len];
        buf = &buf[header + len..];

        if seen[usize::from(ty)] {
            if ty == MP_REACH_NLRI || ty == MP_UNREACH_NLRI {
                return Err(DecodeError::MalformedAttributeList {
                    reason: "MP_REACH_NLRI or MP_UNREACH_NLRI repeated",
                });
            }
            err(ty, AttributeProblem::Duplicate, Discard);
            continue;
        }
        seen[usize::from(ty)] = true;

        // The Optional and Transitive bits each attribute must have.
        let expected = match ty {
            ORIGIN | AS_PATH | NEXT_HOP | LOCAL_PREF | ATOMIC_AGGREGATE => Some(TRANSITIVE),
            MULTI_EXIT_DISC | MP_REACH_NLRI | MP_UNREACH_NLRI => Some(OPTIONAL),
            AGGREGATOR | AS4_PATH | AS4_AGGREGATOR => Some(OPTIONAL | TRANSITIVE),
            _ => None,
        };
        let flags_ok = expected.is_none_or(|e| flags & (OPTIONAL | TRANSITIVE) == e);
        let flags_bad = AttributeProblem::FlagsConflict { flags };
        let len_bad = AttributeProblem::LengthError { length: len };

        match ty {
            ORIGIN => {
                if !flags_ok {
                    err(ty, flags_bad, Withdraw);
                } else if len != 1 {
                    err(ty, len_bad, Withdraw);
                } else {
                    match Origin::from_u8(value[0]) {
                        Some(o) => origin = Some(o),
                        None => err(ty, AttributeProblem::InvalidOrigin(value[0]), Withdraw),
                    }
                }
            }
            AS_PATH => {
                if !flags_ok {
                    err(ty, flags_bad, Withdraw);
                } else {
                    match AsPath::decode(value, opts.four_octet_as) {
                        Some(p) => as_path = Some(p),
                        None => err(ty, AttributeProblem::MalformedAsPath, Withdraw),
                    }
                }
            }
            NEXT_HOP => {
                if !flags_ok {
                    err(ty, flags_bad, Withdraw);
                } else if len != 4 {
                    err(ty, len_bad, Withdraw);
                } else {
                    let a = Ipv4Addr::from(be32(value));
                    if valid_next_hop(a) {
                        next_hop = Some(a);
                    } else {
                        err(ty, AttributeProblem::InvalidNextHop(a), Withdraw);
                    }
                }
            }
            MULTI_EXIT_DISC => {
                if !flags_ok {
                    err(ty, flags_bad, Withdraw);
                } else if len != 4 {
                    err(ty, len_bad, Withdraw);
                } else {
                    med = Some(be32(value));
                }
            }
            // RFC 7606 7.5: from an external neighbour it is disregarded altogether.
            LOCAL_PREF if opts.external_peer => {}
            LOCAL_PREF => {
                if !flags_ok {
                    err(ty, flags_bad, Withdraw);
                } else if len != 4 {
                    err(ty, len_bad, Withdraw);
                } else {
                    local_pref = Some(be32(value));
                }
            }
            ATOMIC_AGGREGATE => {
                if !flags_ok {
                    err(ty, flags_bad, Discard);
                } else if len != 0 {
                    err(ty, len_bad, Discard);
                } else {
                    atomic_aggregate = true;
                }
            }
            AGGREGATOR => {
                let want = if opts.four_octet_as { 8 } else { 6 };
                if !flags_ok {
                    err(ty, flags_bad, Discard);
                } else if len != want {
                    err(ty, len_bad, Discard);
                } else {
                    let (asn, addr) = if opts.four_octet_as {
                        (be32(value), be32(&value[4..]))
                    } else {
                        (
                            u32::from(u16::from_be_bytes([value[0], value[1]])),
                            be32(&value[2..]),
                        )
                    };
                    aggregator = Some(Aggregator {
                        asn,
                        address: Ipv4Addr::from(addr),
                    });
                }
            }
            // RFC 6793 4.1: a NEW speaker discards AS4_PATH / AS4_AGGREGATOR from another NEW
            // speaker; malformed ones are discarded (RFC 6793 6, RFC 7606 7.9/7.10).
            AS4_PATH if !opts.four_octet_as => {
                if !flags_ok {
                    err(ty, flags_bad, Discard);
                } else {
                    match AsPath::decode(value, true) {
                        Some(p) => as4_path = Some(p),
                        None => err(ty, AttributeProblem::MalformedAsPath, Discard),
                    }
                }
            }
            AS4_AGGREGATOR if !opts.four_octet_as => {
                if !flags_ok {
                    err(ty, flags_bad, Discard);
                } else if len != 8 {
                    err(ty, len_bad, Discard);
                } else {
                    as4_aggregator = Some(Aggregator {
                        asn: be32(value),
                        address: Ipv4Addr::from(be32(&value[4..])),
                    });
                }
            }
            AS4_PATH | AS4_AGGREGATOR => {}
            // Other address families are not negotiated: their MP attributes are ignored.
            MP_REACH_NLRI | MP_UNREACH_NLRI => {}
            _ => {
                if flags & OPTIONAL == 0 {
                    return Err(DecodeError::UnrecognizedWellKnownAttribute {
                        type_code: ty,
                        attribute: whole.to_vec(),
                    });
                }
                if flags & TRANSITIVE != 0 {
                    unknown.push(RawAttribute {
                        flags: (flags & 0xE0) | PARTIAL,
                        type_code: ty,
                        value: value.to_vec(),
                    });
                }
                // Unrecognised optional non-transitive attributes are quietly ignored.
            }
        }
    }

    // RFC 6793 4.2.3: rebuild the 4-octet path and aggregator from a 2-octet speaker.
    if !opts.four_octet_as {
        let use_as4 = match (aggregator, as4_aggregator) {
            // AGGREGATOR from a 2-octet aggregating speaker: its AS4_* are stale.
            (Some(a), Some(_)) if a.asn != AS_TRANS => false,
            (Some(_), Some(a4)) => {
                aggregator = Some(a4);
                true
            }
            _ => true,
        };
        if use_as4 {
            if let (Some(p), Some(p4)) = (&as_path, &as4_path) {
                as_path = Some(p.merge_as4(p4));
            }
        }
    }

    // After an overrun the rest of the attributes are unknown: "missing" would be noise.
    // (The loop only stops early, leaving octets, on an overrun.)
    let overrun = !buf.is_empty();
    if nlri_present && !overrun {
        for ty in [ORIGIN, AS_PATH, NEXT_HOP] {
            if !seen[usize::from(ty)] {
                err(ty, AttributeProblem::Missing, Withdraw);
            }
        }
    }
    let withdraw = errors.iter().any(|e| e.action == Withdraw);
    let attributes = match (origin, as_path, next_hop) {
        (Some(origin), Some(as_path), Some(next_hop)) if !withdraw => Some(PathAttributes {
            origin,
            as_path,
            next_hop,
            multi_exit_disc: med,
            local_pref,
            atomic_aggregate,
            aggregator,
            unknown,
        }),
        _ => None,
    };
    Ok(DecodedAttributes { attributes, errors })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_length_and_neighbor() {
        let p = AsPath {
            segments: vec![
                AsPathSegment::Sequence(vec![64512, 65000]),
                AsPathSegment::Set(vec![1, 2, 3]),
            ],
        };
        assert_eq!(p.path_length(), 3);
        assert_eq!(p.neighbor_as(), Some(64512));
        assert_eq!(p.to_string(), "64512 65000 {1 2 3}");
        assert!(p.contains(2));
        let mut q = AsPath::empty();
        q.prepend(65001, 2);
        assert_eq!(q.to_string(), "65001 65001");
        assert_eq!(AsPath::empty().neighbor_as(), None);
    }

    #[test]
    fn as4_merge() {
        // 2-octet view: 64512 AS_TRANS AS_TRANS; AS4_PATH: 4200000000 4200000001.
        let two = AsPath::from_sequence([64512, AS_TRANS, AS_TRANS]);
        let four = AsPath::from_sequence([4_200_000_000, 4_200_000_001]);
        assert_eq!(
            two.merge_as4(&four),
            AsPath::from_sequence([64512, 4_200_000_000, 4_200_000_001])
        );
        // Segments of AS4_PATH are kept as they are (found by the round-trip property test).
        let split = AsPath {
            segments: vec![
                AsPathSegment::Sequence(vec![1]),
                AsPathSegment::Sequence(vec![65536]),
            ],
        };
        let two_octet_view = AsPath {
            segments: vec![
                AsPathSegment::Sequence(vec![1]),
                AsPathSegment::Sequence(vec![AS_TRANS]),
            ],
        };
        assert_eq!(two_octet_view.merge_as4(&split), split);
        // An AS4_PATH longer than AS_PATH is ignored.
        let long = AsPath::from_sequence([1, 2, 3, 4]);
        assert_eq!(two.merge_as4(&long), two);
    }

    #[test]
    fn malformed_as_paths() {
        assert!(AsPath::decode(&[2, 0], false).is_none(), "empty segment");
        assert!(AsPath::decode(&[2, 2, 0, 1], false).is_none(), "overrun");
        assert!(
            AsPath::decode(&[2, 1, 0, 1, 2], false).is_none(),
            "single octet left"
        );
        assert!(
            AsPath::decode(&[3, 1, 0, 1], false).is_none(),
            "confederation segment"
        );
        assert_eq!(AsPath::decode(&[], true), Some(AsPath::empty()));
    }
}
