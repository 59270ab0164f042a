//! The demo's lab: network namespaces on this host, wired like the real thing.
//!
//! ```text
//!  onprem ── cgw ── inet ──┬── aws1 ──┐
//!  10.10.0.10   198.51.100.10  203.0.113.11  vpc (10.201.0.10)
//!                          └── aws2 ──┘
//!                              203.0.113.12
//! ```
//!
//! Everything it creates is recorded as it goes, so that a failure half-way (or Ctrl-C)
//! removes exactly what exists; processes are stopped by PID.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Prefix of every namespace the demo creates.
pub const PREFIX: &str = "cgwdemo";
pub const NAMESPACES: [&str; 6] = ["onprem", "cgw", "inet", "aws1", "aws2", "vpc"];

pub const ONPREM_HOST: &str = "10.10.0.10";
pub const LAN: &str = "10.10.0.0/24";
pub const CGW_PUBLIC: &str = "198.51.100.10";
pub const AWS_OUTSIDE: [&str; 2] = ["203.0.113.11", "203.0.113.12"];
pub const VPC_CIDR: &str = "10.201.0.0/16";
pub const VPC_HOST: &str = "10.201.0.10";

pub fn ns(n: &str) -> String {
    format!("{PREFIX}-{n}")
}

/// Runs a command; its stderr becomes the error.
pub fn run(args: &[&str]) -> Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub struct Lab {
    pub dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<(String, Child)>,
    /// Leave everything running on drop (`--keep`).
    pub keep: bool,
}

impl Lab {
    /// Whether a lab (e.g. one left by `--keep`) exists.
    pub fn exists() -> bool {
        Path::new(&format!("/run/netns/{}", ns("cgw"))).exists()
    }

