//! IANA code points used by IKEv2, as open newtypes so unknown values survive a round trip.

macro_rules! code_point {
    ($(#[$m:meta])* $name:ident($t:ty) { $($(#[$cm:meta])* $c:ident = $v:expr,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $t);
        impl $name {
            $($(#[$cm])* pub const $c: $name = $name($v);)*
            /// The registry name, if this value is one cgw knows.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($c)),)*
                    _ => None,
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.name() {
                    Some(n) => f.write_str(n),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
    };
}

code_point! {
    /// IKEv2 exchange types (RFC 7296 3.1).
    ExchangeType(u8) {
        /// IKE_SA_INIT.
        IKE_SA_INIT = 34,
        /// IKE_AUTH.
        IKE_AUTH = 35,
        /// CREATE_CHILD_SA.
        CREATE_CHILD_SA = 36,
        /// INFORMATIONAL.
        INFORMATIONAL = 37,
    }
}

code_point! {
    /// IKEv2 payload types (RFC 7296 3.2, RFC 7383).
    PayloadType(u8) {
        /// No next payload.
        NONE = 0,
        /// Security Association.
        SA = 33,
        /// Key Exchange.
        KE = 34,
        /// Identification - Initiator.
        IDI = 35,
        /// Identification - Responder.
        IDR = 36,
        /// Certificate.
        CERT = 37,
        /// Certificate Request.
        CERTREQ = 38,
        /// Authentication.
        AUTH = 39,
        /// Nonce.
        NONCE = 40,
        /// Notify.
        NOTIFY = 41,
        /// Delete.
        DELETE = 42,
        /// Vendor ID.
        VENDOR_ID = 43,
        /// Traffic Selector - Initiator.
        TSI = 44,
        /// Traffic Selector - Responder.
        TSR = 45,
        /// Encrypted and Authenticated.
        SK = 46,
        /// Configuration.
        CP = 47,
        /// Extensible Authentication.
        EAP = 48,
        /// Encrypted and Authenticated Fragment (RFC 7383).
        SKF = 53,
    }
}

code_point! {
    /// Notify message types (RFC 7296 3.10.1 and later RFCs).
    NotifyType(u16) {
        /// Error: a critical payload was not understood.
        UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        /// Error: no IKE SA with these SPIs.
        INVALID_IKE_SPI = 4,
        /// Error: unsupported major version.
        INVALID_MAJOR_VERSION = 5,
        /// Error: malformed message.
        INVALID_SYNTAX = 7,
        /// Error: message ID out of the window.
        INVALID_MESSAGE_ID = 9,
        /// Error: ESP packet for an unknown SPI.
        INVALID_SPI = 11,
        /// Error: no acceptable proposal.
        NO_PROPOSAL_CHOSEN = 14,
        /// Error: wrong DH group; data is the group wanted.
        INVALID_KE_PAYLOAD = 17,
        /// Error: authentication failed.
        AUTHENTICATION_FAILED = 24,
        /// Error: only one pair of selectors is acceptable.
        SINGLE_PAIR_REQUIRED = 34,
        /// Error: no more Child SAs accepted.
        NO_ADDITIONAL_SAS = 35,
        /// Error: no internal address could be assigned.
        INTERNAL_ADDRESS_FAILURE = 36,
        /// Error: a CP payload was required.
        FAILED_CP_REQUIRED = 37,
        /// Error: traffic selectors not acceptable.
        TS_UNACCEPTABLE = 38,
        /// Error: packet selectors do not match the SA.
        INVALID_SELECTORS = 39,
        /// Error: try again later (e.g. during a rekey).
        TEMPORARY_FAILURE = 43,
        /// Error: the Child SA to rekey does not exist.
        CHILD_SA_NOT_FOUND = 44,
        /// Status: this is the only IKE SA between us.
        INITIAL_CONTACT = 16384,
        /// Status: window size.
        SET_WINDOW_SIZE = 16385,
        /// Status: more selectors possible.
        ADDITIONAL_TS_POSSIBLE = 16386,
        /// Status: IPComp supported.
        IPCOMP_SUPPORTED = 16387,
        /// Status: NAT detection hash of the sender's address.
        NAT_DETECTION_SOURCE_IP = 16388,
        /// Status: NAT detection hash of the receiver's address.
        NAT_DETECTION_DESTINATION_IP = 16389,
        /// Status: stateless cookie.
        COOKIE = 16390,
        /// Status: transport mode requested.
        USE_TRANSPORT_MODE = 16391,
        /// Status: HTTP certificate lookup.
        HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        /// Status: the Child SA being rekeyed (SPI in the notify).
        REKEY_SA = 16393,
        /// Status: TFC padding not supported.
        ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        /// Status: non-first fragments.
        NON_FIRST_FRAGMENTS_ALSO = 16395,
        /// Status: MOBIKE supported.
        MOBIKE_SUPPORTED = 16396,
        /// Status: IKE fragmentation supported (RFC 7383).
        IKEV2_FRAGMENTATION_SUPPORTED = 16430,
        /// Status: signature hash algorithms (RFC 7427).
        SIGNATURE_HASH_ALGORITHMS = 16431,
    }
}

impl NotifyType {
    /// Error types are below 16384 (RFC 7296 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

code_point! {
    /// Security protocol identifiers (RFC 7296 3.3.1).
    ProtocolId(u8) {
        /// Not an SA (used in Notify payloads about the IKE SA).
        NONE = 0,
        /// IKE.
        IKE = 1,
        /// AH.
        AH = 2,
        /// ESP.
        ESP = 3,
    }
}

code_point! {
    /// Identification types (RFC 7296 3.5).
    IdType(u8) {
        /// A single IPv4 address.
        ID_IPV4_ADDR = 1,
        /// A fully qualified domain name.
        ID_FQDN = 2,
        /// An RFC 822 email address.
        ID_RFC822_ADDR = 3,
        /// A single IPv6 address.
        ID_IPV6_ADDR = 5,
        /// An ASN.1 DER distinguished name.
        ID_DER_ASN1_DN = 9,
        /// An ASN.1 DER general name.
        ID_DER_ASN1_GN = 10,
        /// An opaque key ID.
        ID_KEY_ID = 11,
    }
}

code_point! {
    /// Authentication methods (RFC 7296 3.8).
    AuthMethod(u8) {
        /// RSA digital signature.
        RSA_DIGITAL_SIGNATURE = 1,
        /// Shared key message integrity code.
        SHARED_KEY_MIC = 2,
        /// DSS digital signature.
        DSS_DIGITAL_SIGNATURE = 3,
        /// Digital signature (RFC 7427).
        DIGITAL_SIGNATURE = 14,
    }
}

/// Length of the generic payload header (RFC 7296 3.2).
pub const GENERIC_PAYLOAD_HEADER_LEN: usize = 4;
