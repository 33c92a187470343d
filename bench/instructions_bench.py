#!/usr/bin/python3
"""Side by side in one run: the instructions a proxied request costs.

On a shared VM a timing moves by 30% between two runs minutes apart; an
instruction count does not. Each proxy runs in the sidecar's place (a pod
with `remora init`'s rules, UID 1337, as bench/proxy_bench.py sets them up)
under `valgrind --tool=callgrind`, which counts the instructions it
executes in user space (the kernel's work, the system calls, is not in it:
bench/syscall_bench.py counts those). fortio sends GETs for 1 KiB bodies
from nginx at a low fixed rate over 4 keep-alive connections, so every
request takes the whole path rather than a batch. Each setup runs twice,
with FEW and MANY requests, in a fresh process: instructions per request is
the difference of the two totals over the difference of the two counts, so
start-up and shutdown cancel out.

    remora           one sidecar, outbound (`--concurrency 1`, access log on)
    remora-nolog     the same with mesh.accessLogFile "" (Istio's default profile)
    haproxy-sidecar  HAProxy 2.6 in the same place (HTTP/1.1, keep-alive, no log)
    relay            bench/relay_floor: SO_ORIGINAL_DST and byte copies, no HTTP

Reported: instructions per request (all threads), as a ratio to HAProxy's
and to the relay's; the code footprint of a request, the distinct 64-byte
lines of code (instruction-cache lines) that run at least once every two
requests in the steady state, with the 4 KiB pages they fall on (at a low
rate the caches and TLB are cold when a request arrives, so each such line
is a likely miss: a smaller footprint is cheaper there even at the same
instruction count); both again for the worker thread alone (remora's
access-log writer formats the lines on a thread of its own, a batch at a
time, its code warm after the first line); and for remora the functions
that cost the most per request on the worker (their own instructions, not
their callees', --top).

With --data, each setup runs a third time under `valgrind --tool=lackey
--trace-mem=yes`, which reports every data access, at a rate low enough
that requests come one at a time. From the moment the proxy listens, the
trace is cut into windows of one request's instructions (the count
measured above): reported are the distinct 64-byte data lines a window
touches (and of them those it writes), averaged over the windows, and
with the code footprint the lines a request touches in all. At a low
rate a request finds them cold; docs/performance.md has what one such
line costs on this VM. The trace is of every thread (lackey does not
tell them apart).

With --write-order FILE, the functions of the remora binary that run on
the worker at least once every two requests (setup remora, the access log
on) are written to FILE, one symbol a line: src/cli/hot_text.order is made this
way, and the linker puts them side by side (cmake/Remora.cmake, "Hot
text"). Run it again when the request path changes, on an optimised build.

Figures, not assertions: never run by the tests. Needs root, valgrind,
haproxy, nginx, Go (fortio) and build/remora (REMORA_BIN).
Usage: bench/instructions_bench.py [--top 15] [--setups remora,haproxy-sidecar] [--keep DIR]
       [--data] [--write-order FILE]
"""

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import latency_bench
import proxy_bench
from proxy_bench import netns

SETUPS = ["remora", "remora-nolog", "haproxy-sidecar", "relay"]
RATE = 500  # requests/s: the proxy idles between requests, as at 1000 rps on two hops
FEW_SECONDS, MANY_SECONDS = 2, 12
CONNS = 4
# Under lackey, with the trace read here, a request takes some 20 ms: a
# rate well below that, so that requests come one at a time, as the
# figures are about.
LACKEY_RATE, LACKEY_SECONDS, LACKEY_START_SECONDS = 15, 40, 900
ORDER_HEADER = """\
# The functions the proxy's worker runs on every request, which the linker
# puts side by side (cmake/Remora.cmake, "Hot text"), then the rest of the
# functions the sidecar ran at all (after WARM_MARKER, below). Made, not
# written:
#   bench/instructions_bench.py --setups remora --write-order src/cli/hot_text.order
# on an optimised build (cmake --preset release) after the request path
# changes: tests/proxy/test_hot_text.py fails when a hot symbol is gone.
"""
# The line between the two tiers. The warm tier holds every other function
# of the binary that ran in the sidecar during the measurement (start-up,
# config, admin, the log's writer): laid out together after the hot ones,
# the code a running sidecar ever touches fills a few hundred KiB instead of
# being spread over the whole text, each function pulling in the 64 KiB the
# kernel maps around a faulted page (fault-around). Its entries may go
# stale without harm: lld skips a missing one (--no-warn-symbol-ordering).
WARM_MARKER = "# warm: the other functions the sidecar ran"