    pub fn new(dir: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            keep: false,
        })
    }

    fn ip(&self, n: &str, args: &str) -> Result<()> {
        let ns = ns(n);
        let mut v = vec!["ip", "-n", &ns];
        v.extend(args.split_whitespace());
        run(&v).map(|_| ())
    }

    /// Sets `key=value` (sysctl syntax) inside namespace `n`, by writing /proc/sys from a
    /// thread in that namespace (no `sysctl` program needed).
    fn sysctl(&self, n: &str, kv: &str) -> Result<()> {
        let (key, value) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("bad sysctl {kv}"))?;
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let value = value.to_string();
        super::probe::in_netns(&ns(n), move || {
            std::fs::write(&path, value).with_context(|| format!("writing {path}"))
        })
        .join()
        .map_err(|_| anyhow!("sysctl thread panicked"))?
    }

    fn veth(&self, a: &str, ia: &str, b: &str, ib: &str) -> Result<()> {
        let (na, nb) = (ns(a), ns(b));
        run(&[
            "ip", "link", "add", ia, "netns", &na, "type", "veth", "peer", "name", ib, "netns", &nb,
        ])?;
        self.ip(a, &format!("link set {ia} up"))?;
        self.ip(b, &format!("link set {ib} up"))
    }

    /// Creates the namespaces and links.
    pub fn build(&mut self) -> Result<()> {
        for n in NAMESPACES {
            run(&["ip", "netns", "add", &ns(n)])?;
            self.namespaces.push(ns(n));
            self.ip(n, "link set lo up")?;
            // Forwarding between the inet, aws and vpc namespaces; cgw turns it on itself.
            self.sysctl(n, "net.ipv4.ip_forward=1")?;
        }
        self.veth("onprem", "op0", "cgw", "lan0")?;
        self.ip("onprem", &format!("addr add {ONPREM_HOST}/24 dev op0"))?;
        self.ip("onprem", "route add default via 10.10.0.1")?;
        self.ip("cgw", "addr add 10.10.0.1/24 dev lan0")?;
        self.veth("cgw", "wan0", "inet", "c0")?;
        self.ip("cgw", &format!("addr add {CGW_PUBLIC}/24 dev wan0"))?;
        self.ip("cgw", "route add default via 198.51.100.1")?;
        self.ip("inet", "addr add 198.51.100.1/24 dev c0")?;
        self.ip("inet", "link add br0 type bridge")?;
        self.ip("inet", "link set br0 up")?;
        self.ip("inet", "addr add 203.0.113.1/24 dev br0")?;
        for (i, outside) in AWS_OUTSIDE.iter().enumerate() {
            let aws = format!("aws{}", i + 1);
            let port = format!("a{}", i + 1);
            self.veth("inet", &port, &aws, "o0")?;
            self.ip("inet", &format!("link set {port} master br0"))?;
            self.ip(&aws, &format!("addr add {outside}/24 dev o0"))?;
            self.ip(&aws, "route add default via 203.0.113.1")?;
            self.veth(&aws, "v0", "vpc", &port)?;
            self.ip(&aws, &format!("addr add 10.201.{}.1/30 dev v0", i + 1))?;
            self.ip("vpc", &format!("addr add 10.201.{}.2/30 dev {port}", i + 1))?;
            self.ip(
                &aws,
                &format!("route add {VPC_CIDR} via 10.201.{}.2", i + 1),
            )?;
            // AWS answers on either tunnel: loose reverse-path filtering.
            self.sysctl(&aws, "net.ipv4.conf.all.rp_filter=0")?;
        }
        self.ip("vpc", &format!("addr add {VPC_HOST}/32 dev lo"))?;
        // The VPC router prefers endpoint 1 and uses endpoint 2 while 1 is gone.
        self.vpc_route(0)?;
        self.vpc_route(1)?;
        Ok(())
    }

    fn vpc_route(&self, i: usize) -> Result<()> {
        self.ip(
            "vpc",
            &format!(
                "route replace {LAN} via 10.201.{}.1 metric {}",
                i + 1,
                10 * (i + 1)
            ),
        )
    }

    /// Whether the VPC routes its traffic for the on-prem LAN through AWS endpoint `i`: AWS
    /// sends VPC traffic only into tunnels that are up (and, with BGP, that carry the route).
    pub fn vpc_uses(&self, i: usize, yes: bool) -> Result<()> {
        if yes {
            self.vpc_route(i)
        } else {
            self.ip(
                "vpc",
                &format!(
                    "route del {LAN} via 10.201.{}.1 metric {}",
                    i + 1,
                    10 * (i + 1)
                ),
            )
        }
    }

    /// Starts `args` (this program's own binary) inside namespace `n`, logging to `log`.
    pub fn spawn(&mut self, name: &str, n: &str, args: &[&str], log: &str) -> Result<u32> {
        let exe = std::env::current_exe().context("finding this program")?;
        let log = std::fs::File::create(self.dir.join(log))?;
        let child = Command::new("ip")
            .args(["netns", "exec", &ns(n)])
            .arg(&exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let pid = child.id();
        self.procs.push((name.to_string(), child));
        self.write_pids()?;
        Ok(pid)
    }

    /// Whether process `name` is still running.
    pub fn running(&mut self, name: &str) -> Option<bool> {
        let (_, c) = self.procs.iter_mut().find(|(n, _)| n == name)?;
        Some(matches!(c.try_wait(), Ok(None)))
    }

    /// Kills `name` at once (SIGKILL: its SAs die with it, no Delete is sent).
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let i = self
            .procs
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| anyhow!("no process {name}"))?;
        let (_, mut c) = self.procs.remove(i);
        let _ = c.kill();
        let _ = c.wait();
        self.write_pids()
    }

    fn write_pids(&self) -> Result<()> {
        let text: String = self
            .procs
            .iter()
            .map(|(n, c)| format!("{} {n}\n", c.id()))
            .collect();
        std::fs::write(self.dir.join("pids"), text)?;
        Ok(())
    }

    /// Stops every process (SIGTERM, then SIGKILL after 5 s) and removes the namespaces.
    pub fn cleanup(&mut self) {
        for (_, c) in &self.procs {
            // SAFETY: kill(2) on our own child's PID.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, c) in &mut self.procs {
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.procs.clear();
        for n in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip").args(["netns", "del", &n]).status();
        }
        let _ = std::fs::remove_file(self.dir.join("pids"));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.keep {
            self.cleanup();
        }
    }
}

/// Removes a lab left by `--keep`: stops its processes (by the PIDs it recorded, and only if
/// they are still cgw) and deletes its namespaces.
pub fn cleanup_kept(dir: &Path) -> Result<usize> {
    let mut stopped = 0;
    if let Ok(text) = std::fs::read_to_string(dir.join("pids")) {
        for line in text.lines() {
            let Some(pid) = line
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("cgw") {
                // SAFETY: kill(2) on a PID we recorded and checked to be cgw.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                stopped += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for n in NAMESPACES {
        let _ = Command::new("ip")
            .args(["netns", "del", &ns(n)])
            .stderr(Stdio::null())
            .status();
    }
    let _ = std::fs::remove_file(dir.join("pids"));
    Ok(stopped)
}
