//! NOTIFICATION error codes and subcodes (RFC 4271 4.5, RFC 5492, RFC 4486, RFC 6608,
//! RFC 7313, RFC 8538) and their names.

use std::fmt;

/// Error Code values.
pub mod error_code {
    /// Message Header Error.
    pub const MESSAGE_HEADER_ERROR: u8 = 1;
    /// OPEN Message Error.
    pub const OPEN_MESSAGE_ERROR: u8 = 2;
    /// UPDATE Message Error.
    pub const UPDATE_MESSAGE_ERROR: u8 = 3;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FINITE_STATE_MACHINE_ERROR: u8 = 5;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// ROUTE-REFRESH Message Error (RFC 7313).
    pub const ROUTE_REFRESH_MESSAGE_ERROR: u8 = 7;
}

/// Message Header Error subcodes.
pub mod header_error {
    /// Connection Not Synchronized (the marker is not all ones).
    pub const CONNECTION_NOT_SYNCHRONIZED: u8 = 1;
    /// Bad Message Length.
    pub const BAD_MESSAGE_LENGTH: u8 = 2;
    /// Bad Message Type.
    pub const BAD_MESSAGE_TYPE: u8 = 3;
}

/// OPEN Message Error subcodes.
pub mod open_error {
    /// Unsupported Version Number.
    pub const UNSUPPORTED_VERSION_NUMBER: u8 = 1;
    /// Bad Peer AS.
    pub const BAD_PEER_AS: u8 = 2;
    /// Bad BGP Identifier.
    pub const BAD_BGP_IDENTIFIER: u8 = 3;
    /// Unsupported Optional Parameter.
    pub const UNSUPPORTED_OPTIONAL_PARAMETER: u8 = 4;
    /// Unacceptable Hold Time.
    pub const UNACCEPTABLE_HOLD_TIME: u8 = 6;
    /// Unsupported Capability (RFC 5492).
    pub const UNSUPPORTED_CAPABILITY: u8 = 7;
}

/// UPDATE Message Error subcodes.
pub mod update_error {
    /// Malformed Attribute List.
    pub const MALFORMED_ATTRIBUTE_LIST: u8 = 1;
    /// Unrecognized Well-known Attribute.
    pub const UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: u8 = 2;
    /// Missing Well-known Attribute.
    pub const MISSING_WELL_KNOWN_ATTRIBUTE: u8 = 3;
    /// Attribute Flags Error.
    pub const ATTRIBUTE_FLAGS_ERROR: u8 = 4;
    /// Attribute Length Error.
    pub const ATTRIBUTE_LENGTH_ERROR: u8 = 5;
    /// Invalid ORIGIN Attribute.
    pub const INVALID_ORIGIN_ATTRIBUTE: u8 = 6;
    /// Invalid NEXT_HOP Attribute.
    pub const INVALID_NEXT_HOP_ATTRIBUTE: u8 = 8;
    /// Optional Attribute Error.
    pub const OPTIONAL_ATTRIBUTE_ERROR: u8 = 9;
    /// Invalid Network Field.
    pub const INVALID_NETWORK_FIELD: u8 = 10;
    /// Malformed AS_PATH.
    pub const MALFORMED_AS_PATH: u8 = 11;
}

/// Finite State Machine Error subcodes (RFC 6608).
pub mod fsm_error {
    /// Receive Unexpected Message in OpenSent State.
    pub const UNEXPECTED_MESSAGE_IN_OPEN_SENT: u8 = 1;
    /// Receive Unexpected Message in OpenConfirm State.
    pub const UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM: u8 = 2;
    /// Receive Unexpected Message in Established State.
    pub const UNEXPECTED_MESSAGE_IN_ESTABLISHED: u8 = 3;
}