def proxy_argv(run, name, config_dir):
    """The proxy of a setup, as the sidecar's place runs it (without valgrind)."""
    if name.startswith("remora"):
        cfg = run.tempfile(f"{name}.yaml", 'mesh: {accessLogFile: ""}\n' if name == "remora-nolog"
                           else "")
        return [netns.remora_bin(), "proxy", "sidecar", "--concurrency", "1", "--config",
                str(cfg), "--proxyLogLevel", "warning"]
    if name == "haproxy-sidecar":
        cfg = config_dir / "haproxy.cfg"
        cfg.write_text(proxy_bench.HAPROXY_HTTP + "listen captured\n  bind 0.0.0.0:15001\n"
                       "  server original 0.0.0.0\n")
        os.chmod(cfg, 0o644)
        return ["haproxy", "-db", "-f", str(cfg)]
    return [proxy_bench.relay_floor_binary(), "15001"]


def load_then_stop(pod, proc, fortio, url, rate, seconds, name):
    """fortio through the proxy `proc` for `seconds`, then the proxy stopped;
    returns the requests made (every one must have succeeded). Every proxy
    here exits on SIGTERM (remora after draining), and valgrind writes its
    output as the process ends."""
    result = latency_bench.fortio(fortio, pod, url, rate, CONNS, 1000, seconds)
    _, _, errors, requests = latency_bench.summary(result)
    if errors:
        raise netns.HarnessError(f"{name}: {errors} of {requests} requests failed")
    proc.signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return requests


def count(run, node, fortio, name, url, seconds, out_dir):
    """Runs the setup's proxy under callgrind in a fresh pod for one load of
    `seconds`; returns (requests, {thread number: (instructions, callgrind
    output path)}), a file per thread (--separate-threads: callgrind
    numbers the threads in the order they start, the same in every run)."""
    pod = node.pod(f"ib{SETUPS.index(name)}-{seconds}")
    pod.run_remora(["init", *proxy_bench.INJECTOR], check=True)
    out = out_dir / f"{name}.{seconds}.callgrind"
    # Symbols as the linker knows them (--demangle=no): the hot-text order
    # names them so; they are demangled where shown.
    proc = pod.spawn(["valgrind", "--tool=callgrind", "--dump-instr=yes", "--separate-threads=yes",
                      "--demangle=no", f"--callgrind-out-file={out}",
                      *proxy_argv(run, name, out_dir)], name=f"{name}-callgrind", uid=1337)
    pod.wait_listening(15001, proc, timeout=60)
    requests = load_then_stop(pod, proc, fortio, url, RATE, seconds, name)
    threads = {}
    for path in sorted(out_dir.glob(f"{out.name}-*")):
        totals = re.search(r"^(?:summary|totals): (\d+)", path.read_text(), re.M)
        if totals:
            threads[int(path.name.rsplit("-", 1)[1])] = (int(totals.group(1)), path)
    if not threads:
        raise netns.HarnessError(f"{name}: callgrind wrote no totals\n{proc.log()}")
    return requests, threads


