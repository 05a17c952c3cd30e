"""Contract fuzzing: schemathesis against the running server, every operation."""

import os
import re
import subprocess
import sys

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "unsupported_method",
    "ignored_auth",
])


def test_schemathesis_finds_no_failures(dap):
    # An analyst who is also the municipality's IT administrator, so the admin routes
    # are fuzzed too (on the throwaway demo: they may disable and delete things).
    token = dap.token(roles="laes-oekonomi,laes-personale,laes-borger,laes-aeldre,laes-infrastruktur,laes-foelsomme,it-administration")
    st = os.path.join(os.path.dirname(sys.executable), "st")
    for attempt in range(2):
        result = run_schemathesis(st, dap, token)
        output = result.stdout + result.stderr
        # CPython 3.11 occasionally crashes inside hypothesis with this SystemError (an
        # interpreter bug, not a finding about dap). Only that crash is retried, once;
        # any failed check fails the test at once.
        crashed = "AST constructor recursion depth mismatch" in output and "Test Case ID" not in output
        if result.returncode == 0 or not crashed:
            break
    print(output[-4000:])
    assert result.returncode == 0, output[-6000:]
    operations = re.search(r"Tested:\s+(\d+)", output)
    cases = re.search(r"(\d+) generated", output)
    assert operations and int(operations.group(1)) >= 6, output[-2000:]
    assert cases and int(cases.group(1)) > 100, output[-2000:]
    print(f"schemathesis: {operations.group(1)} operations, {cases.group(1)} test cases, 0 failures")


def run_schemathesis(st, dap, token):
    return subprocess.run(
        [st, "run", f"{dap.base}/openapi.json",
         "-H", f"Authorization: Bearer {token}",
         "--checks", CHECKS,
         "--max-examples", "100",
         # One worker: CPython 3.11's AST builder keeps its recursion depth in state
         # its threads share (gh-106905), so hypothesis describing lambdas in two
         # worker threads at once can fail with "AST constructor recursion depth
         # mismatch" (a fresh-clone CI run on 2026-12-06 met it twice in a row).
         "--workers", "1",
         "--seed", "20261122"],
        capture_output=True, text=True, timeout=1200,
    )
