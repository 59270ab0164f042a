//! The network-namespace lab that `cgw demo`, the netns tests and the end-to-end benchmark
//! all run in: an on-prem host, the cgw host, an optional NAT router, an "internet" router,
//! two AWS tunnel endpoints and a VPC host.
//!
//! ```text
//!  onprem ── cgw ──[nat]── inet ──┬── aws1 ──┐
//!  10.10.0.10   198.51.100.10     │          vpc
//!                                 └── aws2 ──┘
//!                          203.0.113.0/24      10.201.1.0/30, 10.201.2.0/30
//! ```
//!
//! The topology is data ([`Topology::steps`], testable without root); one executor
//! ([`Lab::create`]) carries it out, recording every namespace as it is made, so that a
//! failure half-way, a panic or Ctrl-C removes exactly what exists. Processes started in the
//! lab are tracked by PID (and listed in `pids` in the lab directory for `cgw demo --cleanup`);
//! nothing is ever stopped by name. Outside addresses are documentation ranges; inside ones
//! are 10.x and 169.254.x.

use anyhow::{anyhow, bail, Context, Result};
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The on-prem host and its LAN.
pub const ONPREM_HOST: Ipv4Addr = Ipv4Addr::new(10, 10, 0, 10);
/// The on-prem LAN behind cgw.
pub const LAN: &str = "10.10.0.0/24";
/// cgw's outside address (the NAT's, with a NAT).
pub const CGW_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// cgw's outside address behind the NAT.
pub const CGW_PRIVATE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// The namespace prefix of `cgw demo`'s lab.
pub const DEMO_PREFIX: &str = "cgwdemo";

/// An internet host on the AWS side of the "internet" router: where floods and spoofed
/// packets come from (with [`Topology::attacker`]).
pub const ATTACKER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

/// The namespaces of every lab, in creation order (`nat` only with [`Topology::nat`],
/// `attacker` only with [`Topology::attacker`]).
pub const NAMESPACES: [&str; 8] = [
    "onprem", "cgw", "nat", "inet", "aws1", "aws2", "vpc", "attacker",
];

/// What varies between labs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Every namespace is `<prefix>-<name>`.
    pub prefix: String,
    /// The two AWS tunnel outside addresses (in 203.0.113.0/24).
    pub aws_outside: [Ipv4Addr; 2],
    /// The VPC's CIDR, routed by both AWS endpoints to the VPC host.
    pub vpc_cidr: Ipv4Net,
    /// The VPC host (on its loopback, inside `vpc_cidr`).
    pub vpc_host: Ipv4Addr,
    /// cgw sits behind a MASQUERADE router at [`CGW_PRIVATE`].
    pub nat: bool,
    /// An attacker namespace at [`ATTACKER`] on the AWS side of the internet router.
    pub attacker: bool,
}

/// One step of building a lab; [`Step::argv`] is the command that carries it out. `ns` is
/// a lab namespace's short name; the other fields are named as ip(8) names them.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A namespace with its loopback up.
    Namespace(&'static str),
    /// A sysctl inside a namespace (written to /proc/sys, no `sysctl` program needed).
    Sysctl {
        ns: &'static str,
        key: &'static str,
        value: &'static str,
    },
    /// A veth pair from `a` (device `a_dev`) to `b` (device `b_dev`), both ends up.
    Veth {
        a: &'static str,
        a_dev: String,
        b: &'static str,
        b_dev: String,
    },
    /// A bridge, up.
    Bridge { ns: &'static str, dev: &'static str },
    /// `dev` enslaved to `bridge`.
    Enslave {
        ns: &'static str,
        dev: String,
        bridge: &'static str,
    },
    /// An address.
    Address {
        ns: &'static str,
        cidr: String,
        dev: String,
    },
    /// A route via a gateway.
    Route {
        ns: &'static str,
        dst: String,
        via: Ipv4Addr,
        metric: Option<u32>,
    },
    /// Source NAT of everything leaving `out_dev`.
    Masquerade {
        ns: &'static str,
        out_dev: &'static str,
    },
}

