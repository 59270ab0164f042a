//! One module per IKEv2 exchange, in the manner of strongSwan's tasks. Each adds to
//! [`Connection`](crate::Connection) the functions that build its requests, answer the peer's
//! requests and process responses; the request in flight carries its [`Task`] state.

pub(crate) mod create_child_sa;
pub(crate) mod ike_auth;
pub(crate) mod ike_sa_init;
pub(crate) mod informational;

/// The state an outstanding request needs to process its response.
pub(crate) enum Task {
    IkeSaInit(ike_sa_init::InitiatorTask),
    IkeAuth(ike_auth::InitiatorTask),
    Informational(informational::InitiatorTask),
    Rekey(create_child_sa::RekeyTask),
}

use cgw_wire::{Notify, NotifyType, Payload};

/// The first Notify payload of type `t`.
pub(crate) fn find_notify(payloads: &[Payload], t: NotifyType) -> Option<&Notify> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type == t => Some(n),
        _ => None,
    })
}

/// The first SA payload.
pub(crate) fn sa_payload(p: &[Payload]) -> Option<&cgw_wire::SaPayload> {
    p.iter().find_map(|x| {
        if let Payload::Sa(s) = x {
            Some(s)
        } else {
            None
        }
    })
}

/// The first Nonce payload's data.
pub(crate) fn nonce(p: &[Payload]) -> Option<&Vec<u8>> {
    p.iter().find_map(|x| {
        if let Payload::Nonce(n) = x {
            Some(n)
        } else {
            None
        }
    })
}

/// The first KE payload.
pub(crate) fn key_exchange(p: &[Payload]) -> Option<&cgw_wire::KeyExchange> {
    p.iter().find_map(|x| {
        if let Payload::Ke(k) = x {
            Some(k)
        } else {
            None
        }
    })
}

/// The first TSi payload's selectors.
pub(crate) fn ts_i(p: &[Payload]) -> Option<&Vec<cgw_wire::TrafficSelector>> {
    p.iter().find_map(|x| {
        if let Payload::TsI(t) = x {
            Some(t)
        } else {
            None
        }
    })
}

/// The first TSr payload's selectors.
pub(crate) fn ts_r(p: &[Payload]) -> Option<&Vec<cgw_wire::TrafficSelector>> {
    p.iter().find_map(|x| {
        if let Payload::TsR(t) = x {
            Some(t)
        } else {
            None
        }
    })
}

/// The first error Notify, if any.
pub(crate) fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}
