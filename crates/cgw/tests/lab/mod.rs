//! The netns tests' view of the shared lab (`cgw::lab`: on-prem host, cgw host, an optional
//! NAT, an "internet" router, two AWS endpoints and a VPC host), with what only the tests
//! need: AWS endpoints played by strongSwan configured as AWS configures its side, panicking
//! helpers, and logs dumped when a test fails.
//!
//! Every namespace and process the lab creates is removed when it is dropped (processes by
//! PID; nothing is killed by name).
#![allow(dead_code)]

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Network tests share the machine's two cores and must not overlap in time.
pub static SERIAL: Mutex<()> = Mutex::new(());

/// Addresses of the lab.
pub const CGW_PUBLIC: Ipv4Addr = cgw::lab::CGW_PUBLIC;
pub const CGW_PRIVATE: Ipv4Addr = cgw::lab::CGW_PRIVATE;
pub const AWS: [Ipv4Addr; 2] = [
    Ipv4Addr::new(203, 0, 113, 21),
    Ipv4Addr::new(203, 0, 113, 77),
];
pub const INSIDE: [&str; 2] = ["169.254.10.0/30", "169.254.20.0/30"];
pub const AWS_INSIDE: [&str; 2] = ["169.254.10.1", "169.254.20.1"];
pub const VPC_HOST: &str = "10.202.0.10";
pub const VPC_CIDR: &str = "10.202.0.0/16";
pub const ONPREM_HOST: &str = "10.10.0.10";
pub const LAN: &str = cgw::lab::LAN;

/// How long a process gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Fails the test (never skips) when the lab cannot run here.
pub fn require_root() {
    let uid = run(&["id", "-u"]);
    assert_eq!(
        uid.trim(),
        "0",
        "these tests build network namespaces and need root: run `sudo -E cargo test -p cgw --test netns_strongswan` (CI runs as root)"
    );
    for tool in [
        "ip",
        "iptables",
        "swanctl",
        "/usr/lib/ipsec/charon",
        "iperf3",
        "ping",
        "tcpdump",
        "python3",
    ] {
        let found = if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        };
        assert!(
            found,
            "{tool} is missing: install it (see .ci/run for the apt-get line)"
        );
    }
}

