#!/usr/bin/python3
"""One TCP exchange, reported as JSON on stdout; never fails on network errors.

Connects to --host:--port (optionally from --source), sends the base64
payload, half-closes, reads until EOF or --timeout, and prints
  {"connected": bool, "reply_b64": "...", "error": "", "local": [ip, port]}
Exit status is 0 whenever the JSON was printed, so the caller decides what a
refused or timed-out connection means.
"""

import argparse
import base64
import json
import socket


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--send-b64", default="")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--source")
    args = p.parse_args()
    payload = base64.b64decode(args.send_b64)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    out = {"connected": False, "reply_b64": "", "error": "", "local": None}
    reply = bytearray()
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(args.timeout)
    try:
        if args.source:
            sock.bind((args.source, 0))
        sock.connect((args.host, args.port))
        out["connected"] = True
        local = sock.getsockname()
        out["local"] = [local[0], local[1]]
        if payload:
            sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        while True:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    except OSError as e:
        out["error"] = f"{type(e).__name__}: {e}"
    finally:
        sock.close()
    out["reply_b64"] = base64.b64encode(bytes(reply)).decode()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
