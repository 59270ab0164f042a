//! The per-peer BGP finite state machine (RFC 4271 8), sans-IO.
//!
//! The driver owns the TCP connection. It tells the [`Session`] what happened to it
//! ([`connected`](Session::connected), [`accept`](Session::accept),
//! [`connection_failed`](Session::connection_failed), [`closed`](Session::closed)), feeds it
//! the bytes read ([`handle_bytes`](Session::handle_bytes)) and the time
//! ([`handle_timeout`](Session::handle_timeout)), writes what
//! [`poll_transmit`](Session::poll_transmit) returns, and acts on
//! [`poll_event`](Session::poll_event): [`Event::WantConnect`] (open a TCP connection to the
//! peer's port 179, abandoning any attempt still pending) and [`Event::Disconnect`] (write out
//! the pending transmits, then close).
//!
//! # Connection collisions (RFC 4271 6.8)
//!
//! A `Session` runs one connection at a time. When the peer connects while our own
//! connection is in OpenSent or OpenConfirm, the driver makes a second `Session` from the same
//! configuration and gives it the incoming connection with [`Session::accept`]. As soon as
//! either one knows the peer's BGP Identifier ([`Session::remote_id`], set when the peer's
//! OPEN arrives), the driver calls [`resolve_collision`]`(local_id, remote_id)`:
//! [`Keep::Existing`] keeps the connection we opened and closes the incoming one with
//! [`Session::close_for_collision`]; [`Keep::New`] does the opposite, and the incoming
//! `Session` takes the place of the first. An incoming connection while Established is
//! refused (the driver just closes it), and one while Idle, Connect or Active is simply
//! handed to the session with `accept`.

use crate::attributes::{
    AsPath, AttributeError, AttributeProblem, ErrorAction, Origin, PathAttributes,
};
use crate::framer::Framer;
use crate::message::{
    encode_update, Capability, Message, MessageType, OpenMessage, RouteRefreshMessage, WireOptions,
};
use crate::notification::{cease, error_code, fsm_error, open_error, NotificationMessage};
use crate::prefix::Ipv4Prefix;
use crate::{attribute_type, AFI_IPV4, HEADER_LEN, MAX_MESSAGE_LEN, SAFI_UNICAST};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// How one BGP session with one peer behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Our AS.
    pub local_asn: u32,
    /// The peer's AS: its OPEN must carry it (else Bad Peer AS).
    pub peer_asn: u32,
    /// Our BGP Identifier.
    pub bgp_identifier: Ipv4Addr,
    /// Our address on this session: the NEXT_HOP of what we advertise.
    pub local_address: Ipv4Addr,
    /// The peer's address (for the driver's connection and route tie-breaking).
    pub peer_address: Ipv4Addr,
    /// The Hold Time we propose, in seconds: 0, or at least 3 (1 and 2 are taken as 3).
    /// The session uses the smaller of ours and the peer's. Default 30.
    pub hold_time: u16,
    /// Seconds between KEEPALIVEs; `None` for a third of the negotiated Hold Time. Never
    /// more than a third of the negotiated Hold Time. AWS uses 10 with a hold time of 30.
    pub keepalive_time: Option<u16>,
    /// ConnectRetryTime: the wait between connection attempts, and before restarting after
    /// the session went down. Default 5 s (RFC 4271 suggests 120 s; gateways want fast
    /// recovery).
    pub connect_retry_time: Duration,
    /// The Hold Time while waiting for the peer's OPEN (RFC 4271 8: "a large value",
    /// 4 minutes suggested). Default 240 s.
    pub open_hold_time: Duration,
    /// Never connect: wait for the peer to (Active state). Default false.
    pub passive: bool,
    /// Restart by itself (after [`connect_retry_time`](Self::connect_retry_time)) when the
    /// session goes down for any reason other than [`Session::stop`]. Default true.
    pub auto_restart: bool,
    /// Extra copies of our AS to prepend to what we advertise. Default 0.
    pub as_path_prepend: u8,
    /// MULTI_EXIT_DISC on what we advertise unless a route sets its own. Default none.
    pub multi_exit_disc: Option<u32>,
    /// Advertise the 4-octet AS capability (RFC 6793). Default true.
    pub four_octet_as: bool,
    /// Advertise the Route Refresh capability (RFC 2918). Default true.
    pub route_refresh: bool,
    /// Treat routes from an external peer whose AS_PATH does not start with the peer's AS as
    /// withdrawn (RFC 4271 6.3, RFC 7606 7.2). Default true; turn off for route servers.
    pub enforce_first_as: bool,
}

