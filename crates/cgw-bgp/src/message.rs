//! BGP messages (RFC 4271 4, RFC 5492, RFC 2918): decoding that never panics and allocates
//! at most in proportion to its input, and encoding.

use crate::attributes::{decode_path_attributes, AttributeError, ErrorAction, PathAttributes};
use crate::notification::{
    error_code, header_error, open_error, route_refresh_error, update_error, NotificationMessage,
};
use crate::prefix::{Ipv4Prefix, NlriError};
use crate::{AFI_IPV4, AS_TRANS, BGP_VERSION, HEADER_LEN, MARKER, MAX_MESSAGE_LEN, SAFI_UNICAST};
use std::fmt;
use std::net::Ipv4Addr;
use thiserror::Error;

/// What the codec needs to know about the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireOptions {
    /// Both sides advertised the 4-octet AS capability (RFC 6793): AS_PATH and AGGREGATOR
    /// carry 4-octet ASes. Otherwise they carry 2-octet ones, with AS_TRANS standing in for
    /// larger ASes and AS4_PATH / AS4_AGGREGATOR carrying the real ones.
    pub four_octet_as: bool,
    /// The peer is in another AS: LOCAL_PREF from it is disregarded (RFC 7606 7.5).
    pub external_peer: bool,
}

impl Default for WireOptions {
    /// Before capabilities are known: 2-octet ASes, external peer.
    fn default() -> Self {
        Self {
            four_octet_as: false,
            external_peer: true,
        }
    }
}

/// Message Type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// OPEN (1).
    Open = 1,
    /// UPDATE (2).
    Update = 2,
    /// NOTIFICATION (3).
    Notification = 3,
    /// KEEPALIVE (4).
    Keepalive = 4,
    /// ROUTE-REFRESH (5, RFC 2918).
    RouteRefresh = 5,
}

impl MessageType {
    /// The type for a code, if defined.
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Open,
            2 => Self::Update,
            3 => Self::Notification,
            4 => Self::Keepalive,
            5 => Self::RouteRefresh,
            _ => return None,
        })
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "OPEN",
            Self::Update => "UPDATE",
            Self::Notification => "NOTIFICATION",
            Self::Keepalive => "KEEPALIVE",
            Self::RouteRefresh => "ROUTE-REFRESH",
        })
    }
}

/// Capability Codes (RFC 5492 and the RFCs that define each).
pub mod capability_code {
    /// Multiprotocol Extensions (RFC 4760).
    pub const MULTIPROTOCOL: u8 = 1;
    /// Route Refresh (RFC 2918).
    pub const ROUTE_REFRESH: u8 = 2;
    /// Support for 4-octet AS number (RFC 6793).
    pub const FOUR_OCTET_AS: u8 = 65;
}

/// Optional Parameter Type for Capabilities (RFC 5492).
pub const PARAMETER_CAPABILITIES: u8 = 2;

/// A capability advertised in OPEN (RFC 5492).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Multiprotocol Extensions for an AFI/SAFI (RFC 4760 8).
    Multiprotocol {
        /// Address Family Identifier.
        afi: u16,
        /// Subsequent Address Family Identifier.
        safi: u8,
    },
    /// Route Refresh (RFC 2918).
    RouteRefresh,
    /// 4-octet AS number support, with the speaker's AS (RFC 6793).
    FourOctetAs {
        /// The speaker's (4-octet) AS number.
        asn: u32,
    },
    /// Anything else, kept as received.
    Unknown {
        /// Capability Code.
        code: u8,
        /// Capability Value.
        value: Vec<u8>,
    },
}

