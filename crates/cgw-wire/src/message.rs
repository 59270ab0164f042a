use crate::reader::{patch_len16, Reader};
use crate::{
    IkeHeader, Payload, PayloadType, WireError, GENERIC_PAYLOAD_HEADER_LEN, IKE_HEADER_LEN,
};

const MAX_PAYLOADS: usize = 256;

/// Where the SK or SKF payload of a message is (RFC 7296 3.14, RFC 7383 2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedPart {
    /// Type of the first payload inside (for SKF, only meaningful in fragment 1).
    pub first_inner: PayloadType,
    /// Offset of the encrypted body (IV onwards) in the datagram; everything before it is
    /// authenticated (RFC 5282 AAD, or covered by the HMAC).
    pub body_start: usize,
    /// `Some((fragment number, total fragments))` for an SKF payload.
    pub fragment: Option<(u16, u16)>,
}

/// A decoded IKE message: the header, the cleartext payloads, and the encrypted part if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The IKE header.
    pub header: IkeHeader,
    /// Payloads outside any SK payload, in order.
    pub payloads: Vec<Payload>,
    /// The SK or SKF payload, which is always the last one.
    pub encrypted: Option<EncryptedPart>,
}

impl Message {
    /// Parses one IKE message; bytes after the header's length are ignored (a datagram
    /// carries one message).
    pub fn parse(datagram: &[u8]) -> Result<Self, WireError> {
        let header = IkeHeader::parse(datagram)?;
        let msg = &datagram[..header.length as usize];
        let mut payloads = Vec::new();
        let mut next = header.next_payload;
        let mut r = Reader::new(&msg[IKE_HEADER_LEN..]);
        let mut encrypted = None;
        while next != PayloadType::NONE {
            if payloads.len() >= MAX_PAYLOADS {
                return Err(WireError::TooMany("payloads"));
            }
            let offset = IKE_HEADER_LEN + (msg.len() - IKE_HEADER_LEN - r.remaining());
            let (this, critical, body) = read_generic(&mut r, next)?;
            if next == PayloadType::SK || next == PayloadType::SKF {
                if !r.is_empty() {
                    return Err(WireError::TrailingData(
                        "SK payload (it must be the last payload)",
                    ));
                }
                let mut fragment = None;
                let mut body_start = offset + GENERIC_PAYLOAD_HEADER_LEN;
                if next == PayloadType::SKF {
                    let mut b = Reader::new(body);
                    let number = b.u16("SKF payload")?;
                    let total = b.u16("SKF payload")?;
                    if number == 0 || total == 0 || number > total {
                        return Err(WireError::Invalid("SKF fragment number"));
                    }
                    fragment = Some((number, total));
                    body_start += 4;
                }
                encrypted = Some(EncryptedPart {
                    first_inner: this,
                    body_start,
                    fragment,
                });
                break;
            }
            payloads.push(Payload::parse(next, critical, body)?);
            next = this;
        }
        if encrypted.is_none() && !r.is_empty() {
            return Err(WireError::TrailingData("last payload"));
        }
        Ok(Self {
            header,
            payloads,
            encrypted,
        })
    }

    /// The first Notify payload of the given type.
    pub fn notify(&self, t: crate::NotifyType) -> Option<&crate::Notify> {
        find_notify(&self.payloads, t)
    }
}

/// The first Notify of type `t` in `payloads`.
pub(crate) fn find_notify(payloads: &[Payload], t: crate::NotifyType) -> Option<&crate::Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// Reads one generic payload header and body; returns (next payload, critical, body).
fn read_generic<'a>(
    r: &mut Reader<'a>,
    _this: PayloadType,
) -> Result<(PayloadType, bool, &'a [u8]), WireError> {
    let next = PayloadType(r.u8("generic payload header")?);
    let critical = r.u8("generic payload header")? & 0x80 != 0;
    let len = r.u16("generic payload header")? as usize;
    if len < GENERIC_PAYLOAD_HEADER_LEN {
        return Err(WireError::BadLength("generic payload header"));
    }
    let body = r.take(len - GENERIC_PAYLOAD_HEADER_LEN, "payload body")?;
    Ok((next, critical, body))
}

/// Parses a chain of payloads that starts with type `first` and fills `bytes` exactly (the
/// decrypted content of an SK payload). SK payloads may not nest.
pub fn parse_payload_chain(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    let mut r = Reader::new(bytes);
    let mut next = first;
    let mut out = Vec::new();
    while next != PayloadType::NONE {
        if out.len() >= MAX_PAYLOADS {
            return Err(WireError::TooMany("payloads"));
        }
        if next == PayloadType::SK || next == PayloadType::SKF {
            return Err(WireError::Invalid("nested SK payload"));
        }
        let (this, critical, body) = read_generic(&mut r, next)?;
        out.push(Payload::parse(next, critical, body)?);
        next = this;
    }
    if !r.is_empty() {
        return Err(WireError::TrailingData("payload chain"));
    }
    Ok(out)
}

/// Appends a payload chain to `out`; `last_next` is the Next Payload value of the last
/// payload (NONE, or e.g. SK when cleartext payloads precede an SK payload). Returns the type
/// of the first payload (NONE for an empty chain) for the preceding header.
pub fn emit_payload_chain(
    payloads: &[Payload],
    last_next: PayloadType,
    out: &mut Vec<u8>,
) -> PayloadType {
    for (i, p) in payloads.iter().enumerate() {
        let start = out.len();
        let next = payloads.get(i + 1).map_or(last_next, |n| n.payload_type());
        out.push(next.0);
        out.push(if p.critical() { 0x80 } else { 0 });
        out.extend_from_slice(&[0, 0]);
        p.emit_body(out);
        patch_len16(out, start + 2, start);
    }
    payloads.first().map_or(last_next, |p| p.payload_type())
}
