//! Kernel configuration through rtnetlink: TUN links, addresses, routes and rules.
//! (The daemon never shells out to `ip`.)

use anyhow::{anyhow, Context, Result};
use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use std::net::{IpAddr, Ipv4Addr};

/// The routing protocol number cgw's routes carry (`ip route show proto 200`), so they can be
/// told apart from everyone else's and cleaned up.
pub const RTPROT_CGW: u8 = cgw::fib::RTPROT_CGW;

/// A netlink handle (its connection task runs on the tokio runtime).
#[derive(Clone)]
pub struct Netlink {
    handle: rtnetlink::Handle,
}

impl Netlink {
    /// Opens a netlink socket.
    pub fn new() -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().context("opening a netlink socket")?;
        tokio::spawn(conn);
        Ok(Self { handle })
    }

    /// The interface index of `name`.
    pub async fn link_index(&self, name: &str) -> Result<u32> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(Some(l)) => Ok(l.header.index),
            Ok(None) => Err(anyhow!("no interface named {name}")),
            Err(e) => Err(anyhow!("looking up interface {name}: {e}")),
        }
    }

    /// Sets the MTU, the address (`addr/prefix`) and brings the link up.
    pub async fn configure_link(
        &self,
        index: u32,
        mtu: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<()> {
        self.handle
            .link()
            .set(index)
            .mtu(mtu)
            .execute()
            .await
            .with_context(|| format!("setting MTU {mtu}"))?;
        self.handle
            .address()
            .add(index, IpAddr::V4(addr), prefix)
            .replace()
            .execute()
            .await
            .with_context(|| format!("adding address {addr}/{prefix}"))?;
        self.handle
            .link()
            .set(index)
            .up()
            .execute()
            .await
            .context("bringing the link up")?;
        Ok(())
    }

    /// Adds or replaces the route `dst/len` via interface `oif` in `table` (None: main);
    /// returns the message so that it can be deleted later.
    pub async fn replace_route(
        &self,
        dst: Ipv4Addr,
        len: u8,
        oif: u32,
        table: Option<u32>,
        metric: u32,
    ) -> Result<RouteMessage> {
        let mut req = self
            .handle
            .route()
            .add()
            .v4()
            .destination_prefix(dst, len)
            .output_interface(oif)
            .protocol(RouteProtocol::Other(RTPROT_CGW))
            .priority(metric)
            .replace();
        if let Some(t) = table {
            req = req.table_id(t);
        }
        let msg = req.message_mut().clone();
        req.execute()
            .await
            .with_context(|| format!("installing route {dst}/{len} via interface {oif}"))?;
        Ok(msg)
    }

    /// Adds or replaces `dst/len` with one next hop per interface in `oifs` (ECMP).
    pub async fn replace_route_multipath(
        &self,
        dst: Ipv4Addr,
        len: u8,
        oifs: &[u32],
        table: Option<u32>,
    ) -> Result<RouteMessage> {
        if let [one] = oifs {
            return self.replace_route(dst, len, *one, table, 0).await;
        }
        let mut req = self
            .handle
            .route()
            .add()
            .v4()
            .destination_prefix(dst, len)
            .protocol(RouteProtocol::Other(RTPROT_CGW))
            .replace();
        if let Some(t) = table {
            req = req.table_id(t);
        }
        let hops = oifs
            .iter()
            .map(|i| {
                let mut nh = RouteNextHop::default();
                nh.interface_index = *i;
                nh
            })
            .collect();
        req.message_mut()
            .attributes
            .push(RouteAttribute::MultiPath(hops));
        let msg = req.message_mut().clone();
        req.execute().await.with_context(|| {
            format!("installing ECMP route {dst}/{len} via interfaces {oifs:?}")
        })?;
        Ok(msg)
    }

    /// The IPv4 prefixes directly connected to interface `name` (its addresses' networks).
    pub async fn connected_prefixes(&self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
        let index = self.link_index(name).await?;
        let mut out = Vec::new();
        let mut addrs = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        while let Some(m) = addrs
            .try_next()
            .await
            .with_context(|| format!("reading the addresses of {name}"))?
        {
            let len = m.header.prefix_len;
            for a in &m.attributes {
                if let AddressAttribute::Address(IpAddr::V4(ip)) = a {
                    let mask = if len == 0 {
                        0
                    } else {
                        u32::MAX << (32 - len as u32)
                    };
                    let net = Ipv4Addr::from(u32::from(*ip) & mask);
                    if !out.contains(&(net, len)) {
                        out.push((net, len));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes a route added by [`replace_route`](Self::replace_route).
    pub async fn delete_route(&self, msg: RouteMessage) -> Result<()> {
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .context("deleting route")?;
        Ok(())
    }

    /// Deletes a rule (the message of its add request).
    pub async fn delete_rule(&self, msg: RuleMessage) -> Result<()> {
        self.handle
            .rule()
            .del(msg)
            .execute()
            .await
            .context("deleting rule")?;
        Ok(())
    }
}

impl Netlink {
    /// cgw's IPv4 routes in the kernel (protocol [`RTPROT_CGW`], any table).
    pub async fn cgw_routes(&self) -> Result<Vec<cgw::fib::Route>> {
        let mut out = Vec::new();
        let mut dump = self.handle.route().get(rtnetlink::IpVersion::V4).execute();
        while let Some(m) = dump.try_next().await.context("reading the routes")? {
            if m.header.protocol != RouteProtocol::Other(RTPROT_CGW) {
                continue;
            }
            let mut table = u32::from(m.header.table);
            let (mut dst, mut metric, mut oifs) = (Ipv4Addr::UNSPECIFIED, 0, Vec::new());
            for a in &m.attributes {
                match a {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                    RouteAttribute::Priority(p) => metric = *p,
                    RouteAttribute::Oif(i) => oifs.push(*i),
                    RouteAttribute::MultiPath(hops) => {
                        oifs.extend(hops.iter().map(|h| h.interface_index))
                    }
                    _ => {}
                }
            }
            let Ok(net) = ipnet::Ipv4Net::new(dst, m.header.destination_prefix_length) else {
                continue;
            };
            out.push(cgw::fib::Route::new(net, table, metric, oifs));
        }
        Ok(out)
    }

    /// The IPv4 rules in the kernel with cgw's protocol number.
    pub async fn cgw_rules(&self) -> Result<Vec<cgw::fib::Rule>> {
        let mut out = Vec::new();
        let mut dump = self.handle.rule().get(rtnetlink::IpVersion::V4).execute();
        while let Some(m) = dump.try_next().await.context("reading the rules")? {
            let mut table = u32::from(m.header.table);
            let (mut from, mut priority, mut ours) = (Ipv4Addr::UNSPECIFIED, 0, false);
            for a in &m.attributes {
                match a {
                    RuleAttribute::Table(t) => table = *t,
                    RuleAttribute::Source(IpAddr::V4(s)) => from = *s,
                    RuleAttribute::Priority(p) => priority = *p,
                    RuleAttribute::Protocol(p) => ours = *p == RouteProtocol::Other(RTPROT_CGW),
                    _ => {}
                }
            }
            if let (true, Ok(from)) = (ours, ipnet::Ipv4Net::new(from, m.header.src_len)) {
                out.push(cgw::fib::Rule {
                    from,
                    table,
                    priority,
                });
            }
        }
        Ok(out)
    }

    /// Adds or replaces a route of cgw's (one interface, or ECMP over several).
    pub async fn replace(&self, r: &cgw::fib::Route) -> Result<()> {
        let table = (r.table != cgw::fib::MAIN_TABLE).then_some(r.table);
        let (dst, len) = (r.dst.network(), r.dst.prefix_len());
        match r.oifs.as_slice() {
            [one] => self
                .replace_route(dst, len, *one, table, r.metric)
                .await
                .map(|_| ()),
            many => self
                .replace_route_multipath(dst, len, many, table)
                .await
                .map(|_| ()),
        }
    }

    /// Deletes a route of cgw's.
    pub async fn delete(&self, r: &cgw::fib::Route) -> Result<()> {
        let mut req = self
            .handle
            .route()
            .add()
            .v4()
            .destination_prefix(r.dst.network(), r.dst.prefix_len())
            .protocol(RouteProtocol::Other(RTPROT_CGW))
            .priority(r.metric);
        if r.table != cgw::fib::MAIN_TABLE {
            req = req.table_id(r.table);
        }
        let msg = req.message_mut().clone();
        self.delete_route(msg)
            .await
            .with_context(|| format!("deleting route {}", r.dst))
    }

    /// The request for `from <from> lookup <table>` at the rule's priority.
    fn rule_request(&self, r: &cgw::fib::Rule) -> rtnetlink::RuleAddRequest<Ipv4Addr> {
        self.handle
            .rule()
            .add()
            .v4()
            .source_prefix(r.from.network(), r.from.prefix_len())
            .table_id(r.table)
            .action(RuleAction::ToTable)
            .priority(r.priority)
    }

    /// Adds a rule of cgw's (`from <from> lookup <table>`, with cgw's protocol number).
    pub async fn add(&self, r: &cgw::fib::Rule) -> Result<()> {
        let mut req = self.rule_request(r);
        req.message_mut()
            .attributes
            .push(RuleAttribute::Protocol(RouteProtocol::Other(RTPROT_CGW)));
        req.execute()
            .await
            .with_context(|| format!("adding rule from {} lookup {}", r.from, r.table))
    }

    /// Deletes a rule of cgw's.
    pub async fn remove(&self, r: &cgw::fib::Rule) -> Result<()> {
        let msg = self.rule_request(r).message_mut().clone();
        self.delete_rule(msg)
            .await
            .with_context(|| format!("deleting rule from {} lookup {}", r.from, r.table))
    }
}

/// Writes a sysctl under /proc/sys (e.g. `net/ipv4/ip_forward`).
pub fn sysctl(path: &str, value: &str) -> Result<()> {
    let p = format!("/proc/sys/{path}");
    std::fs::write(&p, value).with_context(|| format!("writing {value} to {p}"))
}