impl Capability {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Self::Multiprotocol { afi, safi } => {
                out.extend_from_slice(&[capability_code::MULTIPROTOCOL, 4]);
                out.extend_from_slice(&afi.to_be_bytes());
                out.extend_from_slice(&[0, *safi]);
            }
            Self::RouteRefresh => out.extend_from_slice(&[capability_code::ROUTE_REFRESH, 0]),
            Self::FourOctetAs { asn } => {
                out.extend_from_slice(&[capability_code::FOUR_OCTET_AS, 4]);
                out.extend_from_slice(&asn.to_be_bytes());
            }
            Self::Unknown { code, value } => {
                let len = u8::try_from(value.len())
                    .map_err(|_| EncodeError::CapabilityTooLong { code: *code })?;
                out.extend_from_slice(&[*code, len]);
                out.extend_from_slice(value);
            }
        }
        Ok(())
    }

    fn decode(code: u8, value: &[u8]) -> Result<Self, DecodeError> {
        let bad = |reason| DecodeError::MalformedOpen { reason };
        Ok(match code {
            capability_code::MULTIPROTOCOL => match value {
                [a, b, _reserved, safi] => Self::Multiprotocol {
                    afi: u16::from_be_bytes([*a, *b]),
                    safi: *safi,
                },
                _ => return Err(bad("Multiprotocol capability length is not 4")),
            },
            capability_code::ROUTE_REFRESH if value.is_empty() => Self::RouteRefresh,
            capability_code::ROUTE_REFRESH => {
                return Err(bad("Route Refresh capability length is not 0"))
            }
            capability_code::FOUR_OCTET_AS => match value {
                [a, b, c, d] => Self::FourOctetAs {
                    asn: u32::from_be_bytes([*a, *b, *c, *d]),
                },
                _ => return Err(bad("4-octet AS capability length is not 4")),
            },
            _ => Self::Unknown {
                code,
                value: value.to_vec(),
            },
        })
    }
}

/// An OPEN message (RFC 4271 4.2); the version is always 4.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpenMessage {
    /// My Autonomous System: the sender's AS, or AS_TRANS if it needs four octets.
    pub my_as: u16,
    /// Hold Time in seconds: 0 or at least 3.
    pub hold_time: u16,
    /// BGP Identifier.
    pub bgp_identifier: Ipv4Addr,
    /// The capabilities of every Capabilities optional parameter, in order.
    pub capabilities: Vec<Capability>,
}

impl OpenMessage {
    /// An OPEN from AS `asn` (My AS is AS_TRANS when `asn` needs four octets; include
    /// [`Capability::FourOctetAs`] in `capabilities` to carry it).
    pub fn new(
        asn: u32,
        hold_time: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Self {
        Self {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS as u16),
            hold_time,
            bgp_identifier,
            capabilities,
        }
    }

    /// The 4-octet AS of the 4-octet AS capability, if present.
    pub fn four_octet_as(&self) -> Option<u32> {
        self.capabilities.iter().find_map(|c| match c {
            Capability::FourOctetAs { asn } => Some(*asn),
            _ => None,
        })
    }

    /// The sender's AS: from the 4-octet AS capability if present, else My AS.
    pub fn asn(&self) -> u32 {
        self.four_octet_as().unwrap_or(u32::from(self.my_as))
    }

    /// Whether the sender supports ROUTE-REFRESH.
    pub fn route_refresh(&self) -> bool {
        self.capabilities.contains(&Capability::RouteRefresh)
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(BGP_VERSION);
        out.extend_from_slice(&self.my_as.to_be_bytes());
        out.extend_from_slice(&self.hold_time.to_be_bytes());
        out.extend_from_slice(&self.bgp_identifier.octets());
        // One Capabilities parameter holds as many capabilities as fit in 255 octets.
        let mut params: Vec<Vec<u8>> = Vec::new();
        for cap in &self.capabilities {
            let mut c = Vec::new();
            cap.encode(&mut c)?;
            match params.last_mut() {
                Some(p) if p.len() + c.len() <= 255 => p.extend_from_slice(&c),
                _ => params.push(c),
            }
        }
        let mut opt = Vec::new();
        for p in params {
            let len = u8::try_from(p.len()).map_err(|_| EncodeError::OptionalParametersTooLong)?;
            opt.extend_from_slice(&[PARAMETER_CAPABILITIES, len]);
            opt.extend_from_slice(&p);
        }
        out.push(u8::try_from(opt.len()).map_err(|_| EncodeError::OptionalParametersTooLong)?);
        out.extend_from_slice(&opt);
        Ok(())
    }

