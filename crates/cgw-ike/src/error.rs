use cgw_wire::NotifyType;
use thiserror::Error;

/// Why an IKE SA or a Child SA could not be set up or was lost, phrased for the operator
/// who has to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IkeError {
    /// We were the responder and none of the peer's proposals matched our policy.
    #[error("no proposal chosen: we accept {we_accept}, the peer offered {peer_offered}")]
    NoProposalChosenByUs {
        /// Our proposals.
        we_accept: String,
        /// The peer's proposals.
        peer_offered: String,
    },
    /// The peer answered NO_PROPOSAL_CHOSEN to our offer.
    #[error("no proposal chosen: the peer accepted none of {we_offered} (check the tunnel's phase 1/phase 2 algorithm and DH group options)")]
    NoProposalChosenByPeer {
        /// Our proposals.
        we_offered: String,
    },
    /// The peer's AUTH did not verify, or the peer rejected ours.
    #[error("authentication failed: pre-shared key mismatch? ({detail})")]
    AuthenticationFailed {
        /// Which side noticed and how.
        detail: String,
    },
    /// The peer's identity is not the one configured.
    #[error("peer identity {got} does not match the configured remote ID {expected}")]
    IdentityMismatch {
        /// Configured.
        expected: String,
        /// Presented.
        got: String,
    },
    /// Traffic selectors could not be agreed.
    #[error("TS unacceptable: {detail}")]
    TsUnacceptable {
        /// The selectors involved.
        detail: String,
    },
    /// The peer answered nothing: our request's retransmissions ran out, or dead-peer
    /// detection heard nothing for its timeout.
    #[error(
        "peer not responding: no answer to {exchange} in {waited_secs} s ({tries} retransmissions)"
    )]
    PeerNotResponding {
        /// The request that went unanswered, e.g. `CREATE_CHILD_SA` or
        /// `INFORMATIONAL (liveness check)`.
        exchange: String,
        /// How many retransmissions of it were sent.
        tries: u32,
        /// How long we waited for an answer (since the request, or the liveness probe).
        waited_secs: u64,
    },
    /// The peer asked for a DH group we do not offer.
    #[error("the peer wants DH group {wanted}, which we do not offer (we offer {we_offer})")]
    UnacceptableKeGroup {
        /// Requested group number.
        wanted: u16,
        /// Our groups.
        we_offer: String,
    },
    /// The peer's INVALID_KE_PAYLOAD named the very group our KE payload used (RFC 7296 1.2:
    /// it must name a group it accepts; asking again for the same one cannot succeed).
    #[error("the peer answered INVALID_KE_PAYLOAD naming DH group {group}, the group of the KE payload we sent: it refused our public value or is faulty (not retried with the same group)")]
    KeGroupRefusedAsSent {
        /// The group we sent and the peer named.
        group: u16,
    },
    /// The peer kept answering INVALID_KE_PAYLOAD with other groups.
    #[error("the peer asked for another DH group {tries} times (last DH group {wanted}); giving up on this attempt")]
    KeGroupRetriesExhausted {
        /// How many times we sent a new KE payload.
        tries: u8,
        /// The last group it asked for.
        wanted: u16,
    },
    /// The responder never received IKE_AUTH for a half-open IKE SA.
    #[error("half-open IKE SA expired: the initiator never completed IKE_AUTH")]
    HalfOpenExpired,
    /// The peer reported an error we do not map to a more specific cause.
    #[error("the peer reported {0}")]
    PeerError(NotifyType),
    /// The peer deleted the SA.
    #[error("the peer deleted the IKE SA")]
    DeletedByPeer,
    /// A Child SA rekey (CREATE_CHILD_SA) of ours did not produce a new Child SA.
    #[error("Child SA rekey failed: {cause}; retrying in {retry_in_secs} s")]
    ChildRekeyFailed {
        /// What went wrong, for the operator.
        cause: String,
        /// When the next attempt starts.
        retry_in_secs: u64,
    },
    /// The last Child SA reached its hard lifetime without a successful rekey: the IKE SA
    /// is deleted so that a new one, with a new Child SA, can be set up.
    #[error("the Child SA {inbound_spi:#010x} reached its hard lifetime without a successful rekey: deleting the IKE SA to set up a new one")]
    ChildSaExpired {
        /// Its inbound SPI.
        inbound_spi: u32,
    },
    /// The IKE SA has carried no Child SA for a while (the peer deleted the last one, or
    /// the first could not be created): it is deleted so that a new IKE SA brings a new
    /// Child SA. A gateway's IKE SA without a Child SA carries no traffic.
    #[error("the IKE SA has had no Child SA for {secs} s (the peer deleted it, or it could not be created: see the error before): deleting the IKE SA to set up a new one")]
    NoChildSa {
        /// How long it has been without one.
        secs: u64,
    },
    /// Something the RFC forbids.
    #[error("protocol error: {0}")]
    Protocol(String),
}
