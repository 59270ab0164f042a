//! Debug summaries of every IKE message sent and received, for operators (`--log-level
//! debug`): exchange, request or response, message ID, IKE SA SPIs, peer and each payload in
//! a short form. Never keys, nonces, AUTH data or the PSK.

use crate::proposal::describe_offer;
use crate::sa::IkeSa;
use cgw_crypto::DhGroup;
use cgw_wire::{ExchangeType, Payload, ProtocolId};
use std::fmt::Write;

/// One payload in a short form, e.g. `SA(aes256gcm16-ecp384)`, `N(INITIAL_CONTACT)`,
/// `TSi(0.0.0.0-255.255.255.255)`.
pub(crate) fn payload(p: &Payload) -> String {
    let list = |ts: &[cgw_wire::TrafficSelector]| {
        ts.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    match p {
        Payload::Sa(sa) => format!("SA({})", describe_offer(sa)),
        Payload::Ke(k) => match DhGroup::from_id(k.dh_group) {
            Some(g) => format!("KE({g})"),
            None => format!("KE(group {})", k.dh_group),
        },
        Payload::IdI(id) => format!("IDi({id})"),
        Payload::IdR(id) => format!("IDr({id})"),
        Payload::Auth(a) => format!("AUTH(method {})", a.method.0),
        Payload::Nonce(n) => format!("No({} bytes)", n.len()),
        Payload::Notify(n) => format!("N({})", n.notify_type),
        Payload::Delete(d) if d.protocol == ProtocolId::IKE => "D(IKE)".into(),
        Payload::Delete(d) => {
            let mut s = String::from("D(ESP");
            for spi in &d.spis {
                if let Ok(b) = <[u8; 4]>::try_from(spi.as_slice()) {
                    let _ = write!(s, " {:#010x}", u32::from_be_bytes(b));
                }
            }
            s.push(')');
            s
        }
        Payload::VendorId(_) => "V".into(),
        Payload::TsI(ts) => format!("TSi({})", list(ts)),
        Payload::TsR(ts) => format!("TSr({})", list(ts)),
        Payload::Cp(_) => "CP".into(),
        Payload::Unknown { payload_type, .. } => format!("{payload_type}"),
    }
}

/// All payloads of a message, space separated (`(empty)` for none).
pub(crate) fn payloads(ps: &[Payload]) -> String {
    if ps.is_empty() {
        return "(empty)".into();
    }
    ps.iter().map(payload).collect::<Vec<_>>().join(" ")
}

fn spis(sa: &IkeSa) -> String {
    format!("{}_i {}_r", hex_short(&sa.spi_i), hex_short(&sa.spi_r))
}

fn hex_short(b: &[u8; 8]) -> String {
    b.iter().fold(String::with_capacity(16), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

fn kind(response: bool) -> &'static str {
    if response {
        "response"
    } else {
        "request"
    }
}

/// A message we send on IKE SA `sa`.
pub(crate) fn sent(sa: &IkeSa, exchange: ExchangeType, response: bool, id: u32, ps: &[Payload]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            "IKE {exchange} {} #{id} sent to {} (IKE SA {}): {}",
            kind(response),
            sa.remote,
            spis(sa),
            payloads(ps)
        );
    }
}

/// A message we received (authenticated, or IKE_SA_INIT in the clear).
pub(crate) fn received(from: std::net::SocketAddr, h: &cgw_wire::IkeHeader, ps: &[Payload]) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        tracing::debug!(
            "IKE {} {} #{} received from {from} (IKE SA {}_i {}_r): {}",
            h.exchange,
            kind(h.flags.response()),
            h.message_id,
            hex_short(&h.spi_i),
            hex_short(&h.spi_r),
            payloads(ps)
        );
    }
}