def data_footprint(run, node, fortio, name, url, window, out_dir):
    """(data lines, of them written) a request touches: the trace of the
    setup's proxy under lackey from the moment it listens, cut into windows
    of `window` instructions (one request's), and the distinct lines of a
    window averaged over the windows (the last 5%, the shutdown's, left
    out). A window seldom starts where a request does, but
    a line a request touches once falls in one window a request all the
    same. The trace streams through a FIFO: a run writes gigabytes."""
    pod = node.pod(f"lk{SETUPS.index(name)}")
    pod.run_remora(["init", *proxy_bench.INJECTOR], check=True)
    fifo = out_dir / f"{name}.lackey"
    os.mkfifo(fifo)
    os.chmod(fifo, 0o666)
    proc = pod.spawn(["valgrind", "--tool=lackey", "--trace-mem=yes", f"--log-file={fifo}",
                      *proxy_argv(run, name, out_dir)], name=f"{name}-lackey", uid=1337)
    listening = threading.Event()
    windows = []
    reader = threading.Thread(
        target=lambda: windows.extend(lackey_windows(fifo, window, listening)))
    reader.start()
    try:
        # HAProxy's start-up (its pools) is minutes of trace under lackey.
        pod.wait_listening(15001, proc, timeout=LACKEY_START_SECONDS)
    finally:
        listening.set()
    load_then_stop(pod, proc, fortio, url, LACKEY_RATE, LACKEY_SECONDS, name)
    reader.join()
    windows = windows[:int(len(windows) * 0.95)]
    if len(windows) < 100:
        raise netns.HarnessError(f"{name}: lackey traced too little ({len(windows)} windows)")
    return tuple(statistics.mean(w[kind] for w in windows) for kind in range(2))


def lackey_windows(path, window, start):
    """[(data lines, written data lines)] per window of `window`
    instructions of a lackey trace, from when `start` is set (until then
    the trace is read in blocks and dropped): `I  addr,size` an
    instruction, ` L|S|M addr,size` a load, a store, a modify."""
    windows = []
    lines, written = set(), set()
    instructions = 0
    with open(path) as trace:
        while not start.is_set():
            if not trace.read(1 << 20):
                return windows
        trace.readline()  # the rest of a line cut by the last block
        for line in trace:
            kind = line[:2]
            if kind == "I ":
                instructions += 1
                if instructions == window:
                    windows.append((len(lines), len(written)))
                    lines, written, instructions = set(), set(), 0
            elif kind in (" L", " S", " M"):
                address, size = line[3:].split(",")
                first = int(address, 16)
                for cache_line in range(first >> 6, ((first + int(size) - 1) >> 6) + 1):
                    lines.add(cache_line)
                    if kind != " L":
                        written.add(cache_line)
    return windows


def self_costs(path):
    """{function: its own instructions} from callgrind_annotate, the parts of
    a function that the compiler inlined from other files summed (an
    inclusive figure cannot be summed that way)."""
    text = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", str(path)],
                          check=True, capture_output=True, text=True).stdout
    costs = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)", line)
        if m and ":" in m.group(2):
            name = re.sub(r"\s*\[[^]]*\]$|\s*\(\d[\d,]*x\)$", "", m.group(2).split(":", 1)[1])
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def demangle(names):
    """The C++ names of linker symbols, in the same order (c++filt)."""
    out = subprocess.run(["c++filt"], input="\n".join(names), check=True, capture_output=True,
                         text=True).stdout
    return out.split("\n")[:len(names)]


def compressed_name(line, table):
    """The object or function a callgrind `ob=`/`cob=`/`fn=`/`cfn=` line
    names: a name is given once, where its number first appears (which may
    be as a call's target), and by number alone after that."""
    m = re.match(r"c?(?:ob|fn)=\((\d+)\)(?: (.*))?", line.rstrip("\n"))
    if m.group(2):
        table[m.group(1)] = m.group(2)
    return table[m.group(1)]


