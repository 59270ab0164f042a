//! The `cgw` command: a userspace IKEv2/IPsec customer gateway for AWS Site-to-Site VPN.

mod daemon;
mod demo;

use anyhow::{anyhow, Context, Result};
use cgw::config::CgwConfig;
use clap::{Parser, Subcommand};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cgw",
    version,
    about = "A software customer gateway for AWS Site-to-Site VPN (IKEv2/IPsec in userspace)",
    long_about = "cgw makes a Linux host the on-premises end of an AWS Site-to-Site VPN connection: two IKEv2 \
tunnels with pre-shared keys, ESP in userspace (AES-GCM or AES-CBC+HMAC, NAT-T), one TUN device per tunnel, \
and either static routing with tunnel monitoring and failover or BGP over both tunnels.\n\n\
Typical use:\n  aws ec2 describe-vpn-connections --vpn-connection-ids vpn-... > vpn.json\n  \
cgw import aws vpn.json --remote-cidr 172.31.0.0/16 -o cgw.toml\n  cgw check -c cgw.toml\n  sudo cgw up -c cgw.toml\n  \
sudo cgw status"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway in the foreground (systemd-friendly; logs to stderr with timestamps).
    Up {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/cgw/cgw.toml")]
        config: PathBuf,
        /// Log level: error, warn, info, debug, trace (or a RUST_LOG-style filter).
        #[arg(long, default_value = "info")]
        log_level: String,
    },
    /// Validate a configuration without touching the system.
    Check {
        /// Configuration file.
        #[arg(short, long, default_value = "/etc/cgw/cgw.toml")]
        config: PathBuf,
    },
    /// Turn what AWS gives you into a cgw.toml.
    #[command(subcommand)]
    Import(ImportCmd),
    /// Show the running daemon's tunnels, SAs, counters, monitor and routes.
    Status {
        /// Print the JSON document (its shape is documented in the README).
        #[arg(long)]
        json: bool,
        /// The daemon's configuration (to find its control socket).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The control socket (overrides the configuration's).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Stop the running daemon: it deletes its SAs, removes its routes and devices, and exits 0.
    Down {
        /// The daemon's configuration (to find its control socket).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The control socket (overrides the configuration's).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Write the running daemon's IKE and ESP keys for Wireshark (`ikev2_decryption_table` and
    /// `esp_sa` in DIR), so that a capture can be decrypted. The files are secrets.
    Keys {
        /// Write Wireshark's key tables into this directory.
        #[arg(long, value_name = "DIR")]
        wireshark: PathBuf,
        /// The daemon's configuration (to find its control socket).
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// The control socket (overrides the configuration's).
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Play the AWS side of a VPN connection (a lab stand-in for AWS): both tunnel endpoints
    /// with AWS's proposal order, timers, DPD and BGP (ASN 64512, MED 100/200).
    #[command(
        name = "emulate-aws",
        long_about = "Play the AWS side of a VPN connection on a lab host: one endpoint per tunnel \
(its outside address must be on this host), pre-shared key per tunnel, AWS's proposals in AWS's \
evaluation order (lowest value first), traffic selectors 0.0.0.0/0, AWS on the first inside address \
(answering ping there), rekeys on AWS's timers (28800/3600 s, margin 270 s, fuzz 100 % unless the \
file says otherwise), DPD, never initiating (startup action `add`), and with routing = \"bgp\" a \
passive BGP speaker per tunnel (ASN 64512) advertising the VPC prefixes with MED 100 on tunnel 1 \
and 200 on tunnel 2.\n\n\
`--describe` prints the `aws ec2 describe-vpn-connections` JSON AWS would give the customer, \
for `cgw import aws`.\n\nExample:\n  cgw emulate-aws --print-example > aws-side.toml\n  \
cgw emulate-aws -c aws-side.toml --describe > vpn.json\n  sudo cgw emulate-aws -c aws-side.toml"
    )]
    EmulateAws {
        /// The emulator file (`--print-example` shows one); default: the built-in example.
        #[arg(short, long)]
        config: Option<PathBuf>,
        /// Run only this tunnel's endpoint (1 or 2); default: both, in one process.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        tunnel: Option<u8>,
        /// Print the describe-vpn-connections JSON for the connection and exit.
        #[arg(long)]
        describe: bool,
        /// Print the built-in example file and exit.
        #[arg(long)]
        print_example: bool,
        /// Log level: error, warn, info, debug, trace (or a RUST_LOG-style filter).
        #[arg(long, default_value = "info")]
        log_level: String,
    },
    /// The demonstration without an AWS account. As root: a lab of network namespaces with two
    /// emulated AWS endpoints, tunnels, traffic, failover. `--in-memory`: the engines only.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum ImportCmd {
    /// From `aws ec2 describe-vpn-connections` JSON, the CustomerGatewayConfiguration XML, or
    /// AWS's "Generic" text download.
    Aws {
        /// The file AWS gave you.
        file: PathBuf,
        /// Write the configuration here (mode 0600: it holds the pre-shared keys); default stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Our address on this host, when it is not the customer gateway address AWS knows
        /// (this host is behind a NAT).
        #[arg(long)]
        local_address: Option<Ipv4Addr>,
        /// A VPC CIDR to route into the tunnels (static routing); repeatable.
        #[arg(long = "remote-cidr")]
        remote_cidr: Vec<ipnet::Ipv4Net>,
        /// An on-premises prefix; repeatable.
        #[arg(long)]
        lan: Vec<ipnet::Ipv4Net>,
    },
}

