#!/usr/bin/env python3
"""A year of daily deliveries for 98 municipalities, and what maintenance does for reads.

Run by hand against a release build (BENCHMARKS.md, issue 17):

    cargo build --release --workspace --bins
    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install deltalake pyarrow
    /tmp/bench-venv/bin/python benches/daily_deliveries.py --dap target/release/dap \
        --data-dir /tmp/dap-daily --days 365

1. `dap demo` creates the data directory (catalogue, lake, `oekonomi.posteringer` with the
   change data feed on), then stops.
2. The table gets DAYS x 98 daily deliveries: each municipality's ROWS new postings of
   the day, one data file in its own partition. This is the file layout dap's own upsert
   deliveries of new rows produce (one new file per delivery in the municipality's
   partition). They are appended with the `deltalake` package, one commit per day holding
   the day's 98 files, instead of through `dap deliver` (one MERGE commit each): 35,770
   separate commits take over 100 minutes to write here (measured: 6 commits/s). So the
   log has DAYS commits where production would have DAYS x 98; the data files, which is
   what a read of one municipality's year touches, are the same.
3. Before maintenance: the files of 0101's partition, the commits since the last
   checkpoint, the time until a fresh `dap demo` is ready (opening the table), the time of
   reading 0101's year through dap (Arrow export with `aar:eq:YEAR`, and the first `/rows`
   page with the same filter), and the time of one real `dap deliver` (an upsert of ROWS
   rows, MERGE on the key) for 0101.
4. `dap maintain` (the command `dap serve` runs on its schedule), timed.
5. The same measurements after maintenance.

Every read is repeated (`--repeat`) and the median is printed; the results go to stdout as
JSON and a Markdown table.
"""
import argparse
import datetime
import glob
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

DATASET = "oekonomi.posteringer"
ACCOUNTS = [("0.25.10", "1.0"), ("3.22.01", "4.0"), ("5.22.07", "1.0"), ("5.32.32", "4.0"), ("6.45.51", "1.0")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def municipalities(shared):
    path = os.path.join(shared, "reference", "kommuner.csv")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()[1:]
    return [line.split(",")[0].strip().strip('"') for line in lines if line.strip()]


class Server:
    """A release `dap demo` on the data directory; `ready_seconds` is its start-up time."""

    def __init__(self, dap, data_dir):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(data_dir, f"dap-{self.port}.log"), "w")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [dap, "demo", "--data-dir", data_dir, "--bind", f"127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while True:
            try:
                urllib.request.urlopen(self.base + "/health/ready", timeout=2)
                break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("dap demo did not become ready; see " + self.log.name)
                time.sleep(0.1)
        self.ready_seconds = time.perf_counter() - started

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)
        self.log.close()


def get(base, path, token):
    request = urllib.request.Request(base + path)
    request.add_header("Authorization", f"Bearer {token}")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as response:
        size = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
    return time.perf_counter() - started, size


def table_path(data_dir):
    logs = glob.glob(os.path.join(data_dir, "lake", "**", "posteringer", "_delta_log"), recursive=True)
    if len(logs) != 1:
        raise RuntimeError(f"expected one posteringer table under {data_dir}/lake, found {logs}")
    return os.path.dirname(logs[0])


def daily_batch(schema, code, day_index, first_day, rows):
    date = first_day + datetime.timedelta(days=day_index)
    base = int(code) * 10_000_000 + 5_000_000 + day_index * rows
    columns = {
        "kommunekode": pa.array([code] * rows, pa.string()),
        "posteringsid": pa.array([base + i for i in range(rows)], pa.int64()),
        "aar": pa.array([date.year] * rows, pa.int32()),
        "maaned": pa.array([date.month] * rows, pa.int32()),
        "bogfoeringsdato": pa.array([date] * rows, pa.date32()),
        "funktion": pa.array([ACCOUNTS[i % 5][0] for i in range(rows)], pa.string()),
        "art": pa.array([ACCOUNTS[i % 5][1] for i in range(rows)], pa.string()),
        "omkostningssted": pa.array([f"{code}-{100 + i % 40:03}" for i in range(rows)], pa.string()),
    }
    amount_type = schema.field("beloeb").type
    import decimal
    columns["beloeb"] = pa.array([decimal.Decimal((base + i) * 7919 % 10_000_000 - 2_000_000) / 100
                                  for i in range(rows)], amount_type)
    arrays = [columns[field.name].cast(field.type) for field in schema]
    return pa.record_batch(arrays, schema=schema)