impl SessionConfig {
    /// The defaults, for a session from `local_asn` to `peer_asn`.
    pub fn new(
        local_asn: u32,
        peer_asn: u32,
        bgp_identifier: Ipv4Addr,
        local_address: Ipv4Addr,
        peer_address: Ipv4Addr,
    ) -> Self {
        Self {
            local_asn,
            peer_asn,
            bgp_identifier,
            local_address,
            peer_address,
            hold_time: 30,
            keepalive_time: None,
            connect_retry_time: Duration::from_secs(5),
            open_hold_time: Duration::from_secs(240),
            passive: false,
            auto_restart: true,
            as_path_prepend: 0,
            multi_exit_disc: None,
            four_octet_as: true,
            route_refresh: true,
            enforce_first_as: true,
        }
    }

    /// Whether the peer is in another AS.
    pub fn is_external(&self) -> bool {
        self.local_asn != self.peer_asn
    }
}

/// The FSM states (RFC 4271 8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not trying: refuses connections.
    Idle,
    /// Waiting for our TCP connection to complete.
    Connect,
    /// Waiting for the peer to connect (or for the ConnectRetry timer).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Exchanging routes.
    Established,
}

impl State {
    fn has_connection(self) -> bool {
        matches!(self, Self::OpenSent | Self::OpenConfirm | Self::Established)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Idle => "Idle",
            Self::Connect => "Connect",
            Self::Active => "Active",
            Self::OpenSent => "OpenSent",
            Self::OpenConfirm => "OpenConfirm",
            Self::Established => "Established",
        })
    }
}

/// Why a session went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// Nothing heard from the peer for the Hold Time; we sent Hold Timer Expired.
    HoldTimerExpired,
    /// The peer sent a NOTIFICATION (its `Display` names the code and subcode).
    NotificationReceived(NotificationMessage),
    /// The peer sent something wrong and we sent this NOTIFICATION.
    NotificationSent {
        /// What we sent.
        notification: NotificationMessage,
        /// What was wrong, for the operator.
        detail: String,
    },
    /// The peer sent a message the state does not allow; we sent a Finite State Machine
    /// Error NOTIFICATION.
    FsmError {
        /// Our state.
        state: State,
        /// The message that arrived.
        message_type: MessageType,
    },
    /// The peer sent a NOTIFICATION that does not parse (not answered, RFC 4271 6.4).
    MalformedNotification,
    /// The TCP connection was closed or failed.
    ConnectionClosed,
    /// [`Session::stop`]: we sent Cease / Administrative Shutdown.
    AdministrativeStop,
    /// This connection lost a collision (RFC 4271 6.8); the other one carries on.
    CollisionResolution,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HoldTimerExpired => f.write_str("hold timer expired"),
            Self::NotificationReceived(n) => write!(f, "NOTIFICATION received: {n}"),
            Self::NotificationSent {
                notification,
                detail,
            } => {
                write!(f, "NOTIFICATION sent: {notification} ({detail})")
            }
            Self::FsmError {
                state,
                message_type,
            } => {
                write!(
                    f,
                    "finite state machine error: unexpected {message_type} in {state}"
                )
            }
            Self::MalformedNotification => f.write_str("malformed NOTIFICATION received"),
            Self::ConnectionClosed => f.write_str("connection closed"),
            Self::AdministrativeStop => f.write_str("administratively stopped"),
            Self::CollisionResolution => f.write_str("connection collision resolution"),
        }
    }
}

