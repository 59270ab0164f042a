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

/// The first error Notify, if any.
pub(crate) fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    payloads.iter().find_map(|p| match p {
        Payload::Notify(n) if n.notify_type.is_error() => Some(n.notify_type),
        _ => None,
    })
}