/// Runs a command, panicking with its output if it fails.
pub fn run(args: &[&str]) -> String {
    cgw::lab::run(args).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Runs a command and returns (success, stdout+stderr).
pub fn try_run(args: &[&str]) -> (bool, String) {
    cgw::lab::try_run(args)
}

/// How an AWS endpoint is configured.
#[derive(Clone, Debug, Default)]
pub struct AwsSide {
    pub psk: String,
    pub ike_proposals: String,
    pub esp_proposals: String,
    /// Extra swanctl settings for the connection (e.g. short rekey times), one per line.
    pub conn_extra: String,
    /// Extra swanctl settings for the child.
    pub child_extra: String,
}

/// A running lab.
pub struct Lab {
    pub inner: cgw::lab::Lab,
    pub dir: PathBuf,
    pub nat: bool,
    aws_pids: [Option<u32>; 2],
    pub aws: [AwsSide; 2],
    pub cgw_pid: Option<u32>,
}

impl Lab {
    /// Builds the topology. With `nat`, cgw sits behind a MASQUERADE router.
    pub fn new(tag: &str, nat: bool, aws: [AwsSide; 2]) -> Self {
        Self::build(tag, nat, false, aws)
    }

    /// The topology with an attacker namespace (`attacker`, at `cgw::lab::ATTACKER`).
    pub fn with_attacker(tag: &str, nat: bool, aws: [AwsSide; 2]) -> Self {
        Self::build(tag, nat, true, aws)
    }

    fn build(tag: &str, nat: bool, attacker: bool, aws: [AwsSide; 2]) -> Self {
        let topology = cgw::lab::Topology {
            prefix: format!("cgw{}{}", std::process::id() % 100000, tag),
            aws_outside: AWS,
            vpc_cidr: VPC_CIDR.parse().unwrap(),
            vpc_host: VPC_HOST.parse().unwrap(),
            nat,
            attacker,
        };
        let dir = std::env::temp_dir().join(format!("{}-lab", topology.prefix));
        let inner = cgw::lab::Lab::create(topology, dir.clone())
            .unwrap_or_else(|e| panic!("building the lab: {e:#}"));
        Self {
            inner,
            dir,
            nat,
            aws_pids: [None, None],
            aws,
            cgw_pid: None,
        }
    }

    pub fn ns(&self, n: &str) -> String {
        self.inner.ns(n)
    }

    /// Runs a command inside namespace `n`.
    pub fn exec(&self, n: &str, args: &[&str]) -> String {
        self.inner.exec(n, args).unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn try_exec(&self, n: &str, args: &[&str]) -> (bool, String) {
        self.inner.try_exec(n, args)
    }

    fn ip(&self, n: &str, args: &str) {
        self.inner.ip(n, args).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Spawns a long-running process in namespace `n`, logging to `log` (also its name).
    pub fn spawn(&mut self, n: &str, args: &[&str], log: &str, env: &[(&str, &str)]) -> u32 {
        self.inner
            .spawn(log, n, args, log, env)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Stops one process of ours by PID (SIGTERM, then SIGKILL after 3 s).
    pub fn stop_pid(&mut self, pid: u32) {
        self.inner.stop(pid, GRACE);
    }

    /// Waits up to `timeout` for one process of ours to exit by itself; its exit status.
    pub fn wait_exit(&mut self, pid: u32, timeout: Duration) -> Option<std::process::ExitStatus> {
        self.inner.wait_exit(pid, timeout)
    }

    /// Kills one process of ours at once (SIGKILL), as a crash would.
    pub fn kill_pid(&mut self, pid: u32) {
        self.inner.kill(pid);
    }

    /// Writes the strongSwan configuration of AWS endpoint `i` and starts its charon.
    pub fn start_aws(&mut self, i: usize) {
        let name = format!("aws{}", i + 1);
        let d = self.dir.join(&name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("run")).unwrap();
        let vici = d.join("charon.vici");
        let side = self.aws[i].clone();
        let conf = format!(
            r#"charon {{
  load_modular = no
  load = random nonce aes sha1 sha2 hmac gcm kdf openssl pem pkcs1 x509 revocation constraints pubkey curve25519 kernel-libipsec kernel-netlink socket-default vici
  install_routes = no
  retransmit_tries = 3
  plugins {{
    kernel-netlink {{
      fwmark = 0x5a5a0000/0xffff0000
    }}
    vici {{
      socket = unix://{vici}
    }}
  }}
  filelog {{
    lab {{
      path = {log}
      time_format = %T
      default = 1
      ike = 2
      flush_line = yes
    }}
  }}
}}
"#,
            vici = vici.display(),
            log = d.join("charon.log").display()
        );
        std::fs::write(d.join("strongswan.conf"), conf).unwrap();
        // Configured as AWS configures its side: PSK, IKEv2, the tunnel's proposals, TS 0/0,
        // DPD; AWS waits for the customer gateway to initiate (startup action "add").
        let swanctl = format!(
            r#"connections {{
  {name} {{
    version = 2
    local_addrs = {aws}
    remote_addrs = %any
    proposals = {ike}
    encap = yes
    dpd_delay = 10s
{conn_extra}
    local {{
      auth = psk
      id = {aws}
    }}
    remote {{
      auth = psk
      id = {cgw}
    }}
    children {{
      {name} {{
        local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        esp_proposals = {esp}
        mode = tunnel
        start_action = none
        dpd_action = clear
{child_extra}
      }}
    }}
  }}
}}
secrets {{
  ike-{name} {{
    id-a = {aws}
    id-b = {cgw}
    secret = "{psk}"
  }}
}}
"#,
            aws = AWS[i],
            cgw = CGW_PUBLIC,
            ike = side.ike_proposals,
            esp = side.esp_proposals,
            psk = side.psk,
            conn_extra = side.conn_extra,
            child_extra = side.child_extra
        );
        std::fs::write(d.join("swanctl.conf"), swanctl).unwrap();
        let script = format!(
            "mount --bind {run} /run && exec /usr/lib/ipsec/charon",
            run = d.join("run").display()
        );
        let conf_path = d.join("strongswan.conf");
        let pid = self.spawn(
            &name,
            &["sh", "-c", &script],
            &format!("{name}.stdout"),
            &[("STRONGSWAN_CONF", conf_path.to_str().unwrap())],
        );
        self.aws_pids[i] = Some(pid);
        wait_for(
            Duration::from_secs(10),
            || vici.exists(),
            "charon's vici socket",
        );
        let uri = format!("unix://{}", vici.display());
        let swanctl_file = d.join("swanctl.conf");
        // swanctl may race charon's startup; retry briefly.
        wait_for(
            Duration::from_secs(10),
            || {
                self.try_exec(
                    &name,
                    &[
                        "swanctl",
                        "--load-all",
                        "--file",
                        swanctl_file.to_str().unwrap(),
                        "--uri",
                        &uri,
                    ],
                )
                .0
            },
            "swanctl --load-all",
        );
        // libipsec's TUN device: AWS's inside address and the route back to the LAN.
        wait_for(
            Duration::from_secs(10),
            || self.try_exec(&name, &["ip", "link", "show", "ipsec0"]).0,
            "ipsec0",
        );
        self.ip(&name, &format!("addr add {}/30 dev ipsec0", AWS_INSIDE[i]));
        self.ip(&name, "link set ipsec0 up");
        self.ip(&name, &format!("route add {LAN} dev ipsec0"));
        self.exec(
            &name,
            &["sysctl", "-qw", "net.ipv4.conf.ipsec0.rp_filter=0"],
        );
    }

    /// Kills AWS endpoint `i` (its SAs are lost) and takes its link to the VPC down, as AWS
    /// withdraws a failed endpoint.
    pub fn kill_aws(&mut self, i: usize) {
        if let Some(pid) = self.aws_pids[i].take() {
            self.kill_pid(pid);
        }
        self.ip("vpc", &format!("link set a{} down", i + 1));
    }

    /// Brings AWS endpoint `i` back (fresh charon, no SAs) and its VPC link up.
    pub fn restore_aws(&mut self, i: usize) {
        self.ip("vpc", &format!("link set a{} up", i + 1));
        self.inner
            .vpc_uses(i, true)
            .unwrap_or_else(|e| panic!("{e:#}"));
        self.start_aws(i);
    }

    /// The charon log of endpoint `i`.
    pub fn aws_log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("aws{}/charon.log", i + 1)))
            .unwrap_or_default()
    }

    /// cgw's log.
    pub fn cgw_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("cgw.log")).unwrap_or_default()
    }

    /// Starts `cgw up -c config --log-level debug` in the cgw namespace (log `cgw.log`), as the
    /// lab's cgw, and waits for its control socket `sock`.
    pub fn start_cgw_daemon(&mut self, cgw: &str, config: &Path, sock: &Path) -> u32 {
        let pid = self.spawn(
            "cgw",
            &[
                cgw,
                "up",
                "-c",
                config.to_str().unwrap(),
                "--log-level",
                "debug",
            ],
            "cgw.log",
            &[],
        );
        self.cgw_pid = Some(pid);
        wait_for(
            Duration::from_secs(10),
            || sock.exists(),
            "cgw's control socket",
        );
        pid
    }

    /// A file of the lab directory (a log, say); empty when absent.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }

    /// `cgw status --json` from the daemon (or emulated endpoint) behind control socket `sock`.
    pub fn status_at(&self, cgw: &str, sock: &str) -> cgw::status::Status {
        let out = self.exec("cgw", &[cgw, "status", "--json", "--socket", sock]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status JSON: {e}: {out}"))
    }

    /// Writes a file into the lab directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        p
    }

    /// `cgw status --json` from the lab's cgw.
    pub fn status(&self, cgw: &str) -> cgw::status::Status {
        let sock = self.dir.join("cgw.sock");
        self.status_at(cgw, sock.to_str().unwrap())
    }

    pub fn dump_logs(&self) {
        eprintln!("----- cgw log -----\n{}", self.cgw_log());
        for i in 0..2 {
            let log = self.aws_log(i);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("----- aws{} charon log (last 40 lines) -----", i + 1);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        // The other logs of the lab's processes (other daemons, peers, captures).
        let mut others: Vec<_> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "log") && !p.ends_with("cgw.log"))
            .collect();
        others.sort();
        for p in others {
            let log = std::fs::read_to_string(&p).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("----- {} (last 60 lines) -----", p.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump_logs();
        }
        // cgw first (it deletes its SAs and routes), then everything else, by PID; then the
        // namespaces (when `inner` drops).
        if let Some(pid) = self.cgw_pid.take() {
            self.stop_pid(pid);
        }
        self.inner.cleanup(GRACE);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A cgw configuration with one tunnel to `peer`, for cgw-to-cgw runs (one side plays AWS).
/// `extra` lines go into the `[[tunnel]]` table.
pub fn one_tunnel_toml(
    local: &str,
    peer: &str,
    remote_cidr: &str,
    sock: &str,
    startup: &str,
    monitor: bool,
    extra: &str,
) -> String {
    format!(
        r#"[gateway]
local_address = "{local}"
routing = "static"
remote_cidrs = ["{remote_cidr}"]
control_socket = "{sock}"

[monitor]
enabled = {monitor}

[[tunnel]]
aws_outside_address = "{peer}"
psk = "Cgw.To.Cgw_Lab_Key_0123456789"
inside_cidr = "169.254.10.0/30"
startup_action = "{startup}"
{extra}
"#
    )
}

/// One thread's capability sets (bit masks from /proc) and its no_new_privs flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCaps {
    pub name: String,
    pub effective: u64,
    pub permitted: u64,
    pub bounding: u64,
    pub ambient: u64,
    pub inheritable: u64,
    pub no_new_privs: bool,
}