def instruction_costs(path, functions=None):
    """{(object file, instruction address): its own instructions executed}
    from a callgrind file written with --dump-instr=yes (the format's
    compressed positions: `0x..` absolute, `+n`/`-n` relative, `*` same; the
    line after `calls=` is the call's inclusive cost and is not summed).
    When given a dict, `functions` gets each address's function."""
    costs = {}
    objects = {}
    names = {}
    obj, function, address, positions, after_call = "", "", 0, 1, False
    with open(path) as lines:
        for line in lines:
            first = line[:1]
            if first.isdigit() or first in "+-*":
                fields = line.split()
                position = fields[0]
                if position[0] in "+-":
                    address += int(position, 16) if position[1:3] == "0x" else int(position)
                elif position != "*":
                    address = int(position, 0)
                if after_call:
                    after_call = False
                elif len(fields) > positions:
                    key = (obj, address)
                    costs[key] = costs.get(key, 0) + int(fields[positions])
                    if functions is not None:
                        functions[key] = function
            elif line.startswith(("calls=", "jump=", "jcnd=")):
                after_call = True
            elif line.startswith(("ob=", "cob=")):
                name = compressed_name(line, objects)
                if line[0] == "o":
                    obj = name
            elif line.startswith(("fn=", "cfn=")):
                name = compressed_name(line, names)
                if line[1] == "n":
                    function = name
            elif line.startswith("positions:"):
                positions = len(line.split()) - 1
    return costs


def code_footprint(few_outs, many_outs, few_n, many_n):
    """(64-byte code lines, 4 KiB pages) holding an instruction that runs at
    least once every two requests, in the threads whose callgrind files are
    given (the same threads of the two runs): the difference of the two
    runs, so code that runs only at start-up and shutdown drops out."""
    few, many = {}, {}
    for outs, costs in ((few_outs, few), (many_outs, many)):
        for out in outs:
            for key, executed in instruction_costs(out).items():
                costs[key] = costs.get(key, 0) + executed
    lines = set()
    for key, executed in many.items():
        if (executed - few.get(key, 0)) / (many_n - few_n) >= 0.5:
            lines.add((key[0], key[1] >> 6))
    return len(lines), len({(obj, line >> 6) for obj, line in lines})


def hot_symbols(few_out, many_out, few_n, many_n, binary):
    """The symbols of `binary` with an instruction that runs at least once
    every two requests in the thread of these callgrind files, sorted (a
    stable list to read in a diff; the order among them matters little, that
    they lie together does)."""
    functions = {}
    few = instruction_costs(few_out)
    many = instruction_costs(many_out, functions)
    hot = {functions[key] for key, executed in many.items()
           if key[0].endswith("/" + os.path.basename(binary))
           and (executed - few.get(key, 0)) / (many_n - few_n) >= 0.5}
    return sorted(hot)


def mtls_pair_outputs(run, node, fortio, out_dir):
    """Callgrind files of the code an mTLS pair of sidecars runs, for the warm
    tier of the order: a CA, a client and a server sidecar each under
    callgrind with its workload certificate, keep-alive requests and new
    connections (full handshakes) through them, the admin endpoints read,
    and a config reload, then both stopped."""
    client, server = node.pod("wtclient"), node.pod("wtserver")
    server.nginx(8080, body=proxy_bench.BODY, server_extra="access_log off;")
    ca = proxy_bench.start_ca(run, node, [client.name, server.name])
    services = proxy_bench.registry([("secure", server, True)])
    procs = []
    for pod in (client, server):
        wrap = ["valgrind", "--tool=callgrind", "--dump-instr=yes", "--separate-threads=yes",
                "--demangle=no",
                f"--callgrind-out-file={out_dir / f'mtls-{pod.name}.callgrind'}"]
        procs.append(proxy_bench.mesh_with_ca(run, pod, ca, services, wrap=wrap,
                                              ready_seconds=180))
    url = f"http://{server.ip4}:8080/"
    for keepalive, seconds in ((True, 5), (False, 3)):
        result = latency_bench.fortio(fortio, client, url, 50, 2, 1000, seconds, keepalive)
        _, _, errors, requests = latency_bench.summary(result)
        if errors or not requests:
            raise netns.HarnessError(f"the mTLS pair: {errors} of {requests} requests failed")
    for pod in (client, server):
        for port, path in ((15000, "/config_dump?include_eds"), (15000, "/clusters"),
                           (15000, "/clusters?format=json"), (15000, "/stats"),
                           (15000, "/certs"), (15090, "/stats/prometheus"),
                           (15021, "/healthz/ready"), (15020, "/stats/prometheus")):
            proxy_bench.local_get(pod, port, path)
    cfg = run.dir / f"{client.name}.yaml"
    tmp = cfg.with_suffix(".next")
    tmp.write_text(cfg.read_text().replace("  trustDomain: cluster.local\n",
                                           "  trustDomain: cluster.local\n  connectTimeout: 5s\n"))
    os.chmod(tmp, 0o644)
    os.replace(tmp, cfg)
    deadline = time.monotonic() + 60
    while '"version_info": "1"' not in proxy_bench.local_get(client, 15000, "/config_dump")[1]:
        if time.monotonic() > deadline:
            raise netns.HarnessError(f"the client sidecar did not take its new config\n"
                                     f"{procs[0].log()}")
        time.sleep(0.5)
    latency_bench.fortio(fortio, client, url, 50, 2, 1000, 2)
    for proc in procs:
        proc.signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(timeout=180)
    return sorted(out_dir.glob("mtls-*.callgrind-*"))