    fn decode_body(body: &[u8]) -> Result<Self, DecodeError> {
        let bad = |reason| DecodeError::MalformedOpen { reason };
        let (fixed, rest) = body.split_at_checked(10).ok_or(bad("too short"))?;
        if fixed[0] != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersionNumber { version: fixed[0] });
        }
        let my_as = u16::from_be_bytes([fixed[1], fixed[2]]);
        let hold_time = u16::from_be_bytes([fixed[3], fixed[4]]);
        let bgp_identifier = Ipv4Addr::new(fixed[5], fixed[6], fixed[7], fixed[8]);
        if usize::from(fixed[9]) != rest.len() {
            return Err(bad(
                "Optional Parameters Length does not match the message length",
            ));
        }
        let mut capabilities = Vec::new();
        let mut params = rest;
        while !params.is_empty() {
            let [ty, len, tail @ ..] = params else {
                return Err(bad("truncated optional parameter"));
            };
            let value = tail
                .get(..usize::from(*len))
                .ok_or(bad("optional parameter overruns"))?;
            params = &tail[value.len()..];
            if *ty != PARAMETER_CAPABILITIES {
                return Err(DecodeError::UnsupportedOptionalParameter {
                    parameter_type: *ty,
                });
            }
            let mut caps = value;
            while !caps.is_empty() {
                let [code, len, tail @ ..] = caps else {
                    return Err(bad("truncated capability"));
                };
                let v = tail
                    .get(..usize::from(*len))
                    .ok_or(bad("capability overruns its parameter"))?;
                caps = &tail[v.len()..];
                capabilities.push(Capability::decode(*code, v)?);
            }
        }
        Ok(Self {
            my_as,
            hold_time,
            bgp_identifier,
            capabilities,
        })
    }
}

/// An UPDATE message (RFC 4271 4.3), IPv4 unicast.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateMessage {
    /// Withdrawn Routes.
    pub withdrawn_routes: Vec<Ipv4Prefix>,
    /// Path Attributes, if present and complete. When decoding, `None` also when RFC 7606
    /// "treat-as-withdraw" applies (see [`attribute_errors`](Self::attribute_errors)), or when
    /// the UPDATE has no NLRI and incomplete attributes (e.g. only attributes of other
    /// address families, which are ignored).
    pub path_attributes: Option<PathAttributes>,
    /// Network Layer Reachability Information.
    pub nlri: Vec<Ipv4Prefix>,
    /// Malformed attributes found when decoding, with what RFC 7606 says to do about each.
    /// Ignored by the encoder.
    pub attribute_errors: Vec<AttributeError>,
}

impl UpdateMessage {
    /// Whether RFC 7606 "treat-as-withdraw" applies: the NLRI must be handled as withdrawn.
    pub fn treat_as_withdraw(&self) -> bool {
        self.attribute_errors
            .iter()
            .any(|e| e.action == ErrorAction::TreatAsWithdraw)
    }

    /// Whether this is an End-of-RIB marker for IPv4 unicast (RFC 4724 2): an empty UPDATE.
    pub fn is_end_of_rib(&self) -> bool {
        self.withdrawn_routes.is_empty() && self.path_attributes.is_none() && self.nlri.is_empty()
    }

    fn encode_body(&self, opts: &WireOptions, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mut attrs = Vec::new();
        if let Some(a) = &self.path_attributes {
            a.encode(opts, &mut attrs)?;
        }
        encode_update_body(&self.withdrawn_routes, &attrs, &self.nlri, out)
    }

    fn decode_body(body: &[u8], opts: &WireOptions) -> Result<Self, DecodeError> {
        let malformed = |reason| DecodeError::MalformedAttributeList { reason };
        let (wlen, rest) = body.split_at_checked(2).ok_or(malformed("truncated"))?;
        let wlen = usize::from(u16::from_be_bytes([wlen[0], wlen[1]]));
        let (withdrawn, rest) = rest
            .split_at_checked(wlen)
            .ok_or(malformed("Withdrawn Routes Length exceeds the message"))?;
        let (alen, rest) = rest
            .split_at_checked(2)
            .ok_or(malformed("Withdrawn Routes Length exceeds the message"))?;
        let alen = usize::from(u16::from_be_bytes([alen[0], alen[1]]));
        let (attrs, nlri) = rest
            .split_at_checked(alen)
            .ok_or(malformed("Total Path Attribute Length exceeds the message"))?;
        let withdrawn_routes = Ipv4Prefix::decode_all(withdrawn).map_err(|error| {
            DecodeError::InvalidNetworkField {
                withdrawn_routes: true,
                error,
            }
        })?;
        let nlri =
            Ipv4Prefix::decode_all(nlri).map_err(|error| DecodeError::InvalidNetworkField {
                withdrawn_routes: false,
                error,
            })?;
        let decoded = decode_path_attributes(attrs, opts, !nlri.is_empty())?;
        Ok(Self {
            withdrawn_routes,
            path_attributes: decoded.attributes,
            nlri,
            attribute_errors: decoded.errors,
        })
    }
}

