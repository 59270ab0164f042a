//! One BGP peer over up to two TCP connections: the session and, while a connection
//! collision (RFC 4271 6.8) is being resolved, the second one.
//!
//! [`Session`] runs one connection. When the peer connects while our own connection is in
//! OpenSent or OpenConfirm, RFC 4271 6.8 wants both to continue until one side's OPEN shows
//! the peer's BGP Identifier, and then keeps the connection opened by the speaker with the
//! higher identifier. [`Peer`] does that bookkeeping sans-IO: the driver names its TCP
//! connections with [`ConnId`]s, feeds bytes and closes per connection, and writes what
//! [`Peer::poll_transmit`] returns to the connection it names.

use crate::session::{resolve_collision, Event, Keep, Session, SessionConfig};
use crate::LocalRoute;
use std::collections::VecDeque;
use std::time::Instant;

/// The driver's name for one TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub u64);

/// What the driver must do or know.
#[derive(Debug)]
pub enum PeerEvent {
    /// Open a TCP connection to the peer, then call [`Peer::connected`] or
    /// [`Peer::connection_failed`].
    WantConnect,
    /// Write out what is queued for this connection, then close it.
    Close(ConnId),
    /// A session event: `Established`, `Update`, `UpdateErrors`, `Down`.
    Session(Event),
}

/// A BGP peer: its session, and a colliding incoming connection while one exists.
#[derive(Debug)]
pub struct Peer {
    config: SessionConfig,
    main: Session,
    /// The connection `main` runs on.
    main_conn: Option<ConnId>,
    /// An incoming connection that collided with ours, with its own session.
    incoming: Option<(ConnId, Session)>,
    events: VecDeque<PeerEvent>,
    transmits: VecDeque<(ConnId, Vec<u8>)>,
    /// Collisions resolved so far.
    collisions: u64,
}

impl Peer {
    /// A peer with this session configuration (not started).
    pub fn new(config: SessionConfig) -> Self {
        Self {
            main: Session::new(config.clone()),
            config,
            main_conn: None,
            incoming: None,
            events: VecDeque::new(),
            transmits: VecDeque::new(),
            collisions: 0,
        }
    }

    /// The session (the surviving one after a collision).
    pub fn session(&self) -> &Session {
        &self.main
    }

    /// How many connection collisions were resolved.
    pub fn collisions(&self) -> u64 {
        self.collisions
    }

    /// Starts the session.
    pub fn start(&mut self, now: Instant) {
        self.main.start(now);
        self.pump(now);
    }

    /// Stops it (Cease on an open connection); a colliding connection is closed too.
    pub fn stop(&mut self, now: Instant) {
        self.main.stop(now);
        if let Some((c, mut s)) = self.incoming.take() {
            s.stop(now);
            self.drain_loser(c, &mut s);
        }
        self.pump(now);
    }

    /// Advertises `routes` on the session.
    pub fn advertise(&mut self, now: Instant, routes: &[LocalRoute]) {
        self.main.advertise(now, routes);
        self.pump(now);
    }

    /// Our outgoing connection `conn` is up. False: close it (the session no longer wants it).
    pub fn connected(&mut self, now: Instant, conn: ConnId) -> bool {
        if self.main_conn.is_some() || !self.main.connected(now) {
            return false;
        }
        self.main_conn = Some(conn);
        self.pump(now);
        true
    }

    /// Our connection attempt failed.
    pub fn connection_failed(&mut self, now: Instant) {
        self.main.connection_failed(now);
        self.pump(now);
    }

    /// The peer connected to us on `conn`. False: close it. Without a connection of ours the
    /// session takes it (abandoning our own attempt); while ours is in OpenSent or
    /// OpenConfirm a second session runs on it until the collision is resolved; against an
    /// established session, or a second collision, it is refused.
    pub fn accept(&mut self, now: Instant, conn: ConnId) -> bool {
        if self.main_conn.is_none() {
            if !self.main.accept(now) {
                return false;
            }
            self.main_conn = Some(conn);
        } else {
            if self.main.is_established() || self.incoming.is_some() {
                return false;
            }
            let mut s = Session::new(self.config.clone());
            if !s.accept(now) {
                return false;
            }
            self.incoming = Some((conn, s));
        }
        self.pump(now);
        true
    }