def warm_symbols(outs, binary, hot):
    """The symbols of `binary` with any instruction executed in these
    callgrind files (every thread), less `hot`, sorted."""
    warm = set()
    for out in outs:
        functions = {}
        for key, executed in instruction_costs(out, functions).items():
            if executed and key[0].endswith("/" + os.path.basename(binary)):
                # Callgrind names a function's further contexts name'2, name'3...
                warm.add(re.sub(r"'\d+$", "", functions[key]))
    return sorted(warm - set(hot))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setups", default=",".join(SETUPS),
                        help="comma-separated, of: " + ", ".join(SETUPS))
    parser.add_argument("--top", type=int, default=15,
                        help="remora's costliest functions to list (own instructions, per request)")
    parser.add_argument("--keep", metavar="DIR",
                        help="copy the callgrind files there, for callgrind_annotate's "
                             "line-by-line view (symbols undemangled: pipe it through c++filt)")
    parser.add_argument("--data", action="store_true",
                        help="also trace each setup under lackey for the data lines a "
                             "request touches (a few minutes a setup)")
    parser.add_argument("--write-order", metavar="FILE",
                        help="write the remora functions the worker runs per request there, "
                             "then the others the sidecar ran at all (setup remora), as "
                             "src/cli/hot_text.order is made")
    args = parser.parse_args()
    wanted = [s for s in SETUPS if s in args.setups.split(",")]
    if args.write_order and "remora" not in wanted:
        sys.exit("instructions_bench: --write-order needs the setup remora")
    if not shutil.which("valgrind"):
        sys.exit("instructions_bench: valgrind is not installed (scripts/install-deps.sh)")

    built = latency_bench.fortio_binary()
    rows = {}
    footprints = {}
    workers = {}  # name: (the worker thread's instructions, its code footprint)
    data = {}
    profiles = {}
    with netns.Run() as run:
        fortio = latency_bench.fortio_in(run, built)
        out_dir = run.dir / "callgrind"
        out_dir.mkdir()
        os.chmod(out_dir, 0o777)  # the proxies write there as UID 1337
        node = run.node()
        server = node.pod("server")
        server.nginx(8080, body=proxy_bench.BODY, http_extra="keepalive_requests 1000000;",
                     server_extra="access_log off;")
        url = f"http://{server.ip4}:8080/"
        for name in wanted:
            few_n, few_threads = count(run, node, fortio, name, url, FEW_SECONDS, out_dir)
            many_n, many_threads = count(run, node, fortio, name, url, MANY_SECONDS, out_dir)
            per_thread = {t: (many_threads[t][0] - few_threads.get(t, (0,))[0]) / (many_n - few_n)
                          for t in many_threads}
            # The worker: the thread whose instructions grow the most with
            # the requests (remora's access-log writer formats the lines on
            # a thread of its own).
            worker = max(per_thread, key=per_thread.get)
            threads = [t for t in many_threads if t in few_threads]
            rows[name] = sum(per_thread.values())
            footprints[name] = code_footprint([few_threads[t][1] for t in threads],
                                              [many_threads[t][1] for t in threads], few_n, many_n)
            workers[name] = (per_thread[worker],
                             code_footprint([few_threads[worker][1]], [many_threads[worker][1]],
                                            few_n, many_n))
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                for n, files in ((few_n, few_threads), (many_n, many_threads)):
                    for t, (_, path) in files.items():
                        shutil.copy(path, os.path.join(args.keep, f"{name}-{n}-{t:02}.callgrind"))
            print(f"{name:16} {rows[name]:10,.0f} instructions per request, code footprint "
                  f"{footprints[name][0] * 64 / 1024:.1f} KiB; the worker thread's "
                  f"{workers[name][0]:,.0f}, {workers[name][1][0] * 64 / 1024:.1f} KiB",
                  file=sys.stderr, flush=True)
            if args.data:
                data[name] = data_footprint(run, node, fortio, name, url, round(rows[name]),
                                            out_dir)
                print(f"{name:16} {data[name][0]:10,.0f} data lines per request "
                      f"({data[name][1]:,.0f} written)", file=sys.stderr, flush=True)
            if name == "remora" and args.write_order:
                symbols = hot_symbols(few_threads[worker][1], many_threads[worker][1], few_n,
                                      many_n, netns.remora_bin())
                trained = [path for _, path in many_threads.values()]
                trained += mtls_pair_outputs(run, node, fortio, out_dir)
                warm = warm_symbols(trained, netns.remora_bin(), symbols)
                with open(args.write_order, "w") as order:
                    order.write(ORDER_HEADER + "".join(f"{symbol}\n" for symbol in symbols)
                                + WARM_MARKER + "\n" + "".join(f"{symbol}\n" for symbol in warm))
                print(f"{name:16} {len(symbols)} hot and {len(warm)} warm functions written to "
                      f"{args.write_order}", file=sys.stderr, flush=True)
            if name.startswith("remora") and args.top:
                few_c = self_costs(few_threads[worker][1])
                many_c = self_costs(many_threads[worker][1])
                profiles[name] = sorted(((many_c[f] - few_c.get(f, 0)) / (many_n - few_n), f)
                                        for f in many_c)[::-1][:args.top]

    print(f"# instructions_bench: user-space instructions per request under callgrind, fortio "
          f"{RATE} req/s, {CONNS} keep-alive connections, GET, 1 KiB bodies")
    print("| setup | instructions / request | / haproxy-sidecar | / relay "
          "| code footprint (KiB) | / haproxy-sidecar | 4 KiB pages "
          "| the worker thread's: instructions, code (KiB)"
          + (" | data lines / request (written) | code + data lines |" if data else " |"))
    print("| --- | --- | --- | --- | --- | --- | --- | --- |"
          + (" --- | --- |" if data else ""))
    for name, per in rows.items():
        ratios = [f"{per / rows[b]:.2f}" if b in rows else "-" for b in ("haproxy-sidecar", "relay")]
        lines, pages = footprints[name]
        base = footprints.get("haproxy-sidecar")
        footprint_ratio = f"{lines / base[0]:.2f}" if base else "-"
        worker_per, (worker_lines, _) = workers[name]
        row = (f"| {name} | {per:,.0f} | {' | '.join(ratios)} | {lines * 64 / 1024:.1f} "
               f"| {footprint_ratio} | {pages} | {worker_per:,.0f}, "
               f"{worker_lines * 64 / 1024:.1f} |")
        if name in data:
            row += (f" {data[name][0]:,.0f} ({data[name][1]:,.0f}) "
                    f"| {lines + data[name][0]:,.0f} |")
        elif data:
            row += " - | - |"
        print(row)
    for name, top in profiles.items():
        print(f"\n{name}: the costliest functions per request on the worker thread "
              "(their own instructions)\n")
        print("| instructions | function |")
        print("| --- | --- |")
        for (per, _), function in zip(top, demangle([function for _, function in top])):
            print(f"| {per:,.0f} | `{function[:120]}` |")


if __name__ == "__main__":
    main()