/// Cease subcodes (RFC 4486, RFC 8538).
pub mod cease {
    /// Maximum Number of Prefixes Reached.
    pub const MAXIMUM_NUMBER_OF_PREFIXES_REACHED: u8 = 1;
    /// Administrative Shutdown.
    pub const ADMINISTRATIVE_SHUTDOWN: u8 = 2;
    /// Peer De-configured.
    pub const PEER_DE_CONFIGURED: u8 = 3;
    /// Administrative Reset.
    pub const ADMINISTRATIVE_RESET: u8 = 4;
    /// Connection Rejected.
    pub const CONNECTION_REJECTED: u8 = 5;
    /// Other Configuration Change.
    pub const OTHER_CONFIGURATION_CHANGE: u8 = 6;
    /// Connection Collision Resolution.
    pub const CONNECTION_COLLISION_RESOLUTION: u8 = 7;
    /// Out of Resources.
    pub const OUT_OF_RESOURCES: u8 = 8;
    /// Hard Reset (RFC 8538).
    pub const HARD_RESET: u8 = 9;
}

/// ROUTE-REFRESH Message Error subcodes (RFC 7313).
pub mod route_refresh_error {
    /// Invalid Message Length.
    pub const INVALID_MESSAGE_LENGTH: u8 = 1;
}

/// The RFC name of an Error Code.
pub fn error_code_name(code: u8) -> &'static str {
    match code {
        error_code::MESSAGE_HEADER_ERROR => "Message Header Error",
        error_code::OPEN_MESSAGE_ERROR => "OPEN Message Error",
        error_code::UPDATE_MESSAGE_ERROR => "UPDATE Message Error",
        error_code::HOLD_TIMER_EXPIRED => "Hold Timer Expired",
        error_code::FINITE_STATE_MACHINE_ERROR => "Finite State Machine Error",
        error_code::CEASE => "Cease",
        error_code::ROUTE_REFRESH_MESSAGE_ERROR => "ROUTE-REFRESH Message Error",
        _ => "unknown error code",
    }
}

/// The RFC name of an Error Subcode, if it has one (0 is "Unspecific" for every code).
pub fn error_subcode_name(code: u8, subcode: u8) -> Option<&'static str> {
    use error_code::*;
    Some(match (code, subcode) {
        (_, 0) => "Unspecific",
        (MESSAGE_HEADER_ERROR, 1) => "Connection Not Synchronized",
        (MESSAGE_HEADER_ERROR, 2) => "Bad Message Length",
        (MESSAGE_HEADER_ERROR, 3) => "Bad Message Type",
        (OPEN_MESSAGE_ERROR, 1) => "Unsupported Version Number",
        (OPEN_MESSAGE_ERROR, 2) => "Bad Peer AS",
        (OPEN_MESSAGE_ERROR, 3) => "Bad BGP Identifier",
        (OPEN_MESSAGE_ERROR, 4) => "Unsupported Optional Parameter",
        (OPEN_MESSAGE_ERROR, 5) => "Authentication Failure (deprecated)",
        (OPEN_MESSAGE_ERROR, 6) => "Unacceptable Hold Time",
        (OPEN_MESSAGE_ERROR, 7) => "Unsupported Capability",
        (UPDATE_MESSAGE_ERROR, 1) => "Malformed Attribute List",
        (UPDATE_MESSAGE_ERROR, 2) => "Unrecognized Well-known Attribute",
        (UPDATE_MESSAGE_ERROR, 3) => "Missing Well-known Attribute",
        (UPDATE_MESSAGE_ERROR, 4) => "Attribute Flags Error",
        (UPDATE_MESSAGE_ERROR, 5) => "Attribute Length Error",
        (UPDATE_MESSAGE_ERROR, 6) => "Invalid ORIGIN Attribute",
        (UPDATE_MESSAGE_ERROR, 7) => "AS Routing Loop (deprecated)",
        (UPDATE_MESSAGE_ERROR, 8) => "Invalid NEXT_HOP Attribute",
        (UPDATE_MESSAGE_ERROR, 9) => "Optional Attribute Error",
        (UPDATE_MESSAGE_ERROR, 10) => "Invalid Network Field",
        (UPDATE_MESSAGE_ERROR, 11) => "Malformed AS_PATH",
        (FINITE_STATE_MACHINE_ERROR, 1) => "Receive Unexpected Message in OpenSent State",
        (FINITE_STATE_MACHINE_ERROR, 2) => "Receive Unexpected Message in OpenConfirm State",
        (FINITE_STATE_MACHINE_ERROR, 3) => "Receive Unexpected Message in Established State",
        (CEASE, 1) => "Maximum Number of Prefixes Reached",
        (CEASE, 2) => "Administrative Shutdown",
        (CEASE, 3) => "Peer De-configured",
        (CEASE, 4) => "Administrative Reset",
        (CEASE, 5) => "Connection Rejected",
        (CEASE, 6) => "Other Configuration Change",
        (CEASE, 7) => "Connection Collision Resolution",
        (CEASE, 8) => "Out of Resources",
        (CEASE, 9) => "Hard Reset",
        (ROUTE_REFRESH_MESSAGE_ERROR, 1) => "Invalid Message Length",
        _ => return None,
    })
}

