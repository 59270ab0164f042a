#!/usr/bin/env python3
"""Bounded traffic through the tunnel: every INTERVAL s for DURATION s, one UDP echo (fresh
socket) and one message on a long-lived TCP connection. Prints one line per round, a summary,
exits 0 if all answered. usage: traffic_loop.py ADDR PORT DURATION [INTERVAL]"""
import socket, sys, time
addr, port, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
iv = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
tcp = socket.create_connection((addr, port), timeout=3)
end = time.monotonic() + dur; n = okU = okT = 0
while time.monotonic() < end:
    n += 1; t = time.strftime('%H:%M:%S')
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
    msg = f'u{n}'.encode()
    try:
        u.sendto(msg, (addr, port)); ru = u.recv(100) == b'echo:' + msg
    except OSError: ru = False
    u.close()
    msg = f't{n}'.encode()
    try:
        tcp.sendall(msg); rt = tcp.recv(100) == b'echo:' + msg
    except OSError as e: rt = False
    okU += ru; okT += rt
    print(f'{t} round {n}: udp {"ok" if ru else "LOST"} tcp {"ok" if rt else "LOST"}', flush=True)
    time.sleep(iv)
print(f'udp {okU}/{n} tcp {okT}/{n}')
sys.exit(0 if okU == n and okT == n else 1)
