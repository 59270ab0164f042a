#!/usr/bin/env python3
"""Sends one IKEv2 IKE_SA_INIT request (RFC 7296 section 1.2) and prints the answer's summary.

A stranger that starts an IKE SA and never continues: the responder keeps a half-open IKE SA
until its timeout. Standard library only.

usage: ike_sa_init_probe.py PEER_ADDRESS [LOCAL_ADDRESS]
Offer: aes128-sha256-prfsha256-modp2048 (a random public value below the prime).
Prints "answered: NEXT_PAYLOAD_TYPES..." or "no answer"; exit 0 when answered.
"""

import os
import socket
import struct
import sys


def payload(next_type, body):
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def transform(last, ttype, tid, key_len=None):
    attrs = struct.pack("!HH", 0x800E, key_len) if key_len else b""
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs


def main():
    peer = sys.argv[1]
    local = sys.argv[2] if len(sys.argv) > 2 else ""
    transforms = (
        transform(False, 1, 12, 128)  # ENCR AES-CBC 128
        + transform(False, 2, 5)  # PRF HMAC-SHA2-256
        + transform(False, 3, 12)  # INTEG HMAC-SHA2-256-128
        + transform(True, 4, 14)  # DH 2048-bit MODP
    )
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transforms), 1, 1, 0, 4) + transforms
    public = b"\x7f" + os.urandom(255)
    sa = payload(34, proposal)  # next: KE
    ke = payload(40, struct.pack("!HH", 14, 0) + public)  # next: Nonce
    nonce = payload(0, os.urandom(32))
    body = sa + ke + nonce
    spi_i = os.urandom(8)
    header = spi_i + b"\0" * 8 + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((local, 0))
    s.settimeout(5)
    s.sendto(header + body, (peer, 500))
    try:
        data, _ = s.recvfrom(65535)
    except socket.timeout:
        print("no answer")
        sys.exit(1)
    # Walk the payload chain of the answer.
    types = []
    next_type, off = data[16], 28
    while next_type != 0 and off + 4 <= len(data):
        types.append(next_type)
        next_type, _, length = struct.unpack("!BBH", data[off : off + 4])
        off += length
    print("answered: " + " ".join(str(t) for t in types))


if __name__ == "__main__":
    main()
