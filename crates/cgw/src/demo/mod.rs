//! `cgw demo`: a whole AWS VPN connection on one host, no AWS account needed.
//!
//! As root it builds a lab of network namespaces (on-prem host, cgw, internet, two AWS
//! endpoints played by `cgw emulate-aws`, a VPC host), configures cgw from the emulator's
//! `describe-vpn-connections` JSON with `cgw import aws`, and shows the tunnels coming up, a
//! ping and a throughput measurement through them, tunnel 1 failing with the measured outage,
//! and tunnel 1 returning. `--in-memory` runs the engines alone, without root.

mod memory;
mod probe;

use anyhow::{anyhow, bail, Context, Result};
use cgw::lab::{self, Lab, Topology};
use cgw::status::{Status, TunnelState, TunnelStatus};
use clap::{Args, ValueEnum};
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Routing between on-prem and the VPC: static (monitor and failover) or BGP.
    #[arg(long, value_enum, default_value = "static")]
    routing: DemoRouting,
    /// Leave the lab running at the end, with instructions for poking at it.
    #[arg(long)]
    keep: bool,
    /// Remove a lab left by `--keep` and exit.
    #[arg(long, conflicts_with_all = ["keep", "in_memory"])]
    cleanup: bool,
    /// Seconds of TCP traffic for the throughput measurement.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// The engines only, in memory (no root, no namespaces): IKE between two cgw endpoints,
    /// ESP of every size, and one core's encrypt+decrypt rate.
    #[arg(long)]
    in_memory: bool,
    /// Where the lab keeps its configuration files and logs.
    #[arg(long, default_value = "/tmp/cgw-demo")]
    dir: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DemoRouting {
    Static,
    Bgp,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

pub fn run(args: DemoArgs) -> Result<ExitCode> {
    if args.in_memory {
        return memory::run();
    }
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        let argv: Vec<String> = std::env::args().collect();
        eprintln!(
            "cgw demo builds a lab of network namespaces on this host, which needs root.\n\
             Run it as:\n\n    sudo {}\n\n\
             (or `{} --in-memory` for the engines alone, without root)",
            argv.join(" "),
            argv.join(" ")
        );
        return Ok(ExitCode::from(2));
    }
    if args.cleanup {
        let n = lab::cleanup_kept(lab::DEMO_PREFIX, &args.dir, "cgw")?;
        println!(
            "cgw demo: removed the lab's namespaces ({}-*) and stopped {n} process(es)",
            lab::DEMO_PREFIX
        );
        return Ok(ExitCode::SUCCESS);
    }
    if Lab::exists(lab::DEMO_PREFIX) {
        eprintln!(
            "cgw demo: a demo lab is already running (namespaces {}-*, probably from --keep).\n\
             Remove it with:\n\n    sudo {} demo --cleanup",
            lab::DEMO_PREFIX,
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| "cgw".into())
        );
        return Ok(ExitCode::from(1));
    }
    lab::run(&["ip", "-V"]).context("cgw demo needs the `ip` command (package iproute2)")?;
    // Ctrl-C and SIGTERM end the demo through the normal path, which removes the lab.
    // SAFETY: installing an async-signal-safe handler (it only stores an atomic).
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut demo = Demo::new(&args)?;
    let result = demo.run();
    let code = match &result {
        Ok(()) if demo.failed == 0 => 0,
        _ => 1,
    };
    if let Err(e) = &result {
        demo.failed += 1;
        demo.progress.clear();
        if INTERRUPTED.load(Ordering::SeqCst) {
            println!("\ninterrupted: removing the lab");
        } else {
            println!("\nFAILED: {e:#}");
            demo.dump_logs();
        }
    }
    demo.report();
    if args.keep && !INTERRUPTED.load(Ordering::SeqCst) {
        demo.lab.keep = true;
        demo.keep_instructions();
    } else {
        demo.lab.cleanup(Duration::from_secs(5));
        println!(
            "lab removed (namespaces {}-*, processes stopped)",
            lab::DEMO_PREFIX
        );
    }
    Ok(if INTERRUPTED.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else {
        ExitCode::from(code)
    })
}

