//! Kernel configuration through rtnetlink: TUN links, addresses, routes and rules.
//! (The daemon never shells out to `ip`.)

use anyhow::{anyhow, Context, Result};
use futures::TryStreamExt;
use netlink_packet_route::address::AddressAttribute;
use netlink_packet_route::route::{RouteAttribute, RouteMessage, RouteNextHop, RouteProtocol};
use netlink_packet_route::rule::{RuleAction, RuleMessage};
use std::net::{IpAddr, Ipv4Addr};

/// The routing protocol number cgw's routes carry (`ip route show proto 200`), so they can be
/// told apart from everyone else's and cleaned up.
pub const RTPROT_CGW: u8 = 200;

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

    /// Adds `from src/len lookup table` with `priority`.
    pub async fn add_rule(
        &self,
        src: Ipv4Addr,
        len: u8,
        table: u32,
        priority: u32,
    ) -> Result<RuleMessage> {
        let mut req = self
            .handle
            .rule()
            .add()
            .v4()
            .source_prefix(src, len)
            .table_id(table)
            .action(RuleAction::ToTable)
            .priority(priority);
        let msg = req.message_mut().clone();
        req.execute()
            .await
            .with_context(|| format!("adding rule from {src}/{len} lookup {table}"))?;
        Ok(msg)
    }

    /// Deletes a rule added by [`add_rule`](Self::add_rule).
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

/// Writes a sysctl under /proc/sys (e.g. `net/ipv4/ip_forward`).
pub fn sysctl(path: &str, value: &str) -> Result<()> {
    let p = format!("/proc/sys/{path}");
    std::fs::write(&p, value).with_context(|| format!("writing {value} to {p}"))
}
