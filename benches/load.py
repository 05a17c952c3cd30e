#!/usr/bin/env python3
"""Fixed-rate (open-loop) load on a release `dap demo`, loopback only, bounded in time.

    cargo build --release --workspace --bins
    target/release/dap-bench generate --data-dir /tmp/dap-load --rows 200000
    python3 benches/load.py --data-dir /tmp/dap-load --rates 100,250,500,1000 --seconds 10

For each target and rate it sends requests at fixed instants (request i at start + i/rate,
whether or not earlier ones have been answered: an open loop, so a slow server shows up
as latency instead of as a lower offered rate) for `--seconds`, then waits for the
stragglers. Latency counts from the instant a request was due, not from when it was
sent (no coordinated omission). Every request carries a bearer token, so every one is
authenticated, scoped and audited by the server.

Targets: `/rows` (100 rows, one filter), a GraphQL page of 100 rows with one filter,
`/datasets`, and a key figure. Needs aiohttp (Debian: python3-aiohttp). Prints a
Markdown table for BENCHMARKS.md. The generator shares the machine's cores with the
server; its own CPU use is reported per run, and the server's CPU time (Linux
`/proc/PID/stat`) per answered request: the cost of one request, steadier than the
latency on a noisy machine.

With `--database-url postgresql://…/db` the server keeps its control plane (catalogue,
tokens, audit log) in that PostgreSQL database instead of the data directory's SQLite
(`dap demo --config`); the database is seeded with the demo catalogue, so the targets
there are `datasets` and `key-figure` (`bench.posteringer` is registered in SQLite only).
"""

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import aiohttp

GRAPHQL_PAGE = """query {
  bench_posteringer(first: 100, where: {funktion: {prefix: "5.22"}}) {
    nodes { posteringsid aar maaned funktion art beloeb }
    pageInfo { hasNextPage endCursor }
  }
}"""

TARGETS = {
    "rows": ("GET", "/api/v1/datasets/bench.posteringer/rows?limit=100&filter=funktion:prefix:5.22", None),
    "graphql": ("POST", "/graphql", {"query": GRAPHQL_PAGE}),
    "datasets": ("GET", "/api/v1/datasets", None),
    "key-figure": ("GET", "/api/v1/key-figures/nettoudgift-pr-indbygger", None),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


async def one(session, base, target, token, due, latencies, errors):
    method, path, body = TARGETS[target]
    try:
        async with session.request(method, base + path, json=body,
                                   headers={"Authorization": f"Bearer {token}"}) as response:
            await response.read()
            if response.status != 200:
                errors[response.status] = errors.get(response.status, 0) + 1
                return
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        name = type(error).__name__
        errors[name] = errors.get(name, 0) + 1
        return
    latencies.append(time.perf_counter() - due)


def server_cpu_seconds(pid):
    """CPU seconds (user + system) the server process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of stat (utime, stime), counted after the command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(base, target, token, rate, seconds, pid):
    latencies, errors, tasks = [], {}, []
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=1024)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # Warm up: a few sequential requests (opened tables, connections).
        for _ in range(5):
            await one(session, base, target, token, time.perf_counter(), [], {})
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        server_before = server_cpu_seconds(pid)
        start = time.perf_counter() + 0.05
        total = int(rate * seconds)
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, base, target, token, due, latencies, errors)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        used = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = (used.ru_utime - cpu.ru_utime + used.ru_stime - cpu.ru_stime) / elapsed
        server_cpu = server_cpu_seconds(pid) - server_before
    return {
        "offered": rate,
        "sent": total,
        "ok": len(latencies),
        "achieved": len(latencies) / elapsed,
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "errors": errors,
        "client_cpu": client_cpu,
        # Server CPU per answered request, in milliseconds: the cost of one request
        # (below saturation; at saturation it also shows what batching saves).
        "server_ms": server_cpu * 1000 / max(len(latencies), 1),
    }


def start_server(dap, data_dir, database_url=None):
    port = free_port()
    args = [dap, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}"]
    config = None
    if database_url:
        # Read at start-up only: removed once the server is up (the URL may hold a password).
        fd, config = tempfile.mkstemp(prefix="dap-load-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(f'database_url = "{database_url}"\n')
        args += ["--config", config]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1)
                return server, base
            except OSError:
                time.sleep(0.1)
    finally:
        if config:
            os.remove(config)
    server.terminate()
    sys.exit("dap did not become ready")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default="/tmp/dap-load")
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target") + "/release")
    parser.add_argument("--dap", help="the dap binary (default: TARGET_DIR/dap)")
    parser.add_argument("--rates", default="100,250,500,1000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--database-url", help="a PostgreSQL control plane instead of SQLite")
    args = parser.parse_args()
    dap = args.dap or f"{args.target_dir}/dap"
    token = subprocess.run([dap, "token", "--data-dir", args.data_dir, "--municipality", "0101",
                            "--roles", "laes-bench"],
                           check=True, capture_output=True, text=True).stdout.strip()
    plane = "PostgreSQL" if args.database_url else "SQLite"
    print(f"dap: {dap}; {os.cpu_count()} cores; {args.seconds:g} s per rate; loopback; "
          f"control plane on {plane}\n")
    print("| target | offered req/s | achieved req/s | p50 ms | p99 ms | errors | server CPU ms/request | generator CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for target in args.targets.split(","):
        # A fresh server per target: one target's backlog does not slow the next.
        server, base = start_server(dap, args.data_dir, args.database_url)
        try:
            for rate in (int(r) for r in args.rates.split(",")):
                r = asyncio.run(run(base, target, token, rate, args.seconds, server.pid))
                errors = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items(), key=str)) or "0"
                print(f"| {target} | {rate} | {r['achieved']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                      f"{errors} | {r['server_ms']:.2f} | {r['client_cpu']:.0%} |", flush=True)
                time.sleep(1)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