/// The capabilities of every thread of process `pid`.
pub fn thread_caps(pid: u32) -> Vec<ThreadCaps> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|x| x.trim().to_string())
                .unwrap_or_default()
        };
        let mask = |k: &str| u64::from_str_radix(&field(k), 16).unwrap_or(u64::MAX);
        v.push(ThreadCaps {
            name: field("Name:"),
            effective: mask("CapEff:"),
            permitted: mask("CapPrm:"),
            bounding: mask("CapBnd:"),
            ambient: mask("CapAmb:"),
            inheritable: mask("CapInh:"),
            no_new_privs: field("NoNewPrivs:") == "1",
        });
    }
    v
}

/// The pre-shared keys of [`emulator_toml`]'s two tunnels.
pub const EMULATED_PSK: [&str; 2] = [
    "Emulated.Tunnel1_PreShared_Key_0",
    "Emulated.Tunnel2_PreShared_Key_0",
];

/// A `cgw emulate-aws` file for one VPN connection with two tunnels on the lab's AWS
/// addresses (static routing, control sockets `<sock>-1` and `<sock>-2`).
pub fn emulator_toml(sock: &str) -> String {
    format!(
        r#"[connection]
customer_gateway_address = "{CGW_PUBLIC}"
routing = "static"
vpc_cidrs = ["{VPC_CIDR}"]
customer_cidrs = ["{LAN}"]
control_socket = "{sock}"

[[tunnel]]
outside_address = "{}"
psk = "{}"
inside_cidr = "{}"

[[tunnel]]
outside_address = "{}"
psk = "{}"
inside_cidr = "{}"
"#,
        AWS[0], EMULATED_PSK[0], INSIDE[0], AWS[1], EMULATED_PSK[1], INSIDE[1]
    )
}

/// Polls `f` until it holds or `timeout` passes (then panics naming `what`).
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}