    /// Bytes read from `conn`.
    pub fn handle_bytes(&mut self, now: Instant, conn: ConnId, data: &[u8]) {
        if self.main_conn == Some(conn) {
            self.main.handle_bytes(now, data);
        } else if let Some((c, s)) = self.incoming.as_mut() {
            if *c == conn {
                s.handle_bytes(now, data);
            }
        }
        self.pump(now);
    }

    /// `conn` was closed by the peer (or failed).
    pub fn closed(&mut self, now: Instant, conn: ConnId) {
        if self.main_conn == Some(conn) {
            self.main_conn = None;
            self.main.closed(now);
            // The colliding connection carries on as the session, if it is still open.
            if let Some((c, s)) = self.incoming.take() {
                self.main = s;
                self.main_conn = Some(c);
            }
        } else if self.incoming.as_ref().is_some_and(|(c, _)| *c == conn) {
            self.incoming = None;
        }
        self.pump(now);
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.main.handle_timeout(now);
        if let Some((_, s)) = self.incoming.as_mut() {
            s.handle_timeout(now);
        }
        self.pump(now);
    }

    /// The earliest timer of either session.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let a = self.main.poll_timeout();
        let b = self.incoming.as_ref().and_then(|(_, s)| s.poll_timeout());
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes to write to a connection.
    pub fn poll_transmit(&mut self) -> Option<(ConnId, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// Resolves a collision once the incoming session knows the peer's identifier, then
    /// moves both sessions' output into the queues.
    fn pump(&mut self, now: Instant) {
        let remote = self.incoming.as_ref().and_then(|(_, s)| s.remote_id());
        if let Some(remote) = remote {
            // An established session always wins (RFC 4271 6.8).
            let keep = if self.main.is_established() {
                Keep::Existing
            } else {
                resolve_collision(self.config.bgp_identifier, remote)
            };
            let (conn, mut incoming) = self.incoming.take().expect("checked");
            self.collisions += 1;
            match keep {
                Keep::Existing => {
                    incoming.close_for_collision(now);
                    self.drain_loser(conn, &mut incoming);
                }
                Keep::New => {
                    self.main.close_for_collision(now);
                    let mut loser = std::mem::replace(&mut self.main, incoming);
                    let loser_conn = self.main_conn.replace(conn);
                    if let Some(lc) = loser_conn {
                        self.drain_loser(lc, &mut loser);
                    }
                }
            }
        }
        if let Some((conn, s)) = self.incoming.as_mut() {
            let conn = *conn;
            while let Some(b) = s.poll_transmit() {
                self.transmits.push_back((conn, b));
            }
            let mut gone = false;
            while let Some(e) = s.poll_event() {
                // Until it wins, the incoming session's only news worth passing on is that
                // its connection is over.
                if matches!(e, Event::Disconnect | Event::Down { .. }) {
                    gone = true;
                }
            }
            if gone {
                self.incoming = None;
                self.events.push_back(PeerEvent::Close(conn));
            }
        }
        while let Some(b) = self.main.poll_transmit() {
            if let Some(c) = self.main_conn {
                self.transmits.push_back((c, b));
            }
        }
        while let Some(e) = self.main.poll_event() {
            match e {
                Event::WantConnect => self.events.push_back(PeerEvent::WantConnect),
                Event::Disconnect => {
                    if let Some(c) = self.main_conn.take() {
                        self.events.push_back(PeerEvent::Close(c));
                    }
                }
                e => self.events.push_back(PeerEvent::Session(e)),
            }
        }
    }

    /// The losing session's last words (its Cease) go out on its connection, which closes.
    fn drain_loser(&mut self, conn: ConnId, s: &mut Session) {
        while let Some(b) = s.poll_transmit() {
            self.transmits.push_back((conn, b));
        }
        while s.poll_event().is_some() {}
        self.events.push_back(PeerEvent::Close(conn));
    }
}