/// One line per step on stdout; while a step waits, a spinner on stderr (when it is a
/// terminal) or one "waiting for" line (when it is not).
struct Progress {
    tty: bool,
    drawn: bool,
}

impl Progress {
    fn clear(&mut self) {
        if self.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            self.drawn = false;
        }
    }

    fn waiting(&mut self, what: &str, since: Instant, first: bool) {
        if self.tty {
            const SPIN: [char; 4] = ['|', '/', '-', '\\'];
            let i = (since.elapsed().as_millis() / 150) as usize % SPIN.len();
            eprint!(
                "\r\x1b[2K  {} {what} ({:.1} s)",
                SPIN[i],
                since.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
            self.drawn = true;
        } else if first {
            eprintln!("  ... {what}");
        }
    }
}

struct Step {
    ok: bool,
    text: String,
}

struct Demo {
    lab: Lab,
    routing: DemoRouting,
    seconds: f64,
    progress: Progress,
    steps: Vec<Step>,
    failed: usize,
    sock: PathBuf,
    facts: Vec<(String, String)>,
}

const PROBE_PORT: u16 = 7;
const THROUGHPUT_PORT: u16 = 5201;

impl Demo {
    fn new(args: &DemoArgs) -> Result<Self> {
        let lab = Lab::new(Topology::demo(), args.dir.clone())?;
        Ok(Self {
            sock: lab.dir.join("cgw.sock"),
            lab,
            routing: args.routing,
            seconds: args.seconds.clamp(0.5, 60.0),
            progress: Progress {
                tty: std::io::stderr().is_terminal(),
                drawn: false,
            },
            steps: Vec::new(),
            failed: 0,
            facts: Vec::new(),
        })
    }

    fn step(&mut self, ok: bool, text: String) {
        self.progress.clear();
        println!("  [{}] {text}", if ok { " ok " } else { "FAIL" });
        if !ok {
            self.failed += 1;
        }
        self.steps.push(Step { ok, text });
    }

