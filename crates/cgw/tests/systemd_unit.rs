//! `dist/cgw.service` is a unit systemd accepts as written: `systemd-analyze verify` reports
//! nothing about it (an unknown or misspelt directive, a bad value), and it keeps the
//! sandboxing and capability bounds the README promises. Needs `systemd-analyze` (package
//! systemd, which .ci/run installs); fails without it.

use std::process::Command;

const UNIT: &str = include_str!("../../../dist/cgw.service");
const CGW: &str = env!("CARGO_BIN_EXE_cgw");

#[test]
fn the_systemd_unit_verifies_and_sandboxes_the_daemon() {
    // The unit names /usr/local/bin/cgw; verify a copy that names the binary just built.
    let dir = std::env::temp_dir().join(format!("cgw-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unit = dir.join("cgw.service");
    std::fs::write(&unit, UNIT.replace("/usr/local/bin/cgw", CGW)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze is missing: install the systemd package (.ci/run does)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let about_ours: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("cgw.service"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        about_ours.is_empty(),
        "systemd-analyze about the unit: {about_ours:#?}"
    );
    for directive in [
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_NET_RAW",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "DevicePolicy=closed",
        "DeviceAllow=/dev/net/tun rw",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX",
        "MemoryDenyWriteExecute=yes",
        "UMask=0077",
    ] {
        assert!(
            UNIT.lines().any(|l| l == directive),
            "the unit lacks {directive}"
        );
    }
}
