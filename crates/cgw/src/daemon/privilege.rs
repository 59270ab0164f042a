//! Least privilege: once its sockets, TUN devices and control socket exist, the daemon keeps
//! only the capabilities it still uses, and no way to regain others.
//!
//! Kept: `CAP_NET_ADMIN` (routes, rules and links through netlink for as long as it runs) and
//! `CAP_NET_BIND_SERVICE` (a BGP session binds TCP 179 each time it starts). Everything else
//! goes from the effective, permitted, inheritable, ambient and bounding sets, and
//! `no_new_privs` is set, so no exec can bring anything back. Capabilities belong to threads:
//! the control loop drops them on the thread that runs it (the daemon's runtime has one
//! thread), and the data path thread, which needs none once its sockets are open, drops all
//! of its own when it starts ([`drop_all_on_this_thread`]).

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};

/// The capabilities the control loop keeps.
pub const KEPT: [Capability; 2] = [Capability::CAP_NET_ADMIN, Capability::CAP_NET_BIND_SERVICE];

/// Keeps only `keep` (of what this thread has) on this thread, and removes everything else
/// from the bounding set when allowed (as root; otherwise the bounding set stays as it was).
/// What is now effective.
pub fn keep_only(keep: &[Capability]) -> Result<CapsHashSet> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes with the rest.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for c in caps::all() {
            if !keep.contains(&c) && caps::has_cap(None, CapSet::Bounding, c).unwrap_or(false) {
                caps::drop(None, CapSet::Bounding, c)
                    .with_context(|| format!("dropping {c} from the bounding set"))?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).context("clearing the ambient capabilities")?;
    caps::clear(None, CapSet::Inheritable).context("clearing the inheritable capabilities")?;
    let permitted = caps::read(None, CapSet::Permitted).context("reading capabilities")?;
    let left: CapsHashSet = permitted.intersection(&keep).copied().collect();
    caps::set(None, CapSet::Effective, &left).context("setting the effective capabilities")?;
    caps::set(None, CapSet::Permitted, &left).context("setting the permitted capabilities")?;
    no_new_privs()?;
    Ok(left)
}

/// Drops every capability of this thread (the data path's, which needs none once its
/// sockets and devices are open).
pub fn drop_all_on_this_thread() -> Result<()> {
    keep_only(&[]).map(|_| ())
}

fn no_new_privs() -> Result<()> {
    // SAFETY: prctl(2) with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r != 0 {
        return Err(std::io::Error::last_os_error()).context("setting no_new_privs");
    }
    Ok(())
}
