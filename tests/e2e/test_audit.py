"""`dap audit verify` against the running demo's control plane: intact, then one record
edited in the database (as an intruder with SQL access would), then restored."""

import os
import sqlite3
import subprocess

from conftest import DAP_BIN


def verify(data_dir):
    return subprocess.run([DAP_BIN, "audit", "verify", "--data-dir", data_dir],
                          capture_output=True, text=True, timeout=60)


def test_audit_verify_names_the_edited_record(dap):
    token = dap.token("0101")
    for _ in range(3):
        dap.get_json("/api/v1/datasets", token)
    ok = verify(dap.data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "audit chain intact" in ok.stderr

    db = sqlite3.connect(os.path.join(dap.data_dir, "dap.sqlite"))
    (seq, subject) = db.execute(
        "SELECT seq, subject FROM audit_events WHERE subject IS NOT NULL ORDER BY seq LIMIT 1").fetchone()
    db.execute("UPDATE audit_events SET subject = 'nobody' WHERE seq = ?", (seq,))
    db.commit()
    try:
        broken = verify(dap.data_dir)
        assert broken.returncode == 1
        assert f"audit chain broken: record {seq} " in broken.stderr and "was changed" in broken.stderr
    finally:
        db.execute("UPDATE audit_events SET subject = ? WHERE seq = ?", (subject, seq))
        db.commit()
        db.close()
    assert verify(dap.data_dir).returncode == 0


def test_administrative_commands_are_audited_and_keep_the_chain(dap):
    rotated = subprocess.run([DAP_BIN, "keys", "rotate", "--data-dir", dap.data_dir],
                             capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 0, rotated.stderr
    db = sqlite3.connect(os.path.join(dap.data_dir, "dap.sqlite"))
    try:
        rows = db.execute(
            "SELECT caller_kind, columns FROM audit_events WHERE action = 'cli keys rotate'").fetchall()
    finally:
        db.close()
    assert len(rows) == 1 and rows[0][0] == "cli" and rows[0][1].startswith("new signing key ")
    assert verify(dap.data_dir).returncode == 0
