#!/usr/bin/env python3
"""Export throughput and server memory, dap side by side with DuckDB and polars, measured
by hand on a release build.

    cargo build --release --workspace --bins
    python3 benches/export_bench.py --rows 10000000 --repeat 3

`dap-bench generate` writes the `bench.posteringer` Delta table (10 M rows for 0101, 1,000
for 0751) once. Then, in one run and on the same files, for each format:

- dap: a fresh release `dap demo` serves 0101's rows through `/export?format=…`, which
  curl downloads into a local file (`--repeat` times, median); the server's peak resident
  memory (VmHWM) is read after the repetitions;
- DuckDB: `COPY (SELECT * FROM read_parquet([the table's files of 0101], hive_partitioning
  = true)) TO file (FORMAT csv|parquet)`;
- polars: `scan_delta(table).filter(kommunekode == '0101').sink_csv|sink_parquet(file)`;
- the in-process DataFusion scan (`dap-bench scan`, all batches consumed, nothing
  written), the ceiling of any export;
- with `--formats …,sharing`: a Delta Sharing read as a connector makes it (the query,
  then every file it lists, downloaded with curl), and the query alone.

Each tool writes the same rows to a local file; the ratio column is the best peer's time
divided by dap's (≥ 1: dap is at least as fast). dap is also timed serving the rows to a
client that drops them (curl to /dev/null), which is what compares with the scan. Needs duckdb, polars and deltalake
(tests/e2e/requirements.txt). Prints Markdown tables for BENCHMARKS.md.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

FORMATS = ["arrow", "parquet", "csv", "ndjson"]
TABLE = ("bench", "posteringer")


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


def timed(action, repeat):
    """Median seconds of `repeat` runs of `action()`, and what the last one returned."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def dap_export(dap, data_dir, fmt, token, out, repeat):
    """Median download time of one format from a fresh server, bytes, and the server's
    idle and peak resident memory."""
    port = free_port()
    server = subprocess.Popen([dap, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/health/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("dap did not become ready")
        idle = peak_rss_mb(server.pid)

        def download(target):
            # curl, as an integrator's job would fetch it: a C client costs the shared
            # cores little (Python's chunked reading took about a second of them for
            # the larger formats), so the time is the server's and the file's.
            url = f"{base}/api/v1/datasets/{'.'.join(TABLE)}/export?format={fmt}"
            subprocess.run(["curl", "--silent", "--show-error", "--fail", "--output", target,
                            "--header", f"Authorization: Bearer {token}", url], check=True)
            return os.path.getsize(target) if target != os.devnull else 0

        if fmt == "sharing":
            return sharing_read(base, token, repeat) + (idle, peak_rss_mb(server.pid))
        seconds, size = timed(lambda: download(out), repeat)
        # Served only (the body read and dropped): what compares with the scan, which
        # writes nothing either.
        served, _ = timed(lambda: download(os.devnull), repeat)
        return seconds, served, size, idle, peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait()


def sharing_read(base, token, repeat):
    """What a Delta Sharing connector (pandas, Power BI) does to read the table: the
    query, then every file it lists, each into a file with curl. Returns the median time
    of the query alone and of the query with the files, and the bytes of the files."""
    schema, table = TABLE
    url = f"{base}/delta-sharing/shares/dap/schemas/{schema}/tables/{table}/query"

    def query():
        request = urllib.request.Request(url, data=b"{}", method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as answer:
            lines = [json.loads(line) for line in answer.read().splitlines() if line.strip()]
        return [line["file"]["url"] for line in lines if "file" in line]

    def read():
        links = query()
        with tempfile.TemporaryDirectory(prefix="dap-sharing-bench-") as scratch:
            for n, link in enumerate(links):
                subprocess.run(["curl", "--silent", "--show-error", "--fail", "--output",
                                os.path.join(scratch, f"{n}.parquet"), link], check=True)
            return sum(os.path.getsize(os.path.join(scratch, f)) for f in os.listdir(scratch))

    queried, _ = timed(lambda: (query(), 0)[1], repeat)
    seconds, size = timed(read, repeat)
    return seconds, queried, size


def duckdb_export(files, fmt, out, repeat):
    import duckdb

    listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
    target = out.replace("'", "''")

    def copy():
        with duckdb.connect() as db:
            db.execute(f"COPY (SELECT * FROM read_parquet({listed}, hive_partitioning = true)) "
                       f"TO '{target}' (FORMAT {fmt})")

    return timed(copy, repeat)[0]


def polars_export(table, fmt, out, repeat):
    import polars as pl

    def sink():
        frame = pl.scan_delta(table).filter(pl.col("kommunekode") == "0101")
        if fmt == "csv":
            frame.sink_csv(out)
        elif fmt == "parquet":
            frame.sink_parquet(out)
        else:
            frame.sink_ndjson(out)

    return timed(sink, repeat)[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", default="/tmp/dap-bench")
    parser.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR", "target") + "/release")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="comma-separated; also `sharing`: a Delta Sharing query and its files")
    args = parser.parse_args()
    from deltalake import DeltaTable

    dap, bench = f"{args.target}/dap", f"{args.target}/dap-bench"
    table = os.path.join(args.data_dir, "lake", *TABLE)
    if not os.path.exists(os.path.join(table, "_delta_log")):
        print(run([bench, "generate", "--data-dir", args.data_dir, "--rows", str(args.rows)]).strip())
    files = DeltaTable(table).file_uris(partition_filters=[("kommunekode", "=", "0101")])
    scans = [json.loads(run([bench, "scan", "--data-dir", args.data_dir])) for _ in range(args.repeat)]
    scan = statistics.median(s["seconds"] for s in scans)
    rows = scans[0]["rows"]
    token = run([dap, "token", "--data-dir", args.data_dir, "--municipality", "0101", "--roles", "laes-bench"]).strip()
    print(f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; rows: {rows} "
          f"in {len(files)} files; medians of {args.repeat}; in-process DataFusion scan: {scan:.2f} s "
          f"= {rows / scan / 1e6:.2f} M rows/s\n")
    print("| format | dap | DuckDB | polars | best peer ÷ dap | dap served, no file | served vs scan | MB written by dap | server RSS idle → peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="dap-export-bench-") as scratch:
        for fmt in args.formats.split(","):
            out = os.path.join(scratch, f"out.{fmt}")
            seconds, served, size, idle, peak = dap_export(dap, args.data_dir, fmt, token, out, args.repeat)
            if fmt == "sharing":
                # "dap" is the query and every file; "served" the query alone (it
                # makes each file to know its size and row count).
                print(f"| delta sharing: query + files | {seconds:.2f} s | – | – | – | query alone "
                      f"{served:.2f} s | {scan / seconds:.2f} × | {size / 1e6:.0f} | {idle:.0f} → {peak:.0f} MB |",
                      flush=True)
                continue
            peers = {}
            if fmt in ("csv", "parquet"):
                peers["duckdb"] = duckdb_export(files, fmt, out, args.repeat)
            if fmt in ("csv", "parquet", "ndjson"):
                peers["polars"] = polars_export(table, fmt, out, args.repeat)
            best = min(peers.values()) if peers else None
            cell = lambda name: f"{peers[name]:.2f} s" if name in peers else "–"  # noqa: E731
            ratio = f"{best / seconds:.2f} ×" if best else "–"
            print(f"| {fmt} | {seconds:.2f} s | {cell('duckdb')} | {cell('polars')} | {ratio} | "
                  f"{served:.2f} s | {scan / served:.2f} × | {size / 1e6:.0f} | {idle:.0f} → {peak:.0f} MB |",
                  flush=True)


if __name__ == "__main__":
    main()
