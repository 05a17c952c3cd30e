#!/usr/bin/env python3
"""Export throughput and server memory, measured by hand on a release build.

    cargo build --release -p dap-api --bins
    python3 benches/export_bench.py --rows 10000000

For each format it starts a fresh `dap demo` (release) on the benchmark data directory,
downloads one municipality's 10 million rows through /export, and reads the server's
peak resident memory (VmHWM) afterwards. The baseline is an in-process DataFusion scan
of the same rows (`dap-bench scan`). Prints a Markdown table for BENCHMARKS.md.
"""

import argparse
import json
import os
import socket
import subprocess
import time
import urllib.request

FORMATS = ["arrow", "parquet", "ndjson", "csv"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def export(dap, data_dir, fmt, token):
    port = free_port()
    server = subprocess.Popen([dap, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        idle = peak_rss_mb(server.pid)
        request = urllib.request.Request(f"{base}/api/v1/datasets/bench.posteringer/export?format={fmt}")
        request.add_header("Authorization", f"Bearer {token}")
        started = time.perf_counter()
        size = 0
        with urllib.request.urlopen(request, timeout=3600) as response:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
        seconds = time.perf_counter() - started
        return seconds, size, idle, peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data-dir", default="/tmp/dap-bench")
    parser.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR", "target") + "/release")
    args = parser.parse_args()
    dap, bench = f"{args.target}/dap", f"{args.target}/dap-bench"
    if not os.path.exists(os.path.join(args.data_dir, "lake", "bench", "posteringer", "_delta_log")):
        print(run([bench, "generate", "--data-dir", args.data_dir, "--rows", str(args.rows)]).strip())
    scans = [json.loads(run([bench, "scan", "--data-dir", args.data_dir])) for _ in range(3)]
    scan = sorted(s["seconds"] for s in scans)[1]
    rows = scans[0]["rows"]
    token = run([dap, "token", "--data-dir", args.data_dir, "--municipality", "0101", "--roles", "laes-bench"]).strip()
    print(f"\nrows: {rows}; in-process DataFusion scan (median of 3): {scan:.2f} s = {rows / scan / 1e6:.2f} M rows/s\n")
    print("| format | export time | M rows/s | MB sent | throughput vs scan | server RSS idle | server peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for fmt in FORMATS:
        seconds, size, idle, peak = export(dap, args.data_dir, fmt, token)
        print(f"| {fmt} | {seconds:.2f} s | {rows / seconds / 1e6:.2f} | {size / 1e6:.0f} | "
              f"{scan / seconds:.2f} × | {idle:.0f} MB | {peak:.0f} MB |")


if __name__ == "__main__":
    main()
