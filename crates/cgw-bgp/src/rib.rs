//! Adj-RIB-In per session and the Loc-RIB: the best path per prefix across sessions
//! (RFC 4271 9.1), optionally with equal-cost multipath.
//!
//! Route selection, in order (each step keeps only the paths that tie on it):
//! 1. highest degree of preference: the session's inbound LOCAL_PREF policy, else for
//!    external peers [`RibConfig::default_local_pref`], for internal ones the received
//!    LOCAL_PREF (or the default);
//! 2. shortest AS_PATH (an AS_SET counts one);
//! 3. lowest ORIGIN (IGP < EGP < incomplete);
//! 4. lowest MULTI_EXIT_DISC (missing = 0), compared only between paths from the same
//!    neighbouring AS (first AS of the path) unless [`RibConfig::always_compare_med`];
//! 5. external over internal peers;
//!
//! the paths left are equal-cost (returned together with [`RibConfig::ecmp`]); they are
//! ordered, and without ECMP the first chosen, by
//! 6. oldest path (fewer best-path flaps, RFC 5004; a path's age restarts when its
//!    attributes change), unless [`RibConfig::compare_router_id`];
//! 7. lowest peer BGP Identifier;
//! 8. lowest peer address.

use crate::attributes::PathAttributes;
use crate::prefix::Ipv4Prefix;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The LOCAL_PREF given to routes when no policy says otherwise.
pub const DEFAULT_LOCAL_PREF: u32 = 100;

/// Names a session (a tunnel's BGP peer) to the RIB; the driver picks the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u32);

/// What the RIB needs to know about a session's peer, from the session's configuration and
/// its [`Established`](crate::Event::Established) event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// The peer's address.
    pub peer_address: Ipv4Addr,
    /// The peer's AS.
    pub peer_asn: u32,
    /// The peer is in another AS.
    pub external: bool,
    /// Inbound policy: the LOCAL_PREF of every route from this session.
    pub local_pref: Option<u32>,
}

impl Default for PeerInfo {
    /// An external peer with identifier and address 0.0.0.0 and no policy.
    fn default() -> Self {
        Self {
            peer_id: Ipv4Addr::UNSPECIFIED,
            peer_address: Ipv4Addr::UNSPECIFIED,
            peer_asn: 0,
            external: true,
            local_pref: None,
        }
    }
}

/// How the Loc-RIB chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RibConfig {
    /// Return every path that ties down to the age and identifier tie-breaks.
    pub ecmp: bool,
    /// Compare MULTI_EXIT_DISC between paths from different neighbouring ASes too.
    pub always_compare_med: bool,
    /// LOCAL_PREF of routes from external peers without an inbound policy.
    pub default_local_pref: u32,
    /// Skip the oldest-path step: the lowest BGP Identifier decides, whatever the arrival
    /// order (deterministic, at the cost of a switch when a better-identifier path arrives).
    pub compare_router_id: bool,
}

impl Default for RibConfig {
    fn default() -> Self {
        Self {
            ecmp: false,
            always_compare_med: false,
            default_local_pref: DEFAULT_LOCAL_PREF,
            compare_router_id: false,
        }
    }
}

/// A path in the Loc-RIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The session it came from.
    pub session: SessionId,
    /// Its attributes.
    pub attributes: Arc<PathAttributes>,
    /// The LOCAL_PREF it was selected with.
    pub local_pref: u32,
    /// The peer's BGP Identifier.
    pub peer_id: Ipv4Addr,
    /// The peer's address.
    pub peer_address: Ipv4Addr,
}

impl Route {
    /// Where to send the traffic.
    pub fn next_hop(&self) -> Ipv4Addr {
        self.attributes.next_hop
    }
}

/// A change of the Loc-RIB: what the driver must do to the kernel's routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChange {
    /// The prefix is newly reachable.
    Added {
        /// The prefix.
        prefix: Ipv4Prefix,
        /// The best path first; with ECMP, all the equal ones.
        paths: Vec<Route>,
    },
    /// The best path (or the set of equal ones) changed: replace the route.
    Changed {
        /// The prefix.
        prefix: Ipv4Prefix,
        /// The new paths, best first.
        paths: Vec<Route>,
    },
    /// The prefix is no longer reachable.
    Removed {
        /// The prefix.
        prefix: Ipv4Prefix,
    },
}

impl RouteChange {
    /// The prefix concerned.
    pub fn prefix(&self) -> Ipv4Prefix {
        match self {
            Self::Added { prefix, .. }
            | Self::Changed { prefix, .. }
            | Self::Removed { prefix } => *prefix,
        }
    }

