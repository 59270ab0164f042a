#!/usr/bin/env python3
"""Send through the tunnel and wait for the echo. usage: probe.py udp|tcp ADDR PORT [COUNT] [SIZE|TAG]
Exit 0 if every request got its echo. Bounded: COUNT requests, 3 s timeout each."""
import socket, sys, time
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else 3
extra = sys.argv[5] if len(sys.argv) > 5 else '0'
# SIZE pads each message with that many 'x'; a word instead is put in each message as a tag.
size, tag = (int(extra), '') if extra.isdigit() else (0, extra)
ok = 0
if mode == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    s.connect((addr, port))
    for i in range(count):
        msg = (f'ping{i}-' + tag + 'x' * size).encode()
        t = time.monotonic(); s.send(msg)
        try:
            r = s.recv(65536)
            good = r == b'echo:' + msg
            print(f'udp {i}: {"ok" if good else "BAD " + repr(r[:40])} {1000*(time.monotonic()-t):.1f} ms'); ok += good
        except socket.timeout:
            print(f'udp {i}: timeout')
else:
    s = socket.create_connection((addr, port), timeout=5)
    for i in range(count):
        msg = (f'ping{i}-' + tag + 'x' * size).encode()
        t = time.monotonic(); s.sendall(msg)
        want = b'echo:' + msg if len(msg) < 100 else msg
        r = b''
        try:
            while len(r) < len(want):
                d = s.recv(65536)
                if not d: break
                r += d
            good = r == want
            print(f'tcp {i}: {"ok" if good else "BAD"} {len(r)} bytes {1000*(time.monotonic()-t):.1f} ms'); ok += good
        except socket.timeout:
            print(f'tcp {i}: timeout')
    s.close()
print(f'{ok}/{count} answered')
sys.exit(0 if ok == count else 1)