    /// Polls `f` every 100 ms until it gives a value, for at most `timeout`.
    fn wait<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&mut Self) -> Option<T>,
    ) -> Result<(T, Duration)> {
        let start = Instant::now();
        let mut first = true;
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            if let Some(v) = f(self) {
                self.progress.clear();
                return Ok((v, start.elapsed()));
            }
            if start.elapsed() > timeout {
                self.progress.clear();
                bail!("timed out after {} s waiting for {what}", timeout.as_secs());
            }
            self.progress.waiting(what, start, first);
            first = false;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn status(&self) -> Option<Status> {
        status_of(&self.sock)
    }

    fn exe() -> Result<String> {
        Ok(std::env::current_exe()?.display().to_string())
    }

    fn run(&mut self) -> Result<()> {
        let routing = match self.routing {
            DemoRouting::Static => "static",
            DemoRouting::Bgp => "bgp",
        };
        println!(
            "cgw demo: one AWS Site-to-Site VPN connection ({routing} routing) in network namespaces \
             {}-* on this host; files and logs in {}\n",
            lab::DEMO_PREFIX,
            self.lab.dir.display()
        );

        // 1. The lab.
        let t = Instant::now();
        self.lab.build()?;
        self.step(
            true,
            format!(
                "lab built: on-prem host {} -- cgw {} -- internet -- AWS endpoints {} and {} -- VPC host {} ({:.1} s)",
                lab::ONPREM_HOST,
                lab::CGW_PUBLIC,
                self.lab.topology.aws_outside[0],
                self.lab.topology.aws_outside[1],
                self.lab.topology.vpc_host,
                t.elapsed().as_secs_f64()
            ),
        );

        // 2. The AWS side, and what AWS would hand the customer.
        let aws_toml = cgw::emulate::EXAMPLE
            .replace(
                "routing = \"static\"",
                &format!(
                    "routing = \"{routing}\"\ncontrol_socket = \"{}\"",
                    self.lab.dir.join("aws.sock").display()
                ),
            )
            .replace(
                "# The AWS side of one Site-to-Site VPN connection, for `cgw emulate-aws`.",
                "# The AWS side of the demo's VPN connection (`cgw emulate-aws`).",
            );
        let aws_path = self.lab.dir.join("aws-side.toml");
        std::fs::write(&aws_path, &aws_toml)?;
        let aws_arg = aws_path.display().to_string();
        let json = lab::run(&[&Self::exe()?, "emulate-aws", "-c", &aws_arg, "--describe"])?;
        let json_path = self.lab.dir.join("vpn.json");
        std::fs::write(&json_path, &json)?;
        for i in 0..2 {
            self.start_endpoint(&aws_arg, i, &format!("aws{}.log", i + 1))?;
        }
        let emu_socks = [
            self.lab.dir.join("aws.sock-1"),
            self.lab.dir.join("aws.sock-2"),
        ];
        let (r, d) = self.wait("the emulated AWS endpoints", Duration::from_secs(15), |s| {
            for n in ["aws1", "aws2"] {
                if s.lab.running(n) == Some(false) {
                    return Some(Err(anyhow!("{n} exited; see {n}.log")));
                }
            }
            emu_socks
                .iter()
                .all(|p| status_of(p).is_some())
                .then_some(Ok(()))
        })?;
        r?;
        self.step(
            true,
            format!(
                "AWS endpoints emulated by `cgw emulate-aws` in {}-aws1 and -aws2 (PSK per tunnel, AWS's proposal order, {} routing) ({:.1} s)",
                lab::DEMO_PREFIX,
                routing,
                d.as_secs_f64()
            ),
        );

        // 3. cgw from AWS's JSON.
        let imported = self.lab.dir.join("cgw.imported.toml");
        let mut import_args = vec![
            Self::exe()?,
            "import".into(),
            "aws".into(),
            json_path.display().to_string(),
            "--lan".into(),
            lab::LAN.into(),
            "-o".into(),
            imported.display().to_string(),
        ];
        if self.routing == DemoRouting::Static {
            import_args.push("--remote-cidr".into());
            import_args.push(self.lab.topology.vpc_cidr.to_string());
        }
        let a: Vec<&str> = import_args.iter().map(String::as_str).collect();
        lab::run(&a)?;
        let mut cfg = cgw::config::CgwConfig::load(&imported).map_err(|e| anyhow!("{e}"))?;
        cfg.gateway.control_socket = self.sock.clone();
        cfg.monitor.interval_secs = 1;
        cfg.monitor.threshold = 3;
        cfg.monitor.failback_hold_secs = 5;
        let cgw_path = self.lab.dir.join("cgw.toml");
        std::fs::write(
            &cgw_path,
            format!(
                "# `cgw import aws vpn.json` (cgw.imported.toml) with the demo's changes: control socket\n\
                 # in the lab directory, monitor every 1 s with 3 misses, failback after 5 s.\n{}",
                toml::to_string(&cfg)?
            ),
        )?;
        let check = lab::run(&[
            &Self::exe()?,
            "check",
            "-c",
            &cgw_path.display().to_string(),
        ])?;
        self.step(
            true,
            format!(
                "cgw.toml written by `cgw import aws vpn.json` from the emulator's describe-vpn-connections JSON; `cgw check`: {}",
                check.lines().last().unwrap_or("").trim()
            ),
        );

        // 4. cgw up, both tunnels.
        let cgw_arg = cgw_path.display().to_string();
        self.spawn_self(
            "cgw",
            "cgw",
            &["up", "-c", &cgw_arg, "--log-level", "debug"],
            "cgw.log",
        )?;
        for i in 0..2 {
            let name = format!("tunnel{}", i + 1);
            let (t, d) = self.wait(
                &format!("{name}: IKE_SA_INIT, IKE_AUTH, Child SA"),
                Duration::from_secs(60),
                |s| {
                    if s.lab.running("cgw") == Some(false) {
                        return Some(None);
                    }
                    let st = s.status()?;
                    let t = tunnel(&st, &name)?;
                    (t.state == TunnelState::Up).then_some(Some(t))
                },
            )?;
            let t = t.ok_or_else(|| anyhow!("cgw exited; see cgw.log"))?;
            let (Some(ike), Some(child)) = (&t.ike_sa, &t.child_sa) else {
                bail!("{name} is up without an IKE SA or Child SA in its status");
            };
            let text = format!(
                "{name} up ({:.1} s): {} -> {}, IKE SA {}, Child SA {} ({})",
                d.as_secs_f64(),
                ike.local,
                ike.remote,
                ike.algorithms,
                child.algorithms,
                if child.udp_encap {
                    "ESP in UDP 4500"
                } else {
                    "plain ESP"
                }
            );
            self.facts.push((
                format!("{name} algorithms"),
                format!("IKE {} / ESP {}", ike.algorithms, child.algorithms),
            ));
            self.step(true, text);
        }
        self.wait_route(
            "the VPC route via tunnel1",
            "tunnel1",
            Duration::from_secs(60),
        )?;
        if self.routing == DemoRouting::Bgp {
            let sessions = self.status().map(|s| s.bgp.sessions).unwrap_or_default();
            let mut meds = Vec::new();
            for s in &sessions {
                let med = s
                    .received
                    .iter()
                    .find(|x| x.prefix == self.lab.topology.vpc_cidr.to_string())
                    .and_then(|x| x.med)
                    .map_or_else(|| "-".into(), |m| m.to_string());
                meds.push(format!(
                    "{} {} (AS {}, MED {med})",
                    s.tunnel, s.state, s.peer_asn
                ));
            }
            self.step(
                true,
                format!(
                    "BGP: {}; best path for {} via tunnel1 (lower MED)",
                    meds.join(", "),
                    self.lab.topology.vpc_cidr
                ),
            );
        } else {
            self.step(
                true,
                format!(
                    "static route {} via tunnel1 (cgw0)",
                    self.lab.topology.vpc_cidr
                ),
            );
        }

        // 5. Traffic.
        let onprem = self.lab.ns("onprem");
        let vpc = self.lab.ns("vpc");
        let src: Ipv4Addr = lab::ONPREM_HOST;
        let dst: Ipv4Addr = self.lab.topology.vpc_host;
        let (n, count, avg) = ping_vpc(&self.lab, 5)?;
        let ok = n == count;
        self.step(
            ok,
            format!(
                "ping {src} -> {dst}: {n}/{count} answered, average {:.2} ms",
                avg * 1e3
            ),
        );
        if !ok {
            bail!("the VPC host does not answer through the tunnel");
        }
        let bps = probe::throughput(
            &onprem,
            &vpc,
            SocketAddrV4::new(dst, THROUGHPUT_PORT),
            self.seconds,
        )?;
        self.facts
            .push(("throughput".into(), format!("{:.0} Mbit/s", bps / 1e6)));
        self.step(
            bps > 0.0,
            format!(
                "throughput on-prem -> VPC, one TCP connection for {:.0} s: {:.0} Mbit/s (everything shares this host's cores)",
                self.seconds,
                bps / 1e6
            ),
        );

        // 6. Tunnel 1 fails.
        let stream = probe::Stream::start(&onprem, src, &vpc, SocketAddrV4::new(dst, PROBE_PORT))?;
        std::thread::sleep(Duration::from_millis(500));
        let old_spi = self
            .status()
            .and_then(|st| tunnel(&st, "tunnel1"))
            .and_then(|t| t.ike_sa.map(|k| k.spi_i))
            .unwrap_or_default();
        let aws1 = self
            .lab
            .pid("aws1")
            .ok_or_else(|| anyhow!("aws1 is not running"))?;
        self.lab.kill(aws1);
        self.lab.vpc_uses(0, false)?;
        let detector = if self.routing == DemoRouting::Static {
            "monitor: 3 missed pings 1 s apart"
        } else {
            "monitor ends tunnel1's BGP session"
        };
        let (_, moved) = self.wait_route(
            &format!("traffic to move to tunnel2 ({detector})"),
            "tunnel2",
            Duration::from_secs(60),
        )?;
        // Let the stream show traffic flowing again.
        std::thread::sleep(Duration::from_secs(1));
        let s = stream.finish()?;
        let outage = s.longest_gap;
        self.facts.push((
            "failover".into(),
            format!(
                "routes moved {:.1} s after endpoint 1 died; longest gap in traffic {:.1} s",
                moved.as_secs_f64(),
                outage.as_secs_f64()
            ),
        ));
        self.step(
            s.answered > 0 && outage < Duration::from_secs(30),
            format!(
                "AWS endpoint 1 killed (its SAs gone, no Delete): routes on tunnel2 after {:.1} s; longest gap in a 100/s probe stream {:.2} s ({} of {} probes answered)",
                moved.as_secs_f64(),
                outage.as_secs_f64(),
                s.answered,
                s.sent
            ),
        );
        let (n, count, _) = ping_vpc(&self.lab, 3)?;
        self.step(
            n == count,
            format!("ping through tunnel2: {n}/{count} answered"),
        );

        // 7. Tunnel 1 returns: a fresh endpoint (no SAs). AWS routes the VPC's traffic into a
        // tunnel only while it is up, so the VPC uses endpoint 1 again once it has a tunnel.
        self.start_endpoint(&aws_arg, 0, "aws1-restarted.log")?;
        let stream = probe::Stream::start(&onprem, src, &vpc, SocketAddrV4::new(dst, PROBE_PORT))?;
        let (_, d) = self.wait(
            "tunnel1 to return (cgw's DPD declares the old IKE SA dead, then cgw re-initiates)",
            Duration::from_secs(120),
            |s| {
                let st = s.status()?;
                let t = tunnel(&st, "tunnel1")?;
                let new_spi = t.ike_sa.as_ref().is_some_and(|k| k.spi_i != old_spi);
                (t.state == TunnelState::Up && new_spi).then_some(())
            },
        )?;
        let aws1_sock = self.lab.dir.join("aws.sock-1");
        let bgp = self.routing == DemoRouting::Bgp;
        self.wait(
            if bgp {
                "AWS endpoint 1 to learn the on-prem route over BGP"
            } else {
                "AWS endpoint 1 to see the tunnel up"
            },
            Duration::from_secs(30),
            |_| {
                let st = status_of(&aws1_sock)?;
                let up = tunnel(&st, "aws-tunnel1")?.state == TunnelState::Up;
                let routed = !bgp || st.bgp.installed.iter().any(|r| r.prefix == lab::LAN);
                (up && routed).then_some(())
            },
        )?;
        self.lab.vpc_uses(0, true)?;
        let (_, d2) = self.wait_route(
            "traffic to move back to tunnel1 (failback hold-down)",
            "tunnel1",
            Duration::from_secs(60),
        )?;
        std::thread::sleep(Duration::from_secs(1));
        let s = stream.finish()?;
        self.facts.push((
            "failback".into(),
            format!(
                "new tunnel1 {:.1} s after endpoint 1 returned, routes back {:.1} s later; longest gap {:.2} s",
                d.as_secs_f64(),
                d2.as_secs_f64(),
                s.longest_gap.as_secs_f64()
            ),
        ));
        self.step(
            s.answered > 0 && s.longest_gap < Duration::from_secs(5),
            format!(
                "AWS endpoint 1 back (fresh, no SAs): new tunnel1 after {:.1} s, routes back on tunnel1 {:.1} s later; longest gap {:.2} s ({} of {} probes answered)",
                d.as_secs_f64(),
                d2.as_secs_f64(),
                s.longest_gap.as_secs_f64(),
                s.answered,
                s.sent
            ),
        );
        let (n, count, _) = ping_vpc(&self.lab, 3)?;
        self.step(
            n == count,
            format!("ping through tunnel1 again: {n}/{count} answered"),
        );
        Ok(())
    }

    /// Starts AWS endpoint `i` (0-based) as `cgw emulate-aws --tunnel i+1` in its namespace.
    /// Starts this program with `args` in lab namespace `ns` as process `name`.
    fn spawn_self(&mut self, name: &str, ns: &str, args: &[&str], log: &str) -> Result<()> {
        let exe = Self::exe()?;
        let mut argv = vec![exe.as_str()];
        argv.extend_from_slice(args);
        self.lab.spawn(name, ns, &argv, log, &[]).map(|_| ())
    }

    fn start_endpoint(&mut self, aws_config: &str, i: usize, log: &str) -> Result<()> {
        let name = format!("aws{}", i + 1);
        let tunnel = (i + 1).to_string();
        let args = [
            "emulate-aws",
            "-c",
            aws_config,
            "--tunnel",
            &tunnel,
            "--log-level",
            "debug",
        ];
        self.spawn_self(&name, &name, &args, log)
    }

    /// Waits until the VPC route goes through `tunnel` (static: the active tunnel; BGP: the
    /// installed best path).
    fn wait_route(
        &mut self,
        what: &str,
        tunnel: &str,
        timeout: Duration,
    ) -> Result<((), Duration)> {
        let bgp = self.routing == DemoRouting::Bgp;
        let tunnel = tunnel.to_string();
        self.wait(what, timeout, move |s| {
            let st = s.status()?;
            let via = if bgp {
                st.bgp
                    .installed
                    .into_iter()
                    .find(|r| r.prefix == s.lab.topology.vpc_cidr.to_string())?
                    .tunnel
            } else {
                st.active_tunnel?
            };
            (via == tunnel).then_some(())
        })
    }

    fn report(&self) {
        let ok = self.failed == 0 && self.steps.iter().all(|s| s.ok);
        println!(
            "\nReport: {} ({} steps passed, {} failed)",
            if ok { "every step worked" } else { "FAILED" },
            self.steps.iter().filter(|s| s.ok).count(),
            self.failed
        );
        for s in self.steps.iter().filter(|s| !s.ok) {
            println!("  failed: {}", s.text);
        }
        for (k, v) in &self.facts {
            println!("  {k:<22} {v}");
        }
        println!("  {:<22} {}", "files and logs", self.lab.dir.display());
    }

    fn dump_logs(&self) {
        for f in ["cgw.log", "aws1.log", "aws2.log", "aws1-restarted.log"] {
            let p = self.lab.dir.join(f);
            if let Ok(text) = std::fs::read_to_string(&p) {
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(15)..];
                println!("\n--- last lines of {} ---", p.display());
                for l in tail {
                    println!("{l}");
                }
            }
        }
    }

    fn keep_instructions(&self) {
        let exe = Self::exe().unwrap_or_else(|_| "cgw".into());
        let p = lab::DEMO_PREFIX;
        println!(
            "\nThe lab keeps running (--keep). Things to try:\n\
             \n  sudo {exe} status --socket {sock}\
             \n  sudo ip netns exec {p}-onprem ping {vpc}\
             \n  sudo ip netns exec {p}-cgw ip route\
             \n  sudo ip netns exec {p}-cgw tcpdump -ni wan0 esp or udp port 4500\
             \n  sudo {exe} keys --wireshark /tmp/cgw-keys --socket {sock}\
             \n  sudo {exe} status --socket {aws}-1      # AWS endpoint 1's view\
             \n  less {dir}/cgw.log\
             \n\nRemove it with:  sudo {exe} demo --cleanup",
            sock = self.sock.display(),
            vpc = self.lab.topology.vpc_host,
            aws = self.lab.dir.join("aws.sock").display(),
            dir = self.lab.dir.display(),
        );
    }
}

/// ICMP echo from the on-prem host to the VPC host, 200 ms apart: (answered, sent, average
/// round trip in seconds).
fn ping_vpc(lab: &Lab, count: u16) -> Result<(usize, usize, f64)> {
    let rtts = probe::ping(
        &lab.ns("onprem"),
        lab::ONPREM_HOST,
        lab.topology.vpc_host,
        count,
        Duration::from_millis(200),
    )?;
    let answered: Vec<f64> = rtts.iter().flatten().map(Duration::as_secs_f64).collect();
    let avg = answered.iter().sum::<f64>() / answered.len().max(1) as f64;
    Ok((answered.len(), rtts.len(), avg))
}

fn tunnel(st: &Status, name: &str) -> Option<TunnelStatus> {
    st.tunnels.iter().find(|t| t.name == name).cloned()
}

/// The status document of the daemon behind control socket `path`, if it answers.
fn status_of(path: &Path) -> Option<Status> {
    let mut s = std::os::unix::net::UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"status\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    serde_json::from_str(&line).ok()
}