/// A NOTIFICATION message (RFC 4271 4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NotificationMessage {
    /// Error Code.
    pub error_code: u8,
    /// Error subcode.
    pub error_subcode: u8,
    /// Data: depends on the code and subcode.
    pub data: Vec<u8>,
}

impl NotificationMessage {
    /// A notification with no data.
    pub fn new(error_code: u8, error_subcode: u8) -> Self {
        Self {
            error_code,
            error_subcode,
            data: Vec::new(),
        }
    }

    /// A notification with data.
    pub fn with_data(error_code: u8, error_subcode: u8, data: Vec<u8>) -> Self {
        Self {
            error_code,
            error_subcode,
            data,
        }
    }

    /// The Shutdown Communication of an Administrative Shutdown or Reset (RFC 9003): a
    /// length octet and UTF-8 text.
    pub fn shutdown_communication(&self) -> Option<&str> {
        if self.error_code != error_code::CEASE
            || !matches!(
                self.error_subcode,
                cease::ADMINISTRATIVE_SHUTDOWN | cease::ADMINISTRATIVE_RESET
            )
        {
            return None;
        }
        let (&len, text) = self.data.split_first()?;
        let text = text.get(..usize::from(len))?;
        std::str::from_utf8(text).ok().filter(|t| !t.is_empty())
    }
}

impl fmt::Display for NotificationMessage {
    /// `OPEN Message Error / Bad Peer AS (2/2)`, plus the shutdown message or the data in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", error_code_name(self.error_code))?;
        match error_subcode_name(self.error_code, self.error_subcode) {
            Some(name) => write!(f, " / {name}")?,
            None => write!(f, " / subcode {}", self.error_subcode)?,
        }
        write!(f, " ({}/{})", self.error_code, self.error_subcode)?;
        if let Some(text) = self.shutdown_communication() {
            write!(f, ": \"{}\"", text.escape_debug())?;
        } else if !self.data.is_empty() {
            f.write_str(", data ")?;
            for b in self.data.iter().take(32) {
                write!(f, "{b:02x}")?;
            }
            if self.data.len() > 32 {
                f.write_str("...")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let n = NotificationMessage::new(2, 2);
        assert_eq!(n.to_string(), "OPEN Message Error / Bad Peer AS (2/2)");
        let n = NotificationMessage::with_data(6, 2, b"\x0bmaintenance".to_vec());
        assert_eq!(
            n.to_string(),
            "Cease / Administrative Shutdown (6/2): \"maintenance\""
        );
        let n = NotificationMessage::with_data(1, 2, vec![0x00, 0x0f]);
        assert_eq!(
            n.to_string(),
            "Message Header Error / Bad Message Length (1/2), data 000f"
        );
        assert_eq!(
            NotificationMessage::new(4, 0).to_string(),
            "Hold Timer Expired / Unspecific (4/0)"
        );
        assert_eq!(
            NotificationMessage::new(9, 9).to_string(),
            "unknown error code / subcode 9 (9/9)"
        );
    }
}
