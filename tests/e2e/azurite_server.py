"""Azurite, the Azure Storage emulator (npm package `azurite`, locked in
tests/e2e/azurite/package-lock.json and installed by scripts/test.sh), on a free port
with a temporary workspace, and its well-known development account. A lake URL
`az://<container>/<prefix>` with `Azurite.storage_toml()` reaches it."""

import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from email.utils import formatdate

HERE = os.path.dirname(os.path.abspath(__file__))
AZURITE_BIN = os.path.join(HERE, "azurite", "node_modules", ".bin", "azurite-blob")
# Azurite's documented development account and key (not a secret).
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Azurite:
    def __init__(self):
        if not os.path.exists(AZURITE_BIN):
            raise RuntimeError(
                f"{AZURITE_BIN} is missing: run scripts/test.sh, or `npm ci` in tests/e2e/azurite")
        self.workspace = tempfile.mkdtemp(prefix="dap-azurite-")
        self.port = _free_port()
        self.log = open(os.path.join(self.workspace, "azurite.log"), "w")
        self.process = subprocess.Popen(
            [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", str(self.port),
             "--location", self.workspace, "--skipApiVersionCheck", "--loose",
             "--disableTelemetry", "--silent"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.endpoint = f"http://127.0.0.1:{self.port}/{ACCOUNT}"
        deadline = time.time() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("Azurite did not start: " + open(self.log.name).read()[-2000:])
                time.sleep(0.2)

    def _signed(self, method: str, path: str, query: dict[str, str]) -> urllib.request.Request:
        """A request signed with the account key (Shared Key authorisation)."""
        date = formatdate(usegmt=True)
        headers = {"x-ms-date": date, "x-ms-version": "2021-08-06"}
        canonical_headers = "".join(f"{k}:{v}\n" for k, v in sorted(headers.items()))
        canonical_resource = f"/{ACCOUNT}/{ACCOUNT}/{path}" + "".join(
            f"\n{k}:{v}" for k, v in sorted(query.items()))
        to_sign = f"{method}\n" + "\n" * 11 + canonical_headers + canonical_resource
        signature = base64.b64encode(hmac.new(
            base64.b64decode(ACCOUNT_KEY), to_sign.encode(), hashlib.sha256).digest()).decode()
        url = f"{self.endpoint}/{path}?" + "&".join(f"{k}={v}" for k, v in query.items())
        request = urllib.request.Request(url, method=method, headers=headers)
        request.add_header("Authorization", f"SharedKey {ACCOUNT}:{signature}")
        return request

    def create_container(self, name: str) -> None:
        try:
            with urllib.request.urlopen(self._signed("PUT", name, {"restype": "container"}), timeout=10) as r:
                assert r.status == 201, r.status
        except urllib.error.HTTPError as e:
            if e.code != 409:  # exists already
                raise

    def blobs(self, container: str, prefix: str = "") -> list[str]:
        """Names of the container's blobs under `prefix` (the first 5000)."""
        query = {"comp": "list", "restype": "container"}
        if prefix:
            query["prefix"] = prefix
        with urllib.request.urlopen(self._signed("GET", container, query), timeout=10) as r:
            body = r.read().decode()
        return [part.split("</Name>")[0] for part in body.split("<Name>")[1:]]

    def storage_toml(self) -> str:
        """The `[lake.storage]` table that reaches this Azurite."""
        return (
            "[lake.storage]\n"
            f'account_name = "{ACCOUNT}"\n'
            f'access_key = "{ACCOUNT_KEY}"\n'
            f'endpoint = "{self.endpoint}"\n'
            "allow_http = true\n"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()
        shutil.rmtree(self.workspace, ignore_errors=True)
