#!/usr/bin/env python3
"""An ESP decoder independent of cgw, for the interop tests.

Reads a capture (tcpdump -w) and the ESP keys cgw wrote with `cgw keys --wireshark DIR`
(DIR/esp_sa, Wireshark's CSV), decrypts every ESP packet with scapy's own ESP code (raw ESP,
IP protocol 50, and UDP-encapsulated ESP on port 4500, RFC 3948) and prints one JSON document:

  {"sas": [{"spi": "0x...", "src": ..., "dst": ..., "decrypted": n, "failed": n}],
   "gso_runs": n (captured UDP GSO runs, split into their ESP packets),
   "unknown_spi": n, "errors": [first failures, in words], "packets": [{"spi", "src", "dst", "inner_src", "inner_dst",
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


def gso_segments(data):
    """A capture taken before UDP GSO segmentation holds several ESP packets in one UDP
    payload: equal-sized segments (the last may be shorter), each with the same SPI and the
    next sequence number. Returns the segments, or [data] when it is one packet."""
    spi, seq = data[:4], int.from_bytes(data[4:8], "big")
    for size in range(16, len(data) - 8):
        if data[size : size + 4] == spi and int.from_bytes(data[size + 4 : size + 8], "big") == seq + 1:
            parts = [data[i : i + size] for i in range(0, len(data), size)]
            seqs = [int.from_bytes(p[4:8], "big") for p in parts]
            if all(p[:4] == spi for p in parts) and seqs == list(range(seq, seq + len(parts))):
                return parts
    return [data]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sas = load_sas(sys.argv[2])
    counts = {"unknown": 0}
    gso_runs = 0
    packets = []
    errors = []
    for pkt in rdpcap(sys.argv[1]):
        whole = esp_bytes(pkt)
        if whole is None:
            continue
        parts = gso_segments(whole)
        gso_runs += len(parts) > 1
        for data in parts:
            decode_one(pkt, data, sas, packets, errors, counts)
    unknown = counts["unknown"]
    print(
        json.dumps(
            {
                "sas": [
                    {"spi": "0x%08x" % spi, "src": e["src"], "dst": e["dst"],
                     "decrypted": e["ok"], "failed": e["bad"]}
                    for spi, e in sas.items()
                ],
                "unknown_spi": unknown,
                "gso_runs": gso_runs,
                "errors": errors,
                "packets": packets,
            }
        )
    )


def decode_one(pkt, data, sas, packets, errors, counts):
    """Decrypts one ESP packet of outer packet `pkt` and records the result."""
    spi = int.from_bytes(data[:4], "big")
    entry = sas.get(spi)
    if entry is None:
        counts["unknown"] += 1
        return
    outer = IP(bytes(IP(src=pkt[IP].src, dst=pkt[IP].dst, proto=50) / Raw(data)))
    try:
        inner = entry["sa"].decrypt(outer)
    except Exception as e:  # integrity failure, bad padding: counted, not fatal
        entry["bad"] += 1
        if len(errors) < 10:
            errors.append("0x%08x %s->%s len %d: %r" % (spi, pkt[IP].src, pkt[IP].dst, len(data), e))
        return
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


if __name__ == "__main__":
    main()