    /// The paths now selected (empty for `Removed`).
    pub fn paths(&self) -> &[Route] {
        match self {
            Self::Added { paths, .. } | Self::Changed { paths, .. } => paths,
            Self::Removed { .. } => &[],
        }
    }
}

#[derive(Debug, Clone)]
struct StoredPath {
    attributes: Arc<PathAttributes>,
    /// Arrival order: lower is older.
    seq: u64,
}

#[derive(Debug, Clone, Default)]
struct AdjRibIn {
    peer: PeerInfo,
    routes: BTreeMap<Ipv4Prefix, StoredPath>,
}

/// The Adj-RIBs-In of every session and the Loc-RIB computed from them.
#[derive(Debug, Default)]
pub struct Rib {
    config: RibConfig,
    sessions: BTreeMap<SessionId, AdjRibIn>,
    loc_rib: BTreeMap<Ipv4Prefix, Vec<Route>>,
    seq: u64,
}

/// A path being considered.
struct Candidate<'a> {
    session: SessionId,
    peer: &'a PeerInfo,
    path: &'a StoredPath,
    local_pref: u32,
}

impl Rib {
    /// An empty RIB.
    pub fn new(config: RibConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    /// Registers a session (when it reaches Established), or changes what is known of its
    /// peer or its inbound policy (then its routes are selected again).
    pub fn session_up(&mut self, session: SessionId, peer: PeerInfo) -> Vec<RouteChange> {
        let adj = self.sessions.entry(session).or_default();
        adj.peer = peer;
        let prefixes: BTreeSet<Ipv4Prefix> = adj.routes.keys().copied().collect();
        self.reselect(prefixes)
    }

    /// Applies routes received on a session (an [`Update`](crate::Event::Update) event):
    /// `withdrawn` first, then `announced`. A session not registered with
    /// [`session_up`](Self::session_up) is registered with [`PeerInfo::default`].
    pub fn update(
        &mut self,
        session: SessionId,
        announced: &[(Ipv4Prefix, Arc<PathAttributes>)],
        withdrawn: &[Ipv4Prefix],
    ) -> Vec<RouteChange> {
        let adj = self.sessions.entry(session).or_default();
        let mut touched = BTreeSet::new();
        for p in withdrawn {
            if adj.routes.remove(p).is_some() {
                touched.insert(*p);
            }
        }
        for (p, attrs) in announced {
            match adj.routes.get_mut(p) {
                Some(old) if *old.attributes == **attrs => old.attributes = Arc::clone(attrs),
                _ => {
                    self.seq += 1;
                    adj.routes.insert(
                        *p,
                        StoredPath {
                            attributes: Arc::clone(attrs),
                            seq: self.seq,
                        },
                    );
                    touched.insert(*p);
                }
            }
        }
        self.reselect(touched)
    }

    /// Forgets every route of a session (it went down) and forgets the session.
    pub fn session_down(&mut self, session: SessionId) -> Vec<RouteChange> {
        match self.sessions.remove(&session) {
            Some(adj) => self.reselect(adj.routes.into_keys().collect()),
            None => Vec::new(),
        }
    }

    /// The best path to `prefix`.
    pub fn best(&self, prefix: &Ipv4Prefix) -> Option<&Route> {
        self.best_paths(prefix).first()
    }

    /// The selected paths to `prefix`: the best one, or with ECMP all the equal ones, best
    /// first. Empty if unreachable.
    pub fn best_paths(&self, prefix: &Ipv4Prefix) -> &[Route] {
        self.loc_rib.get(prefix).map_or(&[], |v| v)
    }

    /// Every path to `prefix` from every session, in preference order (for status output).
    pub fn candidates(&self, prefix: &Ipv4Prefix) -> Vec<Route> {
        self.rank(prefix, false)
    }

    /// The Loc-RIB, by prefix.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Prefix, &[Route])> + '_ {
        self.loc_rib.iter().map(|(p, r)| (*p, r.as_slice()))
    }

    /// Number of reachable prefixes.
    pub fn len(&self) -> usize {
        self.loc_rib.len()
    }

    /// Whether no prefix is reachable.
    pub fn is_empty(&self) -> bool {
        self.loc_rib.is_empty()
    }