def generate(path, codes, days, rows, first_day):
    table = DeltaTable(path)
    schema = pa.schema(table.schema().to_arrow())
    started = time.perf_counter()
    for day in range(days):
        # One commit per day holding each municipality's delivery as its own file in its
        # own partition (see the module note).
        batches = [daily_batch(schema, code, day, first_day, rows) for code in codes]
        write_deltalake(table, pa.Table.from_batches(batches, schema=schema), mode="append")
        if (day + 1) % 10 == 0:
            elapsed = time.perf_counter() - started
            print(f"  day {day + 1}/{days}: {elapsed:.0f} s", file=sys.stderr, flush=True)
    return time.perf_counter() - started


def layout(path, code):
    table = DeltaTable(path)
    actions = pa.table(table.get_add_actions(flatten=True))
    partition = actions.column("partition.kommunekode").to_pylist()
    log_dir = os.path.join(path, "_delta_log")
    checkpoints = sorted(int(os.path.basename(p).split(".")[0])
                         for p in glob.glob(os.path.join(log_dir, "*.checkpoint.parquet")))
    version = table.version()
    since = version - checkpoints[-1] if checkpoints else version + 1
    return {
        "version": version,
        "files": len(partition),
        "files_of_partition": sum(1 for p in partition if p == code),
        "commits_since_checkpoint": since,
    }


def client_env(dap, server, data_dir, code):
    created = json.loads(subprocess.run(
        [dap, "client", "create", "--data-dir", data_dir, "--municipality", code,
         "--name", f"Benchmark delivery {code} {time.time_ns()}", "--datasets", DATASET, "--days", "1"],
        check=True, capture_output=True, text=True).stdout)
    admin = subprocess.run(
        [dap, "token", "--data-dir", data_dir, "--municipality", code, "--roles", "it-administration",
         "--subject", f"bench-admin-{code}"], check=True, capture_output=True, text=True).stdout.strip()
    body = json.dumps({"dataset": DATASET, "client_id": created["client_id"]}).encode()
    request = urllib.request.Request(server.base + "/api/v1/admin/delivery-rights", data=body, method="POST")
    request.add_header("Authorization", f"Bearer {admin}")
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=30).read()
    return {**os.environ, "DAP_CLIENT_ID": created["client_id"], "DAP_CLIENT_SECRET": created["client_secret"]}


