#!/usr/bin/env python3
"""An ESP decoder independent of cgw, for the interop tests.

Reads a capture (tcpdump -w) and the ESP keys cgw wrote with `cgw keys --wireshark DIR`
(DIR/esp_sa, Wireshark's CSV), decrypts every ESP packet with scapy's own ESP code (raw ESP,
IP protocol 50, and UDP-encapsulated ESP on port 4500, RFC 3948) and prints one JSON document:

  {"sas": [{"spi": "0x...", "src": ..., "dst": ..., "decrypted": n, "failed": n}],
   "unknown_spi": n, "packets": [{"spi", "src", "dst", "inner_src", "inner_dst",
                                  "inner_proto", "payload_hex"}]}

`packets` holds the inner IPv4 packets in capture order (payload of UDP/ICMP, first 64 bytes).
Exit status 0 unless the inputs cannot be read. The test decides what the numbers must be.

usage: esp_decode.py CAPTURE ESP_SA_FILE
"""

import csv
import json
import sys

from scapy.all import IP, UDP, ICMP, Raw, rdpcap  # noqa: E402
from scapy.layers.ipsec import ESP, SecurityAssociation

# Wireshark's names (what `cgw keys --wireshark` writes) to scapy's.
ENCR = {
    "AES-GCM with 16 octet ICV [RFC4106]": "AES-GCM",
    "AES-CBC [RFC3602]": "AES-CBC",
}
AUTH = {
    "NULL": None,
    "HMAC-SHA-1-96 [RFC2404]": "HMAC-SHA1-96",
    "HMAC-SHA-256-128 [RFC4868]": "SHA2-256-128",
    "HMAC-SHA-384-192 [RFC4868]": "SHA2-384-192",
    "HMAC-SHA-512-256 [RFC4868]": "SHA2-512-256",
}


def unhex(s):
    s = s.strip()
    return bytes.fromhex(s[2:] if s.startswith("0x") else s)


def load_sas(path):
    sas = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) < 8:
                continue
            _family, src, dst, spi, encr, encr_key, auth, auth_key = row[:8]
            auth_algo = AUTH[auth]
            kw = {}
            if auth_algo is not None:
                kw = {"auth_algo": auth_algo, "auth_key": unhex(auth_key)}
            sa = SecurityAssociation(
                ESP,
                spi=int(spi, 16),
                crypt_algo=ENCR[encr],
                crypt_key=unhex(encr_key),
                # Tunnel mode: the decrypted payload is a whole inner IP packet.
                tunnel_header=IP(src=src, dst=dst),
                **kw,
            )
            sas[int(spi, 16)] = {"sa": sa, "src": src, "dst": dst, "ok": 0, "bad": 0}
    return sas


def esp_bytes(pkt):
    """The ESP part of an outer packet, or None (IKE, keepalives, anything else)."""
    if IP not in pkt:
        return None
    ip = pkt[IP]
    if ip.proto == 50:
        return bytes(ip.payload)
    if UDP in ip and 4500 in (ip[UDP].sport, ip[UDP].dport):
        data = bytes(ip[UDP].payload)
        # RFC 3948: a zero "non-ESP marker" means IKE; a single 0xff byte is a keepalive.
        if len(data) < 8 or data[:4] == b"\0\0\0\0":
            return None
        return data
    return None


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sas = load_sas(sys.argv[2])
    unknown = 0
    packets = []
    for pkt in rdpcap(sys.argv[1]):
        data = esp_bytes(pkt)
        if data is None:
            continue
        spi = int.from_bytes(data[:4], "big")
        entry = sas.get(spi)
        if entry is None:
            unknown += 1
            continue
        outer = IP(bytes(IP(src=pkt[IP].src, dst=pkt[IP].dst, proto=50) / Raw(data)))
        try:
            inner = entry["sa"].decrypt(outer)
        except Exception:  # integrity failure, bad padding: counted, not fatal
            entry["bad"] += 1
            continue
        entry["ok"] += 1
        if not isinstance(inner, IP):
            inner = IP(bytes(inner))
        body = inner.payload
        if UDP in inner:
            body = inner[UDP].payload
        elif ICMP in inner:
            body = inner[ICMP].payload
        packets.append(
            {
                "spi": "0x%08x" % spi,
                "src": pkt[IP].src,
                "dst": pkt[IP].dst,
                "inner_src": inner.src,
                "inner_dst": inner.dst,
                "inner_proto": inner.proto,
                "payload_hex": bytes(body)[:64].hex(),
            }
        )
    print(
        json.dumps(
            {
                "sas": [
                    {"spi": "0x%08x" % spi, "src": e["src"], "dst": e["dst"],
                     "decrypted": e["ok"], "failed": e["bad"]}
                    for spi, e in sas.items()
                ],
                "unknown_spi": unknown,
                "packets": packets,
            }
        )
    )


if __name__ == "__main__":
    main()