    /// A session's Adj-RIB-In.
    pub fn adj_rib_in(
        &self,
        session: SessionId,
    ) -> impl Iterator<Item = (Ipv4Prefix, &Arc<PathAttributes>)> + '_ {
        self.sessions
            .get(&session)
            .into_iter()
            .flat_map(|a| a.routes.iter().map(|(p, s)| (*p, &s.attributes)))
    }

    /// The sessions known, with their peers.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionId, &PeerInfo)> + '_ {
        self.sessions.iter().map(|(id, a)| (*id, &a.peer))
    }

    fn reselect(&mut self, prefixes: BTreeSet<Ipv4Prefix>) -> Vec<RouteChange> {
        let mut changes = Vec::new();
        for prefix in prefixes {
            let paths = self.rank(&prefix, true);
            let old = self.loc_rib.get(&prefix);
            let change = match (old, paths.is_empty()) {
                (None, true) => None,
                (Some(_), true) => Some(RouteChange::Removed { prefix }),
                (None, false) => Some(RouteChange::Added {
                    prefix,
                    paths: paths.clone(),
                }),
                (Some(old), false) if *old == paths => None,
                (Some(_), false) => Some(RouteChange::Changed {
                    prefix,
                    paths: paths.clone(),
                }),
            };
            if paths.is_empty() {
                self.loc_rib.remove(&prefix);
            } else {
                self.loc_rib.insert(prefix, paths);
            }
            changes.extend(change);
        }
        changes
    }

    fn effective_local_pref(&self, peer: &PeerInfo, attrs: &PathAttributes) -> u32 {
        match peer.local_pref {
            Some(lp) => lp,
            None if peer.external => self.config.default_local_pref,
            None => attrs.local_pref.unwrap_or(self.config.default_local_pref),
        }
    }

    /// With `select`, the selected paths (the best, or the ECMP set); without, every path
    /// in preference order.
    fn rank(&self, prefix: &Ipv4Prefix, select: bool) -> Vec<Route> {
        let all: Vec<Candidate<'_>> = self
            .sessions
            .iter()
            .filter_map(|(&session, adj)| {
                let path = adj.routes.get(prefix)?;
                Some(Candidate {
                    session,
                    peer: &adj.peer,
                    path,
                    local_pref: self.effective_local_pref(&adj.peer, &path.attributes),
                })
            })
            .collect();
        let mut ranked: Vec<&Candidate<'_>> = Vec::with_capacity(all.len());
        let mut rest: Vec<&Candidate<'_>> = all.iter().collect();
        // Peel off the equal-best set again and again to order every candidate.
        while !rest.is_empty() {
            let mut best = self.equal_best(&rest);
            let ignore_age = self.config.compare_router_id;
            best.sort_by_key(|c| tie_break_key(c, ignore_age));
            rest.retain(|c| !best.iter().any(|b| std::ptr::eq(*b, *c)));
            let take = if self.config.ecmp { best.len() } else { 1 };
            if select {
                ranked.extend(best.into_iter().take(take));
                break;
            }
            ranked.extend(best);
        }
        ranked
            .into_iter()
            .map(|c| Route {
                session: c.session,
                attributes: Arc::clone(&c.path.attributes),
                local_pref: c.local_pref,
                peer_id: c.peer.peer_id,
                peer_address: c.peer.peer_address,
            })
            .collect()
    }

    /// Steps 1 to 5: the paths that no other path beats before the tie-breaks.
    fn equal_best<'a, 'b>(&self, cands: &[&'b Candidate<'a>]) -> Vec<&'b Candidate<'a>> {
        let mut c: Vec<&Candidate<'_>> = cands.to_vec();
        keep_best_by(&mut c, |x| Reverse(x.local_pref));
        keep_best_by(&mut c, |x| x.path.attributes.as_path.path_length());
        keep_best_by(&mut c, |x| x.path.attributes.origin);
        let med = |x: &Candidate<'_>| x.path.attributes.multi_exit_disc.unwrap_or(0);
        let always = self.config.always_compare_med;
        let snapshot = c.clone();
        c.retain(|x| {
            !snapshot.iter().any(|o| {
                (always
                    || o.path.attributes.as_path.neighbor_as()
                        == x.path.attributes.as_path.neighbor_as())
                    && med(o) < med(x)
            })
        });
        if c.iter().any(|x| x.peer.external) {
            c.retain(|x| x.peer.external);
        }
        c
    }
}

/// Keeps the candidates with the least key.
fn keep_best_by<T, K: Ord>(c: &mut Vec<&T>, key: impl Fn(&T) -> K) {
    if let Some(min) = c.iter().map(|x| key(x)).min() {
        c.retain(|x| key(x) == min);
    }
}

fn tie_break_key(c: &Candidate<'_>, ignore_age: bool) -> (u64, u32, u32, SessionId) {
    (
        if ignore_age { 0 } else { c.path.seq },
        u32::from(c.peer.peer_id),
        u32::from(c.peer.peer_address),
        c.session,
    )
}