impl Step {
    /// The commands that carry the step out in a lab whose namespaces start with `prefix`.
    pub fn argv(&self, prefix: &str) -> Vec<Vec<String>> {
        let ns = |n: &str| format!("{prefix}-{n}");
        let ip = |n: &str, args: &str| {
            let mut v = vec!["ip".to_string(), "-n".into(), ns(n)];
            v.extend(args.split_whitespace().map(String::from));
            v
        };
        match self {
            Step::Namespace(n) => vec![
                vec!["ip".into(), "netns".into(), "add".into(), ns(n)],
                ip(n, "link set lo up"),
            ],
            Step::Sysctl { ns: n, key, value } => vec![vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                ns(n),
                "sh".into(),
                "-c".into(),
                format!("echo {value} > /proc/sys/{}", key.replace('.', "/")),
            ]],
            Step::Veth { a, a_dev, b, b_dev } => vec![
                [
                    "ip",
                    "link",
                    "add",
                    a_dev,
                    "netns",
                    &ns(a),
                    "type",
                    "veth",
                    "peer",
                    "name",
                    b_dev,
                    "netns",
                    &ns(b),
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
                ip(a, &format!("link set {a_dev} up")),
                ip(b, &format!("link set {b_dev} up")),
            ],
            Step::Bridge { ns: n, dev } => vec![
                ip(n, &format!("link add {dev} type bridge")),
                ip(n, &format!("link set {dev} up")),
            ],
            Step::Enslave { ns: n, dev, bridge } => {
                vec![ip(n, &format!("link set {dev} master {bridge}"))]
            }
            Step::Address { ns: n, cidr, dev } => {
                vec![ip(n, &format!("addr add {cidr} dev {dev}"))]
            }
            Step::Route {
                ns: n,
                dst,
                via,
                metric,
            } => {
                let metric = metric.map(|m| format!(" metric {m}")).unwrap_or_default();
                vec![ip(n, &format!("route replace {dst} via {via}{metric}"))]
            }
            Step::Masquerade { ns: n, out_dev } => vec![[
                "ip",
                "netns",
                "exec",
                &ns(n),
                "iptables",
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                out_dev,
                "-j",
                "MASQUERADE",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect()],
        }
    }
}

impl Topology {
    /// The lab `cgw demo` builds (namespaces `cgwdemo-*`, VPC 10.201.0.0/16).
    pub fn demo() -> Self {
        Self {
            prefix: DEMO_PREFIX.into(),
            aws_outside: [
                Ipv4Addr::new(203, 0, 113, 11),
                Ipv4Addr::new(203, 0, 113, 12),
            ],
            vpc_cidr: "10.201.0.0/16".parse().expect("constant"),
            vpc_host: Ipv4Addr::new(10, 201, 0, 10),
            nat: false,
            attacker: false,
        }
    }

    /// The namespaces of this lab, in creation order.
    pub fn namespaces(&self) -> Vec<&'static str> {
        NAMESPACES
            .iter()
            .copied()
            .filter(|n| match *n {
                "nat" => self.nat,
                "attacker" => self.attacker,
                _ => true,
            })
            .collect()
    }