/// The body of an UPDATE from already-encoded path attributes.
fn encode_update_body(
    withdrawn: &[Ipv4Prefix],
    attrs: &[u8],
    nlri: &[Ipv4Prefix],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let mut w = Vec::new();
    for p in withdrawn {
        p.encode(&mut w);
    }
    let too_long = EncodeError::MessageTooLong {
        length: HEADER_LEN + 4 + w.len() + attrs.len(),
    };
    out.extend_from_slice(
        &u16::try_from(w.len())
            .map_err(|_| too_long.clone())?
            .to_be_bytes(),
    );
    out.extend_from_slice(&w);
    out.extend_from_slice(
        &u16::try_from(attrs.len())
            .map_err(|_| too_long)?
            .to_be_bytes(),
    );
    out.extend_from_slice(attrs);
    for p in nlri {
        p.encode(out);
    }
    Ok(())
}

/// A whole UPDATE message from already-encoded path attributes (used to pack many prefixes
/// under one attribute set).
pub(crate) fn encode_update(
    withdrawn: &[Ipv4Prefix],
    attrs: &[u8],
    nlri: &[Ipv4Prefix],
) -> Result<Vec<u8>, EncodeError> {
    let mut out = header_placeholder(MessageType::Update);
    encode_update_body(withdrawn, attrs, nlri, &mut out)?;
    finish(out)
}

/// A ROUTE-REFRESH message (RFC 2918 3; the reserved octet is RFC 7313's Message Subtype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RouteRefreshMessage {
    /// Address Family Identifier.
    pub afi: u16,
    /// Message Subtype (RFC 7313): 0 for a plain route refresh request.
    pub subtype: u8,
    /// Subsequent Address Family Identifier.
    pub safi: u8,
}

impl RouteRefreshMessage {
    /// A request for the peer's IPv4 unicast routes.
    pub fn ipv4_unicast() -> Self {
        Self {
            afi: AFI_IPV4,
            subtype: 0,
            safi: SAFI_UNICAST,
        }
    }
}

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// OPEN.
    Open(OpenMessage),
    /// UPDATE.
    Update(UpdateMessage),
    /// NOTIFICATION.
    Notification(NotificationMessage),
    /// KEEPALIVE: a bare header.
    Keepalive,
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefreshMessage),
}

impl Message {
    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Self::Open(_) => MessageType::Open,
            Self::Update(_) => MessageType::Update,
            Self::Notification(_) => MessageType::Notification,
            Self::Keepalive => MessageType::Keepalive,
            Self::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Encodes the message, header included.
    pub fn encode(&self, opts: &WireOptions) -> Result<Vec<u8>, EncodeError> {
        let mut out = header_placeholder(self.message_type());
        match self {
            Self::Open(m) => m.encode_body(&mut out)?,
            Self::Update(m) => m.encode_body(opts, &mut out)?,
            Self::Notification(m) => {
                out.extend_from_slice(&[m.error_code, m.error_subcode]);
                out.extend_from_slice(&m.data);
            }
            Self::Keepalive => {}
            Self::RouteRefresh(m) => {
                out.extend_from_slice(&m.afi.to_be_bytes());
                out.extend_from_slice(&[m.subtype, m.safi]);
            }
        }
        finish(out)
    }