def deliver_once(dap, server, env, code, rows, day, tag):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("posteringsid,aar,maaned,bogfoeringsdato,funktion,art,beloeb,omkostningssted\n")
        base = int(code) * 10_000_000 + 9_000_000
        for i in range(rows):
            f.write(f"{base + i},{day.year},{day.month},{day.isoformat()},5.22.07,1.0,{100 + i}.50,{code}-101\n")
        name = f.name
    started = time.perf_counter()
    result = subprocess.run([dap, "deliver", "--server", server.base, "--dataset", DATASET, "--file", name,
                             "--mode", "upsert", "--delivery-id", f"bench-{tag}-{time.time_ns()}"],
                            env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    os.unlink(name)
    if result.returncode != 0:
        raise RuntimeError("dap deliver failed: " + result.stderr + result.stdout)
    return seconds


def measure(dap, data_dir, path, code, year, repeat, rows, tag):
    result = layout(path, code)
    server = Server(dap, data_dir)
    try:
        result["ready_seconds"] = round(server.ready_seconds, 2)
        token = subprocess.run([dap, "token", "--data-dir", data_dir, "--municipality", code,
                                "--roles", "laes-oekonomi"], check=True, capture_output=True,
                               text=True).stdout.strip()
        export = f"/api/v1/datasets/{DATASET}/export?format=arrow&filter=aar:eq:{year}"
        page = f"/api/v1/datasets/{DATASET}/rows?limit=100&filter=aar:eq:{year}"
        get(server.base, export, token)  # warm: the table is open, caches filled
        times, size = [], 0
        for _ in range(repeat):
            seconds, size = get(server.base, export, token)
            times.append(seconds)
        result["year_export_seconds"] = round(statistics.median(times), 3)
        result["year_export_bytes"] = size
        pages = [get(server.base, page, token)[0] for _ in range(repeat)]
        result["first_page_seconds"] = round(statistics.median(pages), 4)
        # The history (`/versions`, on every console dataset page): the first call counts
        # every commit's changes, later ones only newer commits'.
        history = f"/api/v1/datasets/{DATASET}/versions"
        result["versions_first_seconds"] = round(get(server.base, history, token)[0], 3)
        again = [get(server.base, history, token)[0] for _ in range(repeat)]
        result["versions_again_seconds"] = round(statistics.median(again), 4)
        env = client_env(dap, server, data_dir, code)
        day = datetime.date(year, 12, 31)
        result["delivery_seconds"] = round(deliver_once(dap, server, env, code, rows, day, tag), 2)
        result["versions_after_delivery_seconds"] = round(get(server.base, history, token)[0], 3)
    finally:
        server.stop()
    return result


def maintain(dap, data_dir):
    config = os.path.join(data_dir, "maintain.toml")
    with open(config, "w") as f:
        f.write(f'database_url = "sqlite://{os.path.abspath(data_dir)}/dap.sqlite?mode=rwc"\n')
        f.write(f'[lake]\nroot = "{os.path.abspath(data_dir)}/lake"\n')
    started = time.perf_counter()
    out = subprocess.run([dap, "maintain", "--config", config, "--dataset", DATASET],
                         check=True, capture_output=True, text=True)
    return time.perf_counter() - started, out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dap", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows", type=int, default=50, help="rows per daily delivery")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--code", default="0101")
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    parser.add_argument("--reuse", action="store_true", help="keep an existing generated data directory")
    parser.add_argument("--generate-only", action="store_true", help="stop after generating the table")
    args = parser.parse_args()
    dap = os.path.abspath(args.dap)
    first_day = datetime.date(2025, 1, 1)
    year = first_day.year
    codes = municipalities(args.shared)
    assert len(codes) == 98, f"expected 98 municipalities, found {len(codes)}"

    if not args.reuse:
        if os.path.exists(args.data_dir) and os.listdir(args.data_dir):
            raise SystemExit(f"{args.data_dir} is not empty (use --reuse to measure it again)")
        os.makedirs(args.data_dir, exist_ok=True)
        Server(dap, args.data_dir).stop()
        path = table_path(args.data_dir)
        print(f"generating {args.days} days x {len(codes)} deliveries of {args.rows} rows ...", file=sys.stderr)
        generate_seconds = generate(path, codes, args.days, args.rows, first_day)
        print(f"generated in {generate_seconds:.0f} s", file=sys.stderr)
        if args.generate_only:
            return
    else:
        path = table_path(args.data_dir)
        generate_seconds = None

    before = measure(dap, args.data_dir, path, args.code, year, args.repeat, args.rows, "before")
    maintain_seconds, report = maintain(dap, args.data_dir)
    after = measure(dap, args.data_dir, path, args.code, year, args.repeat, args.rows, "after")
    result = {"days": args.days, "municipalities": len(codes), "rows_per_delivery": args.rows,
              "generate_seconds": generate_seconds and round(generate_seconds, 1),
              "maintain_seconds": round(maintain_seconds, 1), "maintain_report": report.strip(),
              "before": before, "after": after}
    print(json.dumps(result, indent=2))
    keys = ["version", "files", "files_of_partition", "commits_since_checkpoint", "ready_seconds",
            "year_export_seconds", "first_page_seconds", "versions_first_seconds",
            "versions_again_seconds", "delivery_seconds", "versions_after_delivery_seconds"]
    print("\n| measure | before maintenance | after maintenance | ratio |\n|---|---|---|---|")
    for key in keys:
        b, a = before[key], after[key]
        ratio = f"{b / a:.1f} x" if isinstance(b, (int, float)) and a else ""
        print(f"| {key} | {b} | {a} | {ratio} |")


if __name__ == "__main__":
    main()