/// What the driver learns from [`Session::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Open a TCP connection to the peer's port 179 (abandoning any attempt still pending),
    /// then call [`Session::connected`] or [`Session::connection_failed`].
    WantConnect,
    /// Write out what [`Session::poll_transmit`] still has, then close the connection.
    Disconnect,
    /// The session is up.
    Established {
        /// The peer's AS.
        peer_asn: u32,
        /// The peer's BGP Identifier.
        peer_id: Ipv4Addr,
        /// The negotiated Hold Time in seconds (0: no hold timer, no KEEPALIVEs).
        hold_time: u16,
        /// Seconds between our KEEPALIVEs.
        keepalive_time: u16,
        /// Both sides use 4-octet AS numbers.
        four_octet_as: bool,
        /// The peer supports ROUTE-REFRESH (and we advertised it).
        route_refresh: bool,
    },
    /// Routes from the peer. Apply `withdrawn` first: a prefix may be in both.
    Update {
        /// Prefixes announced, with their attributes (shared by the prefixes of one UPDATE).
        announced: Vec<(Ipv4Prefix, Arc<PathAttributes>)>,
        /// Prefixes withdrawn (including those of malformed UPDATEs: RFC 7606
        /// treat-as-withdraw, and of routes that loop through our AS).
        withdrawn: Vec<Ipv4Prefix>,
    },
    /// An UPDATE had malformed attributes that RFC 7606 handles without a reset: log these.
    UpdateErrors(Vec<AttributeError>),
    /// The session went down: forget the peer's routes if it was established.
    Down {
        /// Why.
        reason: DownReason,
        /// Whether it had reached Established (so routes were exchanged).
        was_established: bool,
    },
}

/// Which of two colliding connections to keep (RFC 4271 6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The connection we opened (the session that was there first).
    Existing,
    /// The connection the peer opened (the new, incoming one).
    New,
}

/// Resolves a connection collision: the connection opened by the speaker with the higher BGP
/// Identifier (compared as 4-octet unsigned integers) survives. `Existing` is the connection
/// we opened, `New` the one the peer opened. Equal identifiers (possible between external
/// peers, RFC 6286) keep the existing one.
pub fn resolve_collision(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> Keep {
    if u32::from(local_id) < u32::from(remote_id) {
        Keep::New
    } else {
        Keep::Existing
    }
}

/// A route we originate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalRoute {
    /// The prefix.
    pub prefix: Ipv4Prefix,
    /// MULTI_EXIT_DISC for it; `None` for the session's default.
    pub multi_exit_disc: Option<u32>,
}

impl From<Ipv4Prefix> for LocalRoute {
    fn from(prefix: Ipv4Prefix) -> Self {
        Self {
            prefix,
            multi_exit_disc: None,
        }
    }
}

/// An admin request the session cannot carry out.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The session is not Established.
    #[error("the session is not established")]
    NotEstablished,
    /// The peer did not advertise the Route Refresh capability (or we did not).
    #[error("route refresh was not negotiated with the peer")]
    RouteRefreshNotNegotiated,
}

/// Counters for `cgw status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages received.
    pub messages_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// UPDATEs received.
    pub updates_received: u64,
    /// UPDATEs with malformed attributes (RFC 7606 handling).
    pub malformed_updates: u64,
    /// Prefixes dropped because their AS_PATH contains our AS.
    pub looped_prefixes: u64,
    /// Times the session reached Established.
    pub established_count: u64,
}

/// What the peer's OPEN gave us.
#[derive(Debug, Clone)]
struct Negotiated {
    open: OpenMessage,
    hold_time: u16,
    keepalive_time: u16,
    route_refresh: bool,
}

/// One BGP session with one peer.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    framer: Framer,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    connect_retry_at: Option<Instant>,
    hold_at: Option<Instant>,
    keepalive_at: Option<Instant>,
    restart_at: Option<Instant>,
    negotiated: Option<Negotiated>,
    wire: WireOptions,
    /// Adj-RIB-Out: what we advertise, with the MED override of each.
    adj_rib_out: BTreeMap<Ipv4Prefix, Option<u32>>,
    /// [`Session::stop`] was called (and not [`Session::start`] since).
    stopped: bool,
    stats: SessionStats,
}

