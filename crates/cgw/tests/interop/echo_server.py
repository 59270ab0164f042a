#!/usr/bin/env python3
"""UDP and TCP echo server (replies 'echo:' + data). usage: echo_server.py ADDR PORT"""
import asyncio, sys

class Udp(asyncio.DatagramProtocol):
    def connection_made(self, t): self.t = t
    def datagram_received(self, data, addr):
        print(f'udp {addr} {len(data)}', flush=True)
        self.t.sendto(b'echo:' + data, addr)

async def tcp(reader, writer):
    peer = writer.get_extra_info('peername')
    while data := await reader.read(65536):
        print(f'tcp {peer} {len(data)}', flush=True)
        writer.write(b'echo:' + data if len(data) < 100 else data)
        await writer.drain()
    writer.close()

async def main(addr, port):
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Udp, local_addr=(addr, port))
    srv = await asyncio.start_server(tcp, addr, port)
    print(f'echo on {addr}:{port} udp+tcp', flush=True)
    async with srv:
        await srv.serve_forever()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
