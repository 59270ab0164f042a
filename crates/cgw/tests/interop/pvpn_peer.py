#!/usr/bin/env python3
"""Run pvpn 0.2.5 (PyPI, pure-Python IKEv2 responder with userspace ESP) as the AWS-side
peer of an interop test, with the smallest patches that make it follow the RFCs where cgw
(rightly) insists.

    pip install -r requirements-pvpn.txt      # pvpn==0.2.5 pproxy==2.7.9 pycryptodome==3.23.0
    ip netns exec pv-peer python3 -u pvpn_peer.py --psk KEY --id 203.0.113.21 [-v]
    python3 pvpn_peer.py --netns pv-peer --psk KEY --id 203.0.113.21    # the same (root)

pvpn listens on 0.0.0.0:500 and 0.0.0.0:4500 (run it inside its own network namespace). It only
responds: it never initiates an IKE SA, never sends a request (no rekey, no DPD, no Delete) and
sends ESP only as answers to decrypted inner packets, which its userspace TCP/UDP stack relays
to real sockets in its namespace (inner destination address = a real address there). ICMP echo
is not answered. Only ENCR_AES_CBC (IKE and ESP) is accepted, with HMAC-SHA1/SHA2 integrity;
ESP only in UDP encapsulation (port 4500).

Patches (each can be switched off with --no-fix NAME to reproduce the original behaviour):
  id       IDr is ID_FQDN "pvpn-0.2.5"; send ID_IPV4_ADDR(--id) as AWS does (cgw demands the
           peer's outside address as its identity).
  padding  ESP padding bytes are all zero; RFC 4303 2.4 says they MUST be 1, 2, 3, ... when
           the cipher does not define them (AES-CBC does not), and cgw checks them.
  ke0      IKE_SA_INIT is answered with INVALID_KE_PAYLOAD naming the group the initiator
           already used whenever the first byte of its KE data is 0 (1 in 256 handshakes);
           cgw then (rightly) fails the attempt. Drop that check.
  pfs      A Child SA rekey (CREATE_CHILD_SA) with a KE payload is answered with the chosen
           proposal's DH group but no KE, and the keys are derived without g^ir (RFC 7296
           1.3.1/2.17 violated); cgw refuses the rekey. Do the DH, send KEr, and use
           KEYMAT = prf+(SK_d, g^ir | Ni | Nr). (Without this fix cgw must offer ESP without PFS.)
"""
import argparse, inspect, ipaddress, os, sys, textwrap

import pvpn
from pvpn import crypto, enums, server
from pvpn.__doc__ import __version__

PVPN_VERSION = '0.2.5'
FIXES = ('id', 'padding', 'ke0', 'pfs')


def patch_process(replacements):
    """Recompile IKEv2Session.process with exact text replacements (pvpn is pinned, so each
    must match exactly once: a mismatch means another pvpn version, and we stop)."""
    lines, first = inspect.getsourcelines(server.IKEv2Session.process)
    src = ''.join(lines)
    for old, new in replacements:
        if src.count(old) != 1:
            sys.exit(f'pvpn_peer: cannot patch pvpn {__version__}: {old!r} found {src.count(old)} times')
        src = src.replace(old, new)
    src = '\n' * (first - 1) + textwrap.dedent(src)   # keep pvpn's line numbers in tracebacks
    ns = {}
    exec(compile(src, server.__file__, 'exec'), server.__dict__, ns)
    server.IKEv2Session.process = ns['process']


def encrypt_esp_rfc4303(self, next_header, plain):
    """pvpn's Crypto.encrypt_esp with the default padding of RFC 4303 2.4 (1, 2, 3, ...)."""
    iv = self.cipher.generate_iv()
    padlen = self.cipher.block_size - ((len(plain) + 1) % self.cipher.block_size) - 1
    plain += bytes(range(1, padlen + 1)) + bytes([padlen, next_header])
    encrypted = self.cipher.encrypt(self.sk_e, bytes(iv), bytes(plain))
    return iv + encrypted + bytes(self.integrity.hash_size)


def main():
    ap = argparse.ArgumentParser(description='pvpn 0.2.5 as an IKEv2 PSK responder for cgw interop tests')
    ap.add_argument('--psk', required=True, help='pre-shared key')
    ap.add_argument('--id', required=True, type=ipaddress.IPv4Address,
                    help='our IKE identity (ID_IPV4_ADDR), normally our outside address')
    ap.add_argument('--no-fix', action='append', default=[], choices=FIXES,
                    help='leave this pvpn bug in place (repeatable)')
    ap.add_argument('--netns', help='re-run this script inside this network namespace (ip netns exec)')
    ap.add_argument('-v', action='count', default=0, help='pvpn verbosity (-v: UDP/TCP relays, -vv: TCP data)')
    a = ap.parse_args()
    if a.netns:
        argv = [x for i, x in enumerate(sys.argv[1:]) if x != '--netns' and sys.argv[i] != '--netns' and not x.startswith('--netns=')]
        os.execvp('ip', ['ip', 'netns', 'exec', a.netns, sys.executable, '-u', os.path.abspath(__file__)] + argv)
    if __version__ != PVPN_VERSION:
        sys.exit(f'pvpn_peer: pvpn {PVPN_VERSION} required, found {__version__}')
    fixes = [f for f in FIXES if f not in a.no_fix]

    repl = []
    if 'id' in fixes:
        repl.append(("message.PayloadIDr(enums.IDType.ID_FQDN, f'{__title__}-{__version__}'.encode())",
                     f"message.PayloadIDr(enums.IDType.ID_IPV4_ADDR, {a.id.packed!r})"))
    if 'ke0' in fixes:
        repl.append(("if payload_ke.dh_group != prefered_dh or payload_ke.ke_data[0] == 0:",
                     "if payload_ke.dh_group != prefered_dh:"))
    if 'pfs' in fixes:
        repl.append(("child_sa = self.create_child_key(chosen_proposal, peer_nonce, my_nonce)",
                     # one line, so that pvpn's line numbers stay right
                     "payload_ke = request.get_payload(enums.Payload.KE); "
                     "public_key, shared_secret = crypto.DiffieHellman(payload_ke.dh_group, payload_ke.ke_data) if payload_ke else (None, b''); "
                     "child_sa = self.create_child_key(chosen_proposal, shared_secret + peer_nonce, my_nonce)"))
        repl.append(("message.PayloadNONCE(my_nonce),",
                     "message.PayloadNONCE(my_nonce), *([message.PayloadKE(payload_ke.dh_group, public_key)] if payload_ke else []),"))
    if repl:
        patch_process(repl)
    if 'padding' in fixes:
        crypto.Crypto.encrypt_esp = encrypt_esp_rfc4303
    print(f'pvpn_peer: pvpn {__version__}, id {a.id}, fixes {",".join(fixes) or "none"}', flush=True)

    sys.argv = ['pvpn', '-p', a.psk] + (['-' + 'v' * a.v] if a.v else [])
    server.main()


if __name__ == '__main__':
    main()