    /// The VPC's next hop towards AWS endpoint `i` (0 or 1).
    pub fn vpc_next_hop(i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 201, i as u8 + 1, 1)
    }

    /// The VPC's route for the on-prem LAN through AWS endpoint `i`: endpoint 1 preferred
    /// (metric 10), endpoint 2 while 1 is gone (metric 20).
    pub fn vpc_route(i: usize) -> Step {
        Step::Route {
            ns: "vpc",
            dst: LAN.into(),
            via: Self::vpc_next_hop(i),
            metric: Some(10 * (i as u32 + 1)),
        }
    }

    /// Every step, in order.
    pub fn steps(&self) -> Vec<Step> {
        use Step::*;
        let s = |x: &str| x.to_string();
        let mut v = Vec::new();
        for n in self.namespaces() {
            v.push(Namespace(n));
            // Forwarding between the routers (cgw turns it on itself anyway), and loose
            // reverse-path filtering: AWS answers on either tunnel.
            for key in [
                "net.ipv4.ip_forward",
                "net.ipv4.conf.all.rp_filter",
                "net.ipv4.conf.default.rp_filter",
            ] {
                let value = if key == "net.ipv4.ip_forward" {
                    "1"
                } else {
                    "0"
                };
                v.push(Sysctl { ns: n, key, value });
            }
        }
        let addr = |ns: &'static str, cidr: String, dev: &str| Address {
            ns,
            cidr,
            dev: dev.into(),
        };
        let default_via = |ns: &'static str, via: Ipv4Addr| Route {
            ns,
            dst: s("default"),
            via,
            metric: None,
        };
        v.push(Veth {
            a: "onprem",
            a_dev: s("op0"),
            b: "cgw",
            b_dev: s("lan0"),
        });
        v.push(addr("onprem", format!("{ONPREM_HOST}/24"), "op0"));
        v.push(default_via("onprem", Ipv4Addr::new(10, 10, 0, 1)));
        v.push(addr("cgw", s("10.10.0.1/24"), "lan0"));
        let inet_side = if self.nat {
            v.push(Veth {
                a: "cgw",
                a_dev: s("wan0"),
                b: "nat",
                b_dev: s("in0"),
            });
            v.push(addr("cgw", format!("{CGW_PRIVATE}/24"), "wan0"));
            v.push(default_via("cgw", Ipv4Addr::new(10, 99, 0, 1)));
            v.push(addr("nat", s("10.99.0.1/24"), "in0"));
            v.push(Masquerade {
                ns: "nat",
                out_dev: "out0",
            });
            ("nat", "out0")
        } else {
            ("cgw", "wan0")
        };
        v.push(Veth {
            a: inet_side.0,
            a_dev: s(inet_side.1),
            b: "inet",
            b_dev: s("c0"),
        });
        v.push(addr(inet_side.0, format!("{CGW_PUBLIC}/24"), inet_side.1));
        v.push(default_via(inet_side.0, Ipv4Addr::new(198, 51, 100, 1)));
        v.push(addr("inet", s("198.51.100.1/24"), "c0"));
        v.push(Bridge {
            ns: "inet",
            dev: "br0",
        });
        v.push(addr("inet", s("203.0.113.1/24"), "br0"));
        for (i, aws) in ["aws1", "aws2"].into_iter().enumerate() {
            let port = format!("a{}", i + 1);
            v.push(Veth {
                a: "inet",
                a_dev: port.clone(),
                b: aws,
                b_dev: s("o0"),
            });
            v.push(Enslave {
                ns: "inet",
                dev: port.clone(),
                bridge: "br0",
            });
            v.push(addr(aws, format!("{}/24", self.aws_outside[i]), "o0"));
            v.push(default_via(aws, Ipv4Addr::new(203, 0, 113, 1)));
            v.push(Veth {
                a: aws,
                a_dev: s("v0"),
                b: "vpc",
                b_dev: port.clone(),
            });
            v.push(addr(aws, format!("{}/30", Self::vpc_next_hop(i)), "v0"));
            let vpc_side = Ipv4Addr::new(10, 201, i as u8 + 1, 2);
            v.push(addr("vpc", format!("{vpc_side}/30"), &port));
            v.push(Route {
                ns: aws,
                dst: self.vpc_cidr.to_string(),
                via: vpc_side,
                metric: None,
            });
        }
        if self.attacker {
            v.push(Veth {
                a: "inet",
                a_dev: s("x0"),
                b: "attacker",
                b_dev: s("o0"),
            });
            v.push(Enslave {
                ns: "inet",
                dev: s("x0"),
                bridge: "br0",
            });
            v.push(addr("attacker", format!("{ATTACKER}/24"), "o0"));
            v.push(default_via("attacker", Ipv4Addr::new(203, 0, 113, 1)));
        }
        v.push(addr("vpc", format!("{}/32", self.vpc_host), "lo"));
        v.push(Self::vpc_route(0));
        v.push(Self::vpc_route(1));
        v
    }
}