    /// Decodes one whole message, header included (as the [`Framer`](crate::Framer) returns
    /// them). Errors that need a NOTIFICATION and a session reset come back as `Err`; RFC
    /// 7606 attribute errors that do not are in [`UpdateMessage::attribute_errors`].
    pub fn decode(frame: &[u8], opts: &WireOptions) -> Result<Self, DecodeError> {
        let header = decode_header(frame)?;
        let length = header.length;
        let body = frame
            .get(HEADER_LEN..usize::from(length))
            .ok_or(DecodeError::BadMessageLength { length })?;
        let len = usize::from(length);
        let bad_len = DecodeError::BadMessageLength { length };
        match MessageType::from_u8(header.message_type) {
            None => Err(DecodeError::BadMessageType {
                message_type: header.message_type,
            }),
            Some(MessageType::Open) if len < 29 => Err(bad_len),
            Some(MessageType::Open) => OpenMessage::decode_body(body).map(Self::Open),
            Some(MessageType::Update) if len < 23 => Err(bad_len),
            Some(MessageType::Update) => UpdateMessage::decode_body(body, opts).map(Self::Update),
            Some(MessageType::Notification) if len < 21 => Err(bad_len),
            Some(MessageType::Notification) => Ok(Self::Notification(NotificationMessage {
                error_code: body[0],
                error_subcode: body[1],
                data: body[2..].to_vec(),
            })),
            Some(MessageType::Keepalive) if len != HEADER_LEN => Err(bad_len),
            Some(MessageType::Keepalive) => Ok(Self::Keepalive),
            Some(MessageType::RouteRefresh) => match body {
                [a, b, subtype, safi] => Ok(Self::RouteRefresh(RouteRefreshMessage {
                    afi: u16::from_be_bytes([*a, *b]),
                    subtype: *subtype,
                    safi: *safi,
                })),
                _ => Err(DecodeError::RouteRefreshInvalidLength {
                    message: frame[..len].to_vec(),
                }),
            },
        }
    }
}

/// The fixed header of a message (RFC 4271 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total length of the message, header included (19 to 4096).
    pub length: u16,
    /// Type code (not checked here).
    pub message_type: u8,
}

/// Checks the marker and length of the header at the front of `buf` (which must hold at least
/// the 19 octets of a header).
pub fn decode_header(buf: &[u8]) -> Result<Header, DecodeError> {
    let h = buf.get(..HEADER_LEN).ok_or(DecodeError::Truncated)?;
    if h[..16] != MARKER {
        return Err(DecodeError::ConnectionNotSynchronized);
    }
    let length = u16::from_be_bytes([h[16], h[17]]);
    if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&usize::from(length)) {
        return Err(DecodeError::BadMessageLength { length });
    }
    Ok(Header {
        length,
        message_type: h[18],
    })
}

fn header_placeholder(ty: MessageType) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MARKER);
    out.extend_from_slice(&[0, 0, ty as u8]);
    out
}

fn finish(mut out: Vec<u8>) -> Result<Vec<u8>, EncodeError> {
    if out.len() > MAX_MESSAGE_LEN {
        return Err(EncodeError::MessageTooLong { length: out.len() });
    }
    let len = (out.len() as u16).to_be_bytes();
    out[16..18].copy_from_slice(&len);
    Ok(out)
}

/// A message that cannot be used and must be answered with a NOTIFICATION (and the session
/// closed). [`DecodeError::notification`] builds it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer octets than a header (only from [`decode_header`] on a short buffer).
    #[error("truncated message header")]
    Truncated,
    /// The marker is not sixteen 0xFF octets.
    #[error("connection not synchronized: the header marker is not all ones")]
    ConnectionNotSynchronized,
    /// The Length field is out of range, or wrong for the type.
    #[error("bad message length {length}")]
    BadMessageLength {
        /// The Length field.
        length: u16,
    },
    /// An undefined Type.
    #[error("bad message type {message_type}")]
    BadMessageType {
        /// The Type field.
        message_type: u8,
    },
    /// OPEN for a version other than 4.
    #[error("unsupported BGP version {version}")]
    UnsupportedVersionNumber {
        /// The version bid.
        version: u8,
    },
    /// An optional parameter other than Capabilities.
    #[error("unsupported optional parameter type {parameter_type}")]
    UnsupportedOptionalParameter {
        /// Parameter Type.
        parameter_type: u8,
    },
    /// An OPEN whose optional parameters or capabilities do not parse.
    #[error("malformed OPEN: {reason}")]
    MalformedOpen {
        /// What is wrong.
        reason: &'static str,
    },
    /// An UPDATE whose length fields are inconsistent, or with a repeated MP_REACH_NLRI or
    /// MP_UNREACH_NLRI.
    #[error("malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// What is wrong.
        reason: &'static str,
    },
    /// A well-known attribute we do not know.
    #[error("unrecognized well-known attribute type {type_code}")]
    UnrecognizedWellKnownAttribute {
        /// Its type code.
        type_code: u8,
        /// The whole attribute (type, length, value), returned as NOTIFICATION data.
        attribute: Vec<u8>,
    },
    /// An NLRI or Withdrawn Routes field that does not parse (RFC 7606 5.3).
    #[error("invalid {} field: {error}", if *withdrawn_routes { "Withdrawn Routes" } else { "NLRI" })]
    InvalidNetworkField {
        /// In Withdrawn Routes rather than NLRI.
        withdrawn_routes: bool,
        /// The error.
        error: NlriError,
    },
    /// A ROUTE-REFRESH whose length is not 23 (RFC 7313 5).
    #[error("ROUTE-REFRESH of invalid length")]
    RouteRefreshInvalidLength {
        /// The message, returned as NOTIFICATION data.
        message: Vec<u8>,
    },
}