/// Commands that only print (status, import to stdout, the emulator's JSON) end quietly when
/// the reader goes away (`cgw status | head`), like other Unix tools. The daemons keep Rust's
/// default (SIGPIPE ignored), since a peer closing a socket must not kill them.
fn die_quietly_on_closed_stdout() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread is started.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Cmd::Status { .. } | Cmd::Check { .. } | Cmd::Import(_) => die_quietly_on_closed_stdout(),
        Cmd::EmulateAws {
            describe,
            print_example,
            ..
        } if *describe || *print_example => die_quietly_on_closed_stdout(),
        _ => {}
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cgw: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn socket_path(config: Option<PathBuf>, socket: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(s) = socket {
        return Ok(s);
    }
    match config {
        Some(c) => Ok(CgwConfig::load(&c)
            .map_err(|e| anyhow!("{e}"))?
            .gateway
            .control_socket),
        None => Ok(cgw::config::defaults::control_socket()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn init_logging(log_level: &str) -> Result<()> {
    // netlink-packet-route warns about every attribute newer than itself (a newer kernel's
    // IFLA_INET6_CONF, say): noise to an operator, kept out unless asked for by name.
    let directives = if log_level.contains("netlink") {
        log_level.to_string()
    } else {
        format!("{log_level},netlink_packet_route=error")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .with_context(|| format!("invalid --log-level {log_level:?}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    Ok(())
}

fn emulate_aws(
    config: Option<PathBuf>,
    tunnel: Option<u8>,
    describe: bool,
    log_level: &str,
) -> Result<ExitCode> {
    let (text, name) = match &config {
        Some(p) => (
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            p.display().to_string(),
        ),
        None => (
            cgw::emulate::EXAMPLE.to_string(),
            "the built-in example".to_string(),
        ),
    };
    let emu = match cgw::emulate::Emulator::parse(&text) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cgw: {name}: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if describe {
        print!("{}", emu.describe_vpn_connections_json());
        return Ok(ExitCode::SUCCESS);
    }
    let indexes: Vec<usize> = match tunnel {
        Some(n) => vec![n as usize - 1],
        None => vec![0, 1],
    };
    let mut configs = Vec::new();
    for &i in &indexes {
        match emu.endpoint_config(i) {
            Ok(c) => configs.push(c),
            Err(e) => {
                eprintln!("cgw: {name}: tunnel {}: {e}", i + 1);
                return Ok(ExitCode::from(2));
            }
        }
    }
    init_logging(log_level)?;
    tracing::info!(
        "emulating AWS for {} ({}): tunnel endpoint(s) {}",
        emu.spec.vpn_connection_id,
        if emu.spec.static_routes_only {
            "static routing"
        } else {
            "BGP"
        },
        configs
            .iter()
            .map(|c| c.gateway.local_address.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rt = runtime()?;
    // The daemon's future is not Send (the engine's RNG); the endpoints share one thread.
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut set = tokio::task::JoinSet::new();
        // One endpoint drops its capabilities once set up; two on one thread keep them (the
        // first would take away what the second still needs to set up).
        let privileges = if configs.len() == 1 {
            daemon::Privileges::Drop
        } else {
            daemon::Privileges::Keep
        };
        for c in configs {
            set.spawn_local(daemon::run(c, privileges));
        }
        // The endpoints stop together: on a signal each returns Ok; an error in one stops all.
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(anyhow!("endpoint task: {e}")),
            }
        }
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::EmulateAws {
            config,
            tunnel,
            describe,
            print_example,
            log_level,
        } => {
            if print_example {
                print!("{}", cgw::emulate::EXAMPLE);
                return Ok(ExitCode::SUCCESS);
            }
            emulate_aws(config, tunnel, describe, &log_level)
        }
        Cmd::Up { config, log_level } => {
            init_logging(&log_level)?;
            let cfg = match CgwConfig::load_validated(&config) {
                Ok(c) => c,
                Err(errs) => {
                    for e in errs {
                        eprintln!("cgw: {}: {e}", config.display());
                    }
                    return Ok(ExitCode::from(2));
                }
            };
            for w in cfg.warnings() {
                tracing::warn!("{w}");
            }
            runtime()?.block_on(daemon::run(cfg, daemon::Privileges::Drop))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Check { config } => match CgwConfig::load_validated(&config) {
            Ok(cfg) => {
                for w in cfg.warnings() {
                    println!("warning: {w}");
                }
                println!(
                    "{}: OK ({} tunnel(s), routing {:?})",
                    config.display(),
                    cfg.tunnels.len(),
                    cfg.gateway.routing
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errs) => {
                for e in &errs {
                    eprintln!("{}: {e}", config.display());
                }
                eprintln!("{}: {} problem(s)", config.display(), errs.len());
                Ok(ExitCode::from(2))
            }
        },
        Cmd::Import(ImportCmd::Aws {
            file,
            output,
            local_address,
            remote_cidr,
            lan,
        }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let opts = cgw::import::ImportOptions {
                local_address,
                remote_cidrs: remote_cidr,
                lan,
                source_name: Some(file.display().to_string()),
            };
            let imported = cgw::import::import_aws(&text, &opts)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            for w in &imported.warnings {
                eprintln!("warning: {w}");
            }
            match output {
                Some(path) => {
                    write_secret_file(&path, &imported.toml)?;
                    eprintln!(
                        "wrote {} from {} ({} tunnels); next: cgw check -c {}",
                        path.display(),
                        imported.format,
                        imported.config.tunnels.len(),
                        path.display()
                    );
                }
                None => print!("{}", imported.toml),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status {
            json,
            config,
            socket,
        } => {
            let path = socket_path(config, socket)?;
            let v = runtime()?.block_on(daemon::control_request(&path, "status"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let s: cgw::status::Status = serde_json::from_value(v)
                    .context("the daemon's status document is not this cgw's (another version?)")?;
                print_status(&s);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Down { config, socket } => {
            let path = socket_path(config, socket)?;
            runtime()?.block_on(daemon::control_request(&path, "down"))?;
            println!("cgw: daemon stopped");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Keys {
            wireshark,
            config,
            socket,
        } => {
            let path = socket_path(config, socket)?;
            let v = runtime()?.block_on(daemon::control_request(&path, "keys"))?;
            write_wireshark_tables(&wireshark, &v)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo(args) => demo::run(args),
    }
}

fn write_secret_file(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn print_status(v: &cgw::status::Status) {
    println!("cgw {} routing {}", v.version, v.routing);
    for t in &v.tunnels {
        println!(
            "\n{} ({}) -> {}: {}",
            t.name,
            t.device,
            t.aws_outside_address,
            t.state.to_string().to_uppercase()
        );
        if let Some(k) = &t.ike_sa {
            println!(
                "  IKE SA   {} {}  {} -> {}  NAT-T {}  up {} s",
                k.spi_i,
                k.algorithms,
                k.local,
                k.remote,
                if k.nat_t { "yes" } else { "no" },
                k.uptime_secs
            );
        }
        if let Some(c) = &t.child_sa {
            println!(
                "  Child SA in {} out {} {}  up {} s",
                c.inbound_spi, c.outbound_spi, c.algorithms, c.uptime_secs
            );
        }
        let tr = &t.traffic;
        println!(
            "  traffic  out {} pkts / {} B, in {} pkts / {} B",
            tr.tx_packets, tr.tx_bytes, tr.rx_packets, tr.rx_bytes
        );
        let drops: Vec<String> = t
            .drops
            .by_reason()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        println!(
            "  drops    {}",
            if drops.is_empty() {
                "none".into()
            } else {
                drops.join(", ")
            }
        );
        let m = &t.monitor;
        if m.enabled {
            println!(
                "  monitor  {} (misses {}, rtt {} ms)",
                if m.alive { "alive" } else { "not answering" },
                m.consecutive_misses,
                m.last_rtt_ms
                    .map(|x| format!("{x:.1}"))
                    .unwrap_or("-".into())
            );
        } else {
            println!("  monitor  off");
        }
        if let Some(e) = &t.last_error {
            println!("  last error: {e}");
        }
    }
    for r in &v.routes {
        println!("\nroute {} via {} ({})", r.destination, r.device, r.tunnel);
    }
    for b in &v.bgp.sessions {
        println!(
            "\nBGP {} with {} (AS {}): {}, {} route(s) received{}",
            b.tunnel,
            b.peer,
            b.peer_asn,
            b.state,
            b.received.len(),
            b.last_error
                .as_ref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
}

/// Writes Wireshark's `ikev2_decryption_table` and `esp_sa` UAT files from the daemon's keys.
fn write_wireshark_tables(dir: &std::path::Path, v: &serde_json::Value) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let q = |x: &serde_json::Value| x.as_str().unwrap_or("").to_string();
    let mut ike = String::new();
    for k in v["ike_sas"].as_array().into_iter().flatten() {
        ike.push_str(&format!(
            "{},{},{},{},\"{}\",{},{},\"{}\"\n",
            q(&k["spi_i"]),
            q(&k["spi_r"]),
            q(&k["sk_ei"]),
            q(&k["sk_er"]),
            q(&k["encr"]),
            q(&k["sk_ai"]),
            q(&k["sk_ar"]),
            q(&k["integ"])
        ));
    }
    let mut esp = String::new();
    for k in v["esp_sas"].as_array().into_iter().flatten() {
        esp.push_str(&format!(
            "\"IPv4\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\",\"{}\"\n",
            q(&k["src"]),
            q(&k["dst"]),
            q(&k["spi"]),
            q(&k["encr"]),
            q(&k["encr_key"]),
            q(&k["auth"]),
            q(&k["auth_key"])
        ));
    }
    write_secret_file(&dir.join("ikev2_decryption_table"), &ike)?;
    write_secret_file(&dir.join("esp_sa"), &esp)?;
    eprintln!(
        "warning: {} now holds live session keys: anyone with them can decrypt this traffic; delete them when done",
        dir.display()
    );
    println!(
        "wrote {} IKE SA(s) and {} ESP SA(s) to {}/ikev2_decryption_table and {}/esp_sa",
        v["ike_sas"].as_array().map_or(0, |a| a.len()),
        v["esp_sas"].as_array().map_or(0, |a| a.len()),
        dir.display(),
        dir.display()
    );
    Ok(())
}