/// Runs a command; its stderr becomes the error.
pub fn run<S: AsRef<str>>(args: &[S]) -> Result<String> {
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {}", args[0]))?;
    if !out.status.success() {
        bail!(
            "`{}` failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs a command: whether it succeeded, and its stdout and stderr.
pub fn try_run(args: &[&str]) -> (bool, String) {
    match Command::new(args[0]).args(&args[1..]).output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

/// Sends `signal` (a `kill -s` name such as `TERM`) to `pid` with the `kill` program.
fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// A process the lab started.
struct Proc {
    name: String,
    child: Child,
}

/// A built lab. Dropping it stops its processes and removes its namespaces, unless `keep`.
pub struct Lab {
    /// What was built.
    pub topology: Topology,
    /// Configuration files, logs and `pids`.
    pub dir: PathBuf,
    namespaces: Vec<String>,
    procs: Vec<Proc>,
    /// Leave everything running on drop (`cgw demo --keep`).
    pub keep: bool,
}

impl Lab {
    /// Whether a lab with this prefix (e.g. one left by `--keep`) exists.
    pub fn exists(prefix: &str) -> bool {
        Path::new(&format!("/run/netns/{prefix}-cgw")).exists()
    }

    /// Builds `topology`, with `dir` (emptied first) for its files. On failure everything
    /// made so far is removed.
    pub fn create(topology: Topology, dir: PathBuf) -> Result<Self> {
        let mut lab = Self::new(topology, dir)?;
        lab.build()?;
        Ok(lab)
    }

    /// A lab not built yet: `dir` (emptied first) for its files.
    pub fn new(topology: Topology, dir: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            topology,
            dir,
            namespaces: Vec::new(),
            procs: Vec::new(),
            keep: false,
        })
    }

    /// Carries out every step of the topology. On failure, what was made is removed when
    /// the lab is dropped or cleaned up.
    pub fn build(&mut self) -> Result<()> {
        for step in self.topology.steps() {
            if let Step::Namespace(n) = step {
                // Recorded before it exists: removing a namespace that was not made is
                // harmless, leaking one is not.
                self.namespaces.push(self.ns(n));
            }
            for argv in step.argv(&self.topology.prefix) {
                run(&argv).with_context(|| format!("building the lab ({step:?})"))?;
            }
        }
        Ok(())
    }

    /// The full name of lab namespace `n`.
    pub fn ns(&self, n: &str) -> String {
        format!("{}-{n}", self.topology.prefix)
    }

    /// Runs a command inside namespace `n`.
    pub fn exec(&self, n: &str, args: &[&str]) -> Result<String> {
        let ns = self.ns(n);
        let mut v = vec!["ip", "netns", "exec", &ns];
        v.extend_from_slice(args);
        run(&v)
    }

    /// Runs a command inside namespace `n`: whether it succeeded, and stdout and stderr.
    pub fn try_exec(&self, n: &str, args: &[&str]) -> (bool, String) {
        let ns = self.ns(n);
        let mut v = vec!["ip", "netns", "exec", &ns];
        v.extend_from_slice(args);
        try_run(&v)
    }

    /// `ip -n <ns> <args>` (args split at spaces).
    pub fn ip(&self, n: &str, args: &str) -> Result<()> {
        let ns = self.ns(n);
        let mut v = vec!["ip", "-n", &ns];
        v.extend(args.split_whitespace());
        run(&v).map(|_| ())
    }

    /// Carries out one more step (e.g. [`Topology::vpc_route`]).
    pub fn apply(&self, step: &Step) -> Result<()> {
        for argv in step.argv(&self.topology.prefix) {
            run(&argv)?;
        }
        Ok(())
    }

    /// Whether the VPC routes its traffic for the on-prem LAN through AWS endpoint `i`: AWS
    /// sends VPC traffic only into tunnels that are up (and, with BGP, that carry the route).
    pub fn vpc_uses(&self, i: usize, yes: bool) -> Result<()> {
        if yes {
            self.apply(&Topology::vpc_route(i))
        } else {
            self.ip(
                "vpc",
                &format!(
                    "route del {LAN} via {} metric {}",
                    Topology::vpc_next_hop(i),
                    10 * (i + 1)
                ),
            )
        }
    }

    /// Starts `argv` inside namespace `n` as process `name`, stdout and stderr to `log` in
    /// the lab directory, with extra environment `env`; its PID.
    pub fn spawn(
        &mut self,
        name: &str,
        n: &str,
        argv: &[&str],
        log: &str,
        env: &[(&str, &str)],
    ) -> Result<u32> {
        let log =
            std::fs::File::create(self.dir.join(log)).with_context(|| format!("creating {log}"))?;
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(n)]).args(argv);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {name} ({argv:?})"))?;
        let pid = child.id();
        self.procs.push(Proc {
            name: name.to_string(),
            child,
        });
        self.write_pids()?;
        Ok(pid)
    }

    /// The PID of process `name`, if the lab started one under that name and it is tracked.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.procs
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.child.id())
    }

    /// Whether process `name` is still running (None: no such process).
    pub fn running(&mut self, name: &str) -> Option<bool> {
        let p = self.procs.iter_mut().find(|p| p.name == name)?;
        Some(matches!(p.child.try_wait(), Ok(None)))
    }

    fn take(&mut self, pid: u32) -> Option<Child> {
        let i = self.procs.iter().position(|p| p.child.id() == pid)?;
        let p = self.procs.remove(i);
        let _ = self.write_pids();
        Some(p.child)
    }

    /// Stops one process of the lab: SIGTERM, SIGKILL after `grace`.
    pub fn stop(&mut self, pid: u32, grace: Duration) {
        if let Some(mut c) = self.take(pid) {
            terminate(&mut c, grace);
        }
    }

    /// Kills one process of the lab at once (SIGKILL, as a crash would: an IKE daemon's SAs
    /// die with it and no Delete is sent).
    pub fn kill(&mut self, pid: u32) {
        if let Some(mut c) = self.take(pid) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for one process of the lab to exit by itself; its exit status.
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.procs.iter_mut().find(|p| p.child.id() == pid)?;
            if let Ok(Some(st)) = p.child.try_wait() {
                self.take(pid);
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn write_pids(&self) -> Result<()> {
        let text: String = self
            .procs
            .iter()
            .map(|p| format!("{} {}\n", p.child.id(), p.name))
            .collect();
        std::fs::write(self.dir.join("pids"), text)?;
        Ok(())
    }

    /// Stops every process (SIGTERM to all, SIGKILL to what is left after `grace`) and
    /// removes the namespaces.
    pub fn cleanup(&mut self, grace: Duration) {
        for p in &self.procs {
            signal(p.child.id(), "TERM");
        }
        let deadline = Instant::now() + grace;
        for p in &mut self.procs {
            while matches!(p.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        self.procs.clear();
        for n in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", &n])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_file(self.dir.join("pids"));
    }
}

fn terminate(child: &mut Child, grace: Duration) {
    signal(child.id(), "TERM");
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.keep {
            self.cleanup(Duration::from_secs(5));
        }
    }
}

/// Removes a lab left by `--keep`: stops its processes (by the PIDs it recorded in `dir`,
/// and only those whose command line still names `expect`) and deletes its namespaces.
/// The number of processes stopped.
pub fn cleanup_kept(prefix: &str, dir: &Path, expect: &str) -> Result<usize> {
    let mut stopped = 0;
    if let Ok(text) = std::fs::read_to_string(dir.join("pids")) {
        for line in text.lines() {
            let Some(pid) = line
                .split_whitespace()
                .next()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(expect) {
                signal(pid, "TERM");
                stopped += 1;
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    for n in NAMESPACES {
        let _ = Command::new("ip")
            .args(["netns", "del", &format!("{prefix}-{n}")])
            .stderr(Stdio::null())
            .status();
    }
    let _ = std::fs::remove_file(dir.join("pids"));
    if Path::new(&format!("/run/netns/{prefix}-cgw")).exists() {
        return Err(anyhow!("{prefix}-cgw could not be removed"));
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn documentation_or_inside(a: Ipv4Addr) -> bool {
        let o = a.octets();
        matches!(
            o,
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] | [10, ..] | [169, 254, ..]
        )
    }

    #[test]
    fn every_address_is_a_documentation_or_inside_address() {
        for (nat, attacker) in [(false, false), (true, true)] {
            let t = Topology {
                nat,
                attacker,
                ..Topology::demo()
            };
            for step in t.steps() {
                let addrs: Vec<Ipv4Addr> = match &step {
                    Step::Address { cidr, .. } => {
                        vec![cidr.parse::<Ipv4Net>().expect(cidr).addr()]
                    }
                    Step::Route { via, .. } => vec![*via],
                    _ => vec![],
                };
                for a in addrs {
                    assert!(documentation_or_inside(a), "{a} in {step:?}");
                }
            }
        }
    }

    #[test]
    fn links_join_namespaces_made_before_them() {
        for (nat, attacker) in [(false, false), (true, false), (false, true)] {
            let t = Topology {
                nat,
                attacker,
                ..Topology::demo()
            };
            let mut made = Vec::new();
            for step in t.steps() {
                match step {
                    Step::Namespace(n) => made.push(n),
                    Step::Veth { a, b, .. } => {
                        assert!(made.contains(&a) && made.contains(&b), "{a} - {b}")
                    }
                    Step::Address { ns, .. }
                    | Step::Route { ns, .. }
                    | Step::Sysctl { ns, .. }
                    | Step::Masquerade { ns, .. } => assert!(made.contains(&ns), "{ns}"),
                    _ => {}
                }
            }
            assert_eq!(made.contains(&"nat"), nat);
            assert_eq!(made.contains(&"attacker"), attacker);
            assert_eq!(made, t.namespaces());
        }
    }

    #[test]
    fn with_a_nat_cgw_has_the_private_address_and_the_nat_the_public_one() {
        let t = Topology {
            nat: true,
            ..Topology::demo()
        };
        let steps = t.steps();
        let has = |ns: &str, cidr: &str| {
            steps
                .iter()
                .any(|s| matches!(s, Step::Address { ns: n, cidr: c, .. } if *n == ns && c == cidr))
        };
        assert!(has("cgw", "10.99.0.2/24"));
        assert!(has("nat", "198.51.100.10/24"));
        assert!(!has("cgw", "198.51.100.10/24"));
        assert!(steps.contains(&Step::Masquerade {
            ns: "nat",
            out_dev: "out0"
        }));
    }

    #[test]
    fn steps_render_as_ip_commands_in_the_prefixed_namespaces() {
        let argv = Topology::vpc_route(1).argv("lab7");
        assert_eq!(
            argv,
            vec![vec![
                "ip",
                "-n",
                "lab7-vpc",
                "route",
                "replace",
                "10.10.0.0/24",
                "via",
                "10.201.2.1",
                "metric",
                "20"
            ]]
        );
        let s = Step::Sysctl {
            ns: "aws1",
            key: "net.ipv4.ip_forward",
            value: "1",
        };
        assert_eq!(
            s.argv("p")[0][3..],
            [
                "p-aws1",
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_forward"
            ]
        );
    }
}