impl DecodeError {
    /// The NOTIFICATION that reports this error to the peer (RFC 4271 6).
    pub fn notification(&self) -> NotificationMessage {
        use error_code::*;
        let n = NotificationMessage::with_data;
        match self {
            Self::Truncated => n(
                MESSAGE_HEADER_ERROR,
                header_error::BAD_MESSAGE_LENGTH,
                Vec::new(),
            ),
            Self::ConnectionNotSynchronized => n(
                MESSAGE_HEADER_ERROR,
                header_error::CONNECTION_NOT_SYNCHRONIZED,
                Vec::new(),
            ),
            Self::BadMessageLength { length } => n(
                MESSAGE_HEADER_ERROR,
                header_error::BAD_MESSAGE_LENGTH,
                length.to_be_bytes().to_vec(),
            ),
            Self::BadMessageType { message_type } => n(
                MESSAGE_HEADER_ERROR,
                header_error::BAD_MESSAGE_TYPE,
                vec![*message_type],
            ),
            // Data: the largest version we support below the one bid (RFC 4271 6.2).
            Self::UnsupportedVersionNumber { .. } => n(
                OPEN_MESSAGE_ERROR,
                open_error::UNSUPPORTED_VERSION_NUMBER,
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ),
            Self::UnsupportedOptionalParameter { .. } => n(
                OPEN_MESSAGE_ERROR,
                open_error::UNSUPPORTED_OPTIONAL_PARAMETER,
                Vec::new(),
            ),
            Self::MalformedOpen { .. } => n(OPEN_MESSAGE_ERROR, 0, Vec::new()),
            Self::MalformedAttributeList { .. } => n(
                UPDATE_MESSAGE_ERROR,
                update_error::MALFORMED_ATTRIBUTE_LIST,
                Vec::new(),
            ),
            Self::UnrecognizedWellKnownAttribute { attribute, .. } => n(
                UPDATE_MESSAGE_ERROR,
                update_error::UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
                attribute.clone(),
            ),
            Self::InvalidNetworkField { .. } => n(
                UPDATE_MESSAGE_ERROR,
                update_error::INVALID_NETWORK_FIELD,
                Vec::new(),
            ),
            Self::RouteRefreshInvalidLength { message } => n(
                ROUTE_REFRESH_MESSAGE_ERROR,
                route_refresh_error::INVALID_MESSAGE_LENGTH,
                message.clone(),
            ),
        }
    }
}

/// A message that cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// Over the 4096-octet maximum.
    #[error("message of {length} octets is over the 4096-octet maximum")]
    MessageTooLong {
        /// Its length.
        length: usize,
    },
    /// The optional parameters of an OPEN take over 255 octets.
    #[error("OPEN optional parameters over 255 octets")]
    OptionalParametersTooLong,
    /// A capability value over 255 octets.
    #[error("capability {code} value over 255 octets")]
    CapabilityTooLong {
        /// Capability Code.
        code: u8,
    },
    /// An attribute value over 65535 octets.
    #[error("attribute {type_code} of {length} octets is too long")]
    AttributeTooLong {
        /// Its type code.
        type_code: u8,
        /// Its length.
        length: usize,
    },
}
