#!/usr/bin/python3
"""An echo backend that keeps a ledger of everything it received.

Modes:
  tcp   echo every byte back until the client half-closes; one ledger entry
        per connection, written when it ends.
  http  answer each HTTP/1.1 request (Content-Length or chunked bodies) with
        200 and a JSON body describing it; one ledger entry per request.

Each ledger entry (one JSON object per line, flushed as written):
  {"listener": [ip, port], "peer": [ip, port], "local": [ip, port],
   "original_dst": [ip, port] or null, "received": "<bytes as latin-1>",
   "seq": "<x-seq header value>" (http), "method"/"path" (http)}

original_dst is SO_ORIGINAL_DST (getsockopt SOL_IP/80 for IPv4,
SOL_IPV6/80 for IPv6): where the client meant to go before an iptables or
nftables REDIRECT rewrote the destination. For a connection nothing
redirected it equals "local" (conntrack tracks it anyway), or is null when
conntrack is not running in the namespace. "redirected" is true when it
differs from "local". With --transparent (TPROXY) the listener sets
IP_TRANSPARENT and the original destination is the local address itself.

The --ready file is created once every listener is bound. SIGTERM ends the
server. Runs with Debian's /usr/bin/python3, standard library only.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80
IP6T_SO_ORIGINAL_DST = 80
IP_TRANSPARENT = 19
IPV6_TRANSPARENT = 75

ledger_lock = threading.Lock()


def original_dst(conn, family):
    try:
        if family == socket.AF_INET:
            raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
            port, addr = struct.unpack_from("!H4s", raw, 2)
            return [socket.inet_ntop(socket.AF_INET, addr), port]
        raw = conn.getsockopt(socket.IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, 28)
        port = struct.unpack_from("!H", raw, 2)[0]
        addr = raw[8:24]
        return [socket.inet_ntop(socket.AF_INET6, addr), port]
    except OSError:
        return None


def record(ledger, entry):
    line = json.dumps(entry) + "\n"
    with ledger_lock:
        with open(ledger, "a") as f:
            f.write(line)
            f.flush()


def base_entry(args, conn, family, listener):
    peer = conn.getpeername()
    local = conn.getsockname()
    entry = {"server": args.name, "listener": list(listener[:2]), "peer": [peer[0], peer[1]],
             "local": [local[0], local[1]]}
    if args.transparent:
        entry["original_dst"] = [local[0], local[1]]
    else:
        entry["original_dst"] = original_dst(conn, family)
    entry["redirected"] = entry["original_dst"] not in (None, entry["local"])
    return entry


def serve_tcp(args, conn, family, listener):
    entry = base_entry(args, conn, family, listener)
    received = bytearray()
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            received += data
            conn.sendall(data)
    except OSError as e:
        entry["error"] = str(e)
    entry["received"] = received.decode("latin-1")
    record(args.ledger, entry)


def read_until(conn, buf, marker):
    while marker not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    return buf


def serve_http(args, conn, family, listener):
    base = base_entry(args, conn, family, listener)
    buf = bytearray()
    while True:
        got = read_until(conn, buf, b"\r\n\r\n")
        if got is None:
            return
        head_end = buf.index(b"\r\n\r\n") + 4
        head = bytes(buf[:head_end])
        del buf[:head_end]
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = (lines[0].split(" ", 2) + ["", ""])[:3]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = bytearray()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                if read_until(conn, buf, b"\r\n") is None:
                    return
                size_end = buf.index(b"\r\n")
                size = int(bytes(buf[:size_end]).split(b";")[0], 16)
                del buf[:size_end + 2]
                while len(buf) < size + 2:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                body += buf[:size]
                raw_chunk_end = size + 2
                del buf[:raw_chunk_end]
                if size == 0:
                    break
        else:
            length = int(headers.get("content-length", "0") or 0)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            body += buf[:length]
            del buf[:length]
        entry = dict(base)
        entry.update({"method": method, "path": path, "seq": headers.get("x-seq"),
                      "headers": headers, "received": (head + bytes(body)).decode("latin-1")})
        record(args.ledger, entry)
        reply = json.dumps({"server": args.name, "method": method, "path": path,
                            "seq": headers.get("x-seq"), "peer": base["peer"],
                            "original_dst": base["original_dst"]}).encode() + b"\n"
        close = headers.get("connection", "").lower() == "close"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(reply)}\r\n".encode()
                     + (b"Connection: close\r\n" if close else b"") + b"\r\n" + reply)
        if close:
            return


def handle(args, conn, family, listener):
    try:
        if args.mode == "tcp":
            serve_tcp(args, conn, family, listener)
        else:
            serve_http(args, conn, family, listener)
    except Exception as e:  # one bad connection never ends the server
        sys.stderr.write(f"echo_server: {e!r}\n")
    finally:
        conn.close()


def listen(args, family, host):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if args.transparent:
        if family == socket.AF_INET:
            sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_TRANSPARENT, 1)
    sock.bind((host, args.port))
    sock.listen(128)
    return sock


def accept_loop(args, sock, family):
    listener = sock.getsockname()
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle, args=(args, conn, family, listener), daemon=True).start()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["tcp", "http"], default="tcp")
    p.add_argument("--ledger", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--name", default="echo")
    p.add_argument("--bind4")
    p.add_argument("--bind6")
    p.add_argument("--transparent", action="store_true")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    socks = []
    if args.bind4:
        socks.append((listen(args, socket.AF_INET, args.bind4), socket.AF_INET))
    if args.bind6:
        socks.append((listen(args, socket.AF_INET6, args.bind6), socket.AF_INET6))
    if not socks:
        sys.exit("echo_server: nothing to bind (--bind4/--bind6)")
    open(args.ledger, "a").close()
    for sock, family in socks[1:]:
        threading.Thread(target=accept_loop, args=(args, sock, family), daemon=True).start()
    with open(args.ready, "w") as f:
        f.write(str(os.getpid()))
    accept_loop(args, *socks[0])


if __name__ == "__main__":
    main()