impl Session {
    /// A session in Idle; call [`start`](Self::start).
    pub fn new(mut config: SessionConfig) -> Self {
        if matches!(config.hold_time, 1 | 2) {
            config.hold_time = 3;
        }
        Self {
            config,
            state: State::Idle,
            framer: Framer::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            connect_retry_at: None,
            hold_at: None,
            keepalive_at: None,
            restart_at: None,
            negotiated: None,
            wire: WireOptions::default(),
            adj_rib_out: BTreeMap::new(),
            stopped: false,
            stats: SessionStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The FSM state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the session is Established.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// The peer's BGP Identifier, once its OPEN has arrived on this connection.
    pub fn remote_id(&self) -> Option<Ipv4Addr> {
        self.negotiated.as_ref().map(|n| n.open.bgp_identifier)
    }

    /// The peer's OPEN on this connection, once it has arrived.
    pub fn peer_open(&self) -> Option<&OpenMessage> {
        self.negotiated.as_ref().map(|n| &n.open)
    }

    /// The codec options in force (4-octet AS once negotiated).
    pub fn wire_options(&self) -> WireOptions {
        self.wire
    }

    /// The Adj-RIB-Out: the prefixes we advertise (or will, once Established).
    pub fn advertised(&self) -> impl Iterator<Item = LocalRoute> + '_ {
        self.adj_rib_out
            .iter()
            .map(|(&prefix, &multi_exit_disc)| LocalRoute {
                prefix,
                multi_exit_disc,
            })
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// ManualStart: leave Idle and connect (or, if passive, wait for the peer).
    pub fn start(&mut self, now: Instant) {
        self.restart_at = None;
        self.stopped = false;
        if self.state != State::Idle {
            return;
        }
        self.begin(now);
    }

    /// ManualStop: sends Cease / Administrative Shutdown if connected, and goes Idle for good
    /// (until [`start`](Self::start)).
    pub fn stop(&mut self, now: Instant) {
        match self.state {
            State::OpenSent | State::OpenConfirm | State::Established => {
                let n = NotificationMessage::new(error_code::CEASE, cease::ADMINISTRATIVE_SHUTDOWN);
                self.go_down(now, DownReason::AdministrativeStop, Some(n), true);
            }
            State::Connect => self.events.push_back(Event::Disconnect),
            State::Active | State::Idle => {}
        }
        self.state = State::Idle;
        self.clear_timers();
        self.restart_at = None;
        self.stopped = true;
    }

    /// Our outgoing TCP connection to the peer is up: sends OPEN. Returns false (and the
    /// driver should close the connection) unless the session was in Connect or Active.
    pub fn connected(&mut self, now: Instant) -> bool {
        if !matches!(self.state, State::Connect | State::Active) {
            return false;
        }
        self.open_connection(now);
        true
    }

    /// The driver accepted a TCP connection from the peer: sends OPEN. Valid in Idle (also
    /// how the driver starts the second session of a collision), Connect (our own attempt is
    /// abandoned) and Active. Returns false (refuse the connection) in the other states and
    /// after [`stop`](Self::stop).
    pub fn accept(&mut self, now: Instant) -> bool {
        if self.state.has_connection() || self.stopped {
            return false;
        }
        self.restart_at = None;
        self.open_connection(now);
        true
    }

    /// Our connection attempt failed: wait ConnectRetryTime in Active, then try again.
    pub fn connection_failed(&mut self, now: Instant) {
        if self.state == State::Connect {
            self.state = State::Active;
            self.connect_retry_at = now.checked_add(self.config.connect_retry_time);
        }
    }

    /// The peer closed the TCP connection (or it failed).
    pub fn closed(&mut self, now: Instant) {
        match self.state {
            State::Connect => self.connection_failed(now),
            State::OpenSent | State::OpenConfirm | State::Established => {
                self.go_down(now, DownReason::ConnectionClosed, None, false)
            }
            State::Idle | State::Active => {}
        }
    }

    /// This connection lost a collision (see [`resolve_collision`]): sends Cease /
    /// Connection Collision Resolution, closes, and stays Idle.
    pub fn close_for_collision(&mut self, now: Instant) {
        if self.state.has_connection() {
            let n =
                NotificationMessage::new(error_code::CEASE, cease::CONNECTION_COLLISION_RESOLUTION);
            self.go_down(now, DownReason::CollisionResolution, Some(n), true);
        } else if self.state == State::Connect {
            self.events.push_back(Event::Disconnect);
        }
        self.state = State::Idle;
        self.clear_timers();
        self.restart_at = None;
    }

    /// Bytes read from the connection.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8]) {
        if !self.state.has_connection() {
            return;
        }
        self.framer.push(data);
        while self.state.has_connection() {
            let frame = match self.framer.next_message() {
                None => break,
                Some(Ok(f)) => f,
                Some(Err(e)) => {
                    let detail = e.to_string();
                    self.notify_and_go_down(now, e.notification(), detail);
                    break;
                }
            };
            self.stats.messages_received += 1;
            match Message::decode(&frame, &self.wire) {
                Ok(m) => self.handle_message(now, m),
                // A NOTIFICATION is never answered with one (RFC 4271 6.4).
                Err(_) if frame.get(18) == Some(&(MessageType::Notification as u8)) => {
                    self.go_down(now, DownReason::MalformedNotification, None, true)
                }
                Err(e) => {
                    let detail = e.to_string();
                    self.notify_and_go_down(now, e.notification(), detail);
                }
            }
        }
    }

    /// Runs the timers that are due: connection retries, restarts, the Hold Timer, KEEPALIVEs.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.restart_at.is_some_and(|t| t <= now) {
            self.restart_at = None;
            if self.state == State::Idle {
                self.begin(now);
            }
        }
        if self.connect_retry_at.is_some_and(|t| t <= now) {
            self.connect_retry_at = None;
            if matches!(self.state, State::Connect | State::Active) {
                self.try_connect(now);
            }
        }
        if self.hold_at.is_some_and(|t| t <= now) {
            self.hold_at = None;
            if self.state.has_connection() {
                let n = NotificationMessage::new(error_code::HOLD_TIMER_EXPIRED, 0);
                self.go_down(now, DownReason::HoldTimerExpired, Some(n), true);
            }
        }
        if self.keepalive_at.is_some_and(|t| t <= now) {
            self.keepalive_at = None;
            if matches!(self.state, State::OpenConfirm | State::Established) {
                self.send(&Message::Keepalive);
                self.arm_keepalive(now);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry_at,
            self.hold_at,
            self.keepalive_at,
            self.restart_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next bytes to write to the connection.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Adds routes to the Adj-RIB-Out (or changes their MED) and, if Established, sends
    /// UPDATEs for those that changed. Our attributes: ORIGIN IGP, AS_PATH our AS (plus the
    /// configured prepends; empty towards an internal peer), NEXT_HOP our address on this
    /// session, the MED if any (and LOCAL_PREF 100 towards an internal peer).
    pub fn advertise(&mut self, now: Instant, routes: &[LocalRoute]) {
        let mut changed = Vec::new();
        for r in routes {
            if self.adj_rib_out.insert(r.prefix, r.multi_exit_disc) != Some(r.multi_exit_disc) {
                changed.push(*r);
            }
        }
        if self.state == State::Established && !changed.is_empty() {
            self.send_routes(now, &changed);
        }
    }

    /// Removes prefixes from the Adj-RIB-Out and, if Established, withdraws them.
    pub fn withdraw(&mut self, now: Instant, prefixes: &[Ipv4Prefix]) {
        let gone: Vec<Ipv4Prefix> = prefixes
            .iter()
            .filter(|p| self.adj_rib_out.remove(p).is_some())
            .copied()
            .collect();
        if self.state == State::Established && !gone.is_empty() {
            let room = MAX_MESSAGE_LEN - HEADER_LEN - 4;
            for chunk in pack(&gone, room) {
                if let Ok(m) = encode_update(chunk, &[], &[]) {
                    self.send_bytes(m);
                }
            }
            self.arm_keepalive(now);
        }
    }

    /// Asks the peer to send all its routes again (ROUTE-REFRESH for IPv4 unicast).
    pub fn request_refresh(&mut self) -> Result<(), SessionError> {
        if self.state != State::Established {
            return Err(SessionError::NotEstablished);
        }
        if !self.negotiated.as_ref().is_some_and(|n| n.route_refresh) {
            return Err(SessionError::RouteRefreshNotNegotiated);
        }
        self.send(&Message::RouteRefresh(RouteRefreshMessage::ipv4_unicast()));
        Ok(())
    }

    // --- internals ---

    fn begin(&mut self, now: Instant) {
        if self.config.passive {
            self.state = State::Active;
        } else {
            self.try_connect(now);
        }
    }

    fn try_connect(&mut self, now: Instant) {
        self.state = State::Connect;
        self.events.push_back(Event::WantConnect);
        self.connect_retry_at = now.checked_add(self.config.connect_retry_time);
    }

    fn open_connection(&mut self, now: Instant) {
        self.framer.clear();
        self.clear_timers();
        self.negotiated = None;
        self.wire = WireOptions::default();
        let mut caps = vec![Capability::Multiprotocol {
            afi: AFI_IPV4,
            safi: SAFI_UNICAST,
        }];
        if self.config.route_refresh {
            caps.push(Capability::RouteRefresh);
        }
        if self.config.four_octet_as {
            caps.push(Capability::FourOctetAs {
                asn: self.config.local_asn,
            });
        }
        let open = OpenMessage::new(
            self.config.local_asn,
            self.config.hold_time,
            self.config.bgp_identifier,
            caps,
        );
        self.send(&Message::Open(open));
        self.hold_at = now.checked_add(self.config.open_hold_time);
        self.state = State::OpenSent;
    }

    fn clear_timers(&mut self) {
        self.connect_retry_at = None;
        self.hold_at = None;
        self.keepalive_at = None;
    }

    fn arm_keepalive(&mut self, now: Instant) {
        if let Some(n) = &self.negotiated {
            if n.keepalive_time > 0 {
                self.keepalive_at = now.checked_add(Duration::from_secs(n.keepalive_time.into()));
            }
        }
    }

    fn arm_hold(&mut self, now: Instant) {
        if let Some(n) = &self.negotiated {
            self.hold_at = match n.hold_time {
                0 => None,
                h => now.checked_add(Duration::from_secs(h.into())),
            };
        }
    }

    fn send(&mut self, m: &Message) {
        if let Ok(bytes) = m.encode(&self.wire) {
            self.send_bytes(bytes);
        }
    }

    fn send_bytes(&mut self, bytes: Vec<u8>) {
        self.stats.messages_sent += 1;
        self.transmits.push_back(bytes);
    }

    /// Sends `notification` (its data cut to fit a message), then goes down.
    fn notify_and_go_down(
        &mut self,
        now: Instant,
        mut notification: NotificationMessage,
        detail: String,
    ) {
        notification.data.truncate(MAX_MESSAGE_LEN - HEADER_LEN - 2);
        let reason = DownReason::NotificationSent {
            notification: notification.clone(),
            detail,
        };
        self.go_down(now, reason, Some(notification), true);
    }

    /// Leaves the connection: optional NOTIFICATION, Down, Disconnect (unless the driver
    /// told us it is closed), Idle, and the restart timer if configured.
    fn go_down(
        &mut self,
        now: Instant,
        reason: DownReason,
        notification: Option<NotificationMessage>,
        disconnect: bool,
    ) {
        if let Some(mut n) = notification {
            n.data.truncate(MAX_MESSAGE_LEN - HEADER_LEN - 2);
            self.send(&Message::Notification(n));
        }
        let was_established = self.state == State::Established;
        self.events.push_back(Event::Down {
            reason,
            was_established,
        });
        if disconnect {
            self.events.push_back(Event::Disconnect);
        }
        self.state = State::Idle;
        self.clear_timers();
        self.framer.clear();
        self.negotiated = None;
        self.wire = WireOptions::default();
        self.restart_at = match self.config.auto_restart {
            true => now.checked_add(self.config.connect_retry_time),
            false => None,
        };
    }

    fn fsm_error(&mut self, now: Instant, message_type: MessageType) {
        let subcode = match self.state {
            State::OpenSent => fsm_error::UNEXPECTED_MESSAGE_IN_OPEN_SENT,
            State::OpenConfirm => fsm_error::UNEXPECTED_MESSAGE_IN_OPEN_CONFIRM,
            _ => fsm_error::UNEXPECTED_MESSAGE_IN_ESTABLISHED,
        };
        let n = NotificationMessage::new(error_code::FINITE_STATE_MACHINE_ERROR, subcode);
        let reason = DownReason::FsmError {
            state: self.state,
            message_type,
        };
        self.go_down(now, reason, Some(n), true);
    }

    fn handle_message(&mut self, now: Instant, m: Message) {
        match (self.state, m) {
            (_, Message::Notification(n)) => {
                self.go_down(now, DownReason::NotificationReceived(n), None, true);
            }
            (State::OpenSent, Message::Open(open)) => self.handle_open(now, open),
            (State::OpenConfirm, Message::Keepalive) => {
                self.state = State::Established;
                self.stats.established_count += 1;
                self.arm_hold(now);
                let Some(n) = self.negotiated.as_ref() else {
                    // Unreachable: OpenConfirm is only entered with the peer's OPEN.
                    return self.fsm_error(now, MessageType::Keepalive);
                };
                self.events.push_back(Event::Established {
                    peer_asn: n.open.asn(),
                    peer_id: n.open.bgp_identifier,
                    hold_time: n.hold_time,
                    keepalive_time: n.keepalive_time,
                    four_octet_as: self.wire.four_octet_as,
                    route_refresh: n.route_refresh,
                });
                let all: Vec<LocalRoute> = self.advertised().collect();
                if !all.is_empty() {
                    self.send_routes(now, &all);
                }
            }
            (State::Established, Message::Keepalive) => self.arm_hold(now),
            (State::Established, Message::Update(u)) => {
                self.arm_hold(now);
                self.handle_update(u);
            }
            (State::Established, Message::RouteRefresh(rr)) => {
                self.arm_hold(now);
                // Only plain requests for what we negotiated (RFC 2918 4, RFC 7313 5).
                if self.config.route_refresh && rr == RouteRefreshMessage::ipv4_unicast() {
                    let all: Vec<LocalRoute> = self.advertised().collect();
                    if !all.is_empty() {
                        self.send_routes(now, &all);
                    }
                }
            }
            (_, m) => self.fsm_error(now, m.message_type()),
        }
    }

    fn handle_open(&mut self, now: Instant, open: OpenMessage) {
        let peer_asn = open.asn();
        let bad = |sub, detail: String| {
            (
                NotificationMessage::new(error_code::OPEN_MESSAGE_ERROR, sub),
                detail,
            )
        };
        let error = if peer_asn != self.config.peer_asn {
            Some(bad(
                open_error::BAD_PEER_AS,
                format!(
                    "the peer is AS {peer_asn}, configured AS {}",
                    self.config.peer_asn
                ),
            ))
        } else if matches!(open.hold_time, 1 | 2) {
            Some(bad(
                open_error::UNACCEPTABLE_HOLD_TIME,
                format!("hold time {} s", open.hold_time),
            ))
        } else if open.bgp_identifier.is_unspecified()
            || (!self.config.is_external() && open.bgp_identifier == self.config.bgp_identifier)
        {
            Some(bad(
                open_error::BAD_BGP_IDENTIFIER,
                format!("BGP identifier {}", open.bgp_identifier),
            ))
        } else {
            None
        };
        if let Some((n, detail)) = error {
            self.notify_and_go_down(now, n, detail);
            return;
        }
        let hold_time = self.config.hold_time.min(open.hold_time);
        let keepalive_time = if hold_time == 0 {
            0
        } else {
            self.config
                .keepalive_time
                .unwrap_or(hold_time / 3)
                .clamp(1, (hold_time / 3).max(1))
        };
        self.wire = WireOptions {
            four_octet_as: self.config.four_octet_as && open.four_octet_as().is_some(),
            external_peer: self.config.is_external(),
        };
        self.negotiated = Some(Negotiated {
            route_refresh: self.config.route_refresh && open.route_refresh(),
            open,
            hold_time,
            keepalive_time,
        });
        self.send(&Message::Keepalive);
        self.arm_keepalive(now);
        self.arm_hold(now);
        self.state = State::OpenConfirm;
    }

    fn handle_update(&mut self, u: crate::UpdateMessage) {
        self.stats.updates_received += 1;
        let mut errors = u.attribute_errors.clone();
        let mut withdrawn = u.withdrawn_routes;
        let mut announced = Vec::new();
        if !u.nlri.is_empty() {
            let usable = match u.path_attributes {
                Some(attrs)
                    if errors
                        .iter()
                        .all(|e| e.action != ErrorAction::TreatAsWithdraw) =>
                {
                    match self.check_route(&attrs) {
                        Some(e) => {
                            errors.push(e);
                            None
                        }
                        None if self.config.is_external()
                            && attrs.as_path.contains(self.config.local_asn) =>
                        {
                            self.stats.looped_prefixes += u.nlri.len() as u64;
                            None
                        }
                        None => Some(attrs),
                    }
                }
                _ => None,
            };
            match usable {
                Some(attrs) => {
                    let attrs = Arc::new(attrs);
                    announced = u
                        .nlri
                        .into_iter()
                        .map(|p| (p, Arc::clone(&attrs)))
                        .collect();
                }
                None => withdrawn.extend(u.nlri),
            }
        }
        if !errors.is_empty() {
            self.stats.malformed_updates += 1;
            self.events.push_back(Event::UpdateErrors(errors));
        }
        if !announced.is_empty() || !withdrawn.is_empty() {
            self.events.push_back(Event::Update {
                announced,
                withdrawn,
            });
        }
    }

    /// Checks that need the session: the first AS of an external peer's path, and a
    /// NEXT_HOP that is not our own address (RFC 4271 6.3; treat-as-withdraw per RFC 7606).
    fn check_route(&self, attrs: &PathAttributes) -> Option<AttributeError> {
        if self.config.is_external()
            && self.config.enforce_first_as
            && attrs.as_path.neighbor_as() != Some(self.config.peer_asn)
        {
            return Some(AttributeError {
                type_code: attribute_type::AS_PATH,
                problem: AttributeProblem::MalformedAsPath,
                action: ErrorAction::TreatAsWithdraw,
            });
        }
        if attrs.next_hop == self.config.local_address {
            return Some(AttributeError {
                type_code: attribute_type::NEXT_HOP,
                problem: AttributeProblem::InvalidNextHop(attrs.next_hop),
                action: ErrorAction::TreatAsWithdraw,
            });
        }
        None
    }

    /// The attributes we put on a route we originate.
    fn local_attributes(&self, med: Option<u32>) -> PathAttributes {
        let mut as_path = AsPath::empty();
        let external = self.config.is_external();
        if external {
            as_path.prepend(
                self.config.local_asn,
                1 + usize::from(self.config.as_path_prepend),
            );
        }
        let mut a = PathAttributes::new(Origin::Igp, as_path, self.config.local_address);
        a.multi_exit_disc = med.or(self.config.multi_exit_disc);
        a.local_pref = (!external).then_some(crate::rib::DEFAULT_LOCAL_PREF);
        a
    }

    /// Sends UPDATEs announcing `routes`, one attribute set per MED, packed to 4096 octets.
    fn send_routes(&mut self, now: Instant, routes: &[LocalRoute]) {
        let mut by_med: BTreeMap<Option<u32>, Vec<Ipv4Prefix>> = BTreeMap::new();
        for r in routes {
            by_med.entry(r.multi_exit_disc).or_default().push(r.prefix);
        }
        for (med, prefixes) in by_med {
            let mut attrs = Vec::new();
            if self
                .local_attributes(med)
                .encode(&self.wire, &mut attrs)
                .is_err()
            {
                continue;
            }
            let room = MAX_MESSAGE_LEN.saturating_sub(HEADER_LEN + 4 + attrs.len());
            for chunk in pack(&prefixes, room) {
                if let Ok(m) = encode_update(&[], &attrs, chunk) {
                    self.send_bytes(m);
                }
            }
        }
        self.arm_keepalive(now);
    }
}

/// Splits prefixes into runs whose encoding fits in `room` octets.
fn pack(prefixes: &[Ipv4Prefix], room: usize) -> Vec<&[Ipv4Prefix]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, p) in prefixes.iter().enumerate() {
        if used + p.encoded_len() > room && i > start {
            out.push(&prefixes[start..i]);
            start = i;
            used = 0;
        }
        used += p.encoded_len();
    }
    if start < prefixes.len() {
        out.push(&prefixes[start..]);
    }
    out
}
