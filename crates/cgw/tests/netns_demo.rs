//! `cgw demo` end to end: the network-namespace lab with two emulated AWS endpoints, run as a
//! user would run it. Needs root (CI runs as root); without it these tests fail, they do not
//! skip.

use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CGW: &str = env!("CARGO_BIN_EXE_cgw");

/// The demo's namespaces have fixed names: one demo at a time.
static DEMO: Mutex<()> = Mutex::new(());

fn require_root() {
    // SAFETY: geteuid(2) has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "`cgw demo` builds network namespaces and needs root: run `sudo -E cargo test -p cgw --test netns_demo` (CI runs as root)"
    );
}

fn demo_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("cgwdemo-"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn demo_with_bgp_runs_every_step_and_cleans_up() {
    let _g = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let dir = std::env::temp_dir().join(format!("cgw-demo-test-{}", std::process::id()));
    let t = Instant::now();
    let out = Command::new(CGW)
        .args(["demo", "--routing", "bgp", "--seconds", "1", "--dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "{stdout}\n{stderr}\n(took {:.0} s)",
        t.elapsed().as_secs_f64()
    );
    assert!(out.status.success(), "exit {:?}", out.status.code());
    for want in [
        "Report: every step worked",
        "tunnel1 up",
        "tunnel2 up",
        "IKE SA aes256-sha384-prfsha384-ecp384, Child SA aes256gcm16",
        "BGP: tunnel1 established (AS 64512, MED 100), tunnel2 established (AS 64512, MED 200)",
        "ping 10.10.0.10 -> 10.201.0.10: 5/5 answered",
        "throughput on-prem -> VPC",
        "routes on tunnel2 after",
        "ping through tunnel2: 3/3 answered",
        "new tunnel1 after",
        "ping through tunnel1 again: 3/3 answered",
        "lab removed",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in the report");
    }
    assert!(!stdout.contains("[FAIL]"));
    // The measured failover outage is reported and plausible (monitor 1 s x 3).
    let gap: f64 = stdout
        .split("longest gap in a 100/s probe stream ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("an outage figure");
    assert!(gap > 0.5 && gap < 15.0, "outage {gap} s");
    assert!(demo_namespaces().is_empty(), "{:?}", demo_namespaces());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_interrupted_by_ctrl_c_removes_the_lab() {
    let _g = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    let dir = std::env::temp_dir().join(format!("cgw-demo-int-{}", std::process::id()));
    let mut child = Command::new(CGW)
        .args(["demo", "--dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt once the tunnels are being set up (the lab and processes exist).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.join("cgw.log").exists() {
        assert!(Instant::now() < deadline, "the demo never started cgw");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!demo_namespaces().is_empty());
    // SAFETY: kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    println!("{stdout}");
    assert_eq!(status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("interrupted: removing the lab"), "{stdout}");
    assert!(demo_namespaces().is_empty(), "{:?}", demo_namespaces());
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap_or_default();
    assert!(pids.is_empty(), "processes left: {pids}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn demo_without_root_says_how_to_run_it() {
    let _g = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    require_root();
    // Run the binary as `nobody` (from a copy it can read).
    let dir = std::env::temp_dir().join(format!("cgw-demo-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("cgw");
    std::fs::copy(CGW, &exe).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .arg("demo")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");
    assert!(
        stderr.contains(&format!("sudo {} demo", exe.display())),
        "the exact command: {stderr}"
    );
    assert!(stderr.contains("--in-memory"), "{stderr}");
    // The in-memory demo runs without root.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["demo", "--in-memory"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
