"""The end-to-end fixture: one local testnet per test session, started from
$HUTONG_BIN in a temporary folder, in its own process group, killed at the end."""

import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

import hutong

START_TIMEOUT_S = 120


def _hutong_bin() -> str:
    path = os.environ.get("HUTONG_BIN")
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(
            f"HUTONG_BIN={path!r} is not an executable file: build the node with "
            "`cargo build -p hutong-cli` and set HUTONG_BIN to the `hutong` binary "
            "(e.g. HUTONG_BIN=$PWD/target/debug/hutong)",
            pytrace=False,
        )
    return path


SEED = int(os.environ.get("HUTONG_TEST_SEED") or random.SystemRandom().randrange(2**32))


def _say(config, msg: str) -> None:
    """Shown even when pytest captures output (-q)."""
    capman = config.pluginmanager.get_plugin("capturemanager")
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if capman is not None and tr is not None:
        with capman.global_and_fixture_disabled():
            tr.write_line(msg)
    else:  # pragma: no cover
        print(msg, flush=True)


def pytest_report_header(config):
    return f"hutong: random seed {SEED} (rerun with HUTONG_TEST_SEED={SEED})"


@pytest.fixture(scope="session")
def seed() -> int:
    return SEED


@pytest.fixture()
def rng(seed, request) -> random.Random:
    # One generator per test, derived from the session seed and the test's name.
    return random.Random(f"{seed}/{request.node.name}")


class Testnet:
    def __init__(self, home: Path, proc: subprocess.Popen, endpoints: Dict[str, str]):
        self.home = home
        self.proc = proc
        self.endpoints = endpoints
        self.url = endpoints.get("bank-a") or next(iter(endpoints.values()))
        self.client = hutong.Client(self.url, timeout=15)
        # The regulator's node: it evaluates identity tags (hutong_identityEvaluate).
        self.regulator_url = endpoints.get("regulator")
        self._accounts: Optional[List[hutong.SigningKey]] = None
        self._taken: set = set()

    def key(self, name: str) -> hutong.SigningKey:
        return hutong.load_key(self.home / "keys" / name)

    def accounts(self) -> List[hutong.SigningKey]:
        if self._accounts is None:
            files = sorted((self.home / "keys").glob("account-*.key"),
                           key=lambda p: int(re.sub(r"\D", "", p.stem)))
            self._accounts = [hutong.load_key(p) for p in files]
        return self._accounts

    def take_account(self, tier: Optional[int] = None) -> hutong.SigningKey:
        """A demo customer account no other test has used: of ``tier`` if
        given, else preferably one without a step-up threshold (tier-2 and
        tier-3 accounts are kept for the step-up tests)."""
        free = [k for k in self.accounts() if str(k.address) not in self._taken]
        tiers = {str(k.address): self.client.get_account(k).tier for k in free}
        if tier is not None:
            free = [k for k in free if tiers[str(k.address)] == tier]
        else:
            free.sort(key=lambda k: tiers[str(k.address)] == 2)
        if not free:
            pytest.fail(f"no unused demo account (tier {tier}) left in the testnet")
        self._taken.add(str(free[0].address))
        return free[0]

    def member_of(self, account: hutong.SigningKey) -> str:
        """The name of the member whose customer ``account`` is (its node
        has that name, and its keys are ``keys/<name>.*.key``)."""
        inst = self.client.get_account(account).institution
        for m in self.client.parameters().raw.get("members", []):
            if m.get("account") == inst:
                return m["name"]
        pytest.fail(f"no member has the institution account {inst}")

    def institution_key_of(self, account: hutong.SigningKey) -> hutong.SigningKey:
        return self.key(f"{self.member_of(account)}.institution.key")

    def member_client(self, account: hutong.SigningKey) -> hutong.Client:
        """A client of the node of ``account``'s institution (the node that
        holds its memo key, for ``hutong_readMemo``)."""
        name = self.member_of(account)
        if name not in self.endpoints:
            pytest.fail(f"the testnet printed no endpoint for {name}: {self.endpoints}")
        return hutong.Client(self.endpoints[name], timeout=15)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="session")
def testnet(pytestconfig, request):
    binary = _hutong_bin()
    home = Path(tempfile.mkdtemp(prefix="hutong-pysdk-"))
    log_path = home.parent / (home.name + ".log")
    _say(pytestconfig, f"\n[hutong e2e] testnet in {home} (log {log_path}), binary {binary}, seed {SEED}")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [binary, "testnet", "--dir", str(home), "--fresh"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed as a whole at the end
    )
    try:
        endpoints: Dict[str, str] = {}
        deadline = time.monotonic() + START_TIMEOUT_S
        line_re = re.compile(r"^\s*([\w-]+)\s+(?:rpc\s+)?(http://127\.0\.0\.1:\d+)", re.M)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"`hutong testnet` exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            endpoints = dict(line_re.findall(log_path.read_text(errors="replace")))
            if len(endpoints) >= 5:
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the testnet printed no endpoints in {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
        _say(pytestconfig, f"[hutong e2e] endpoints {endpoints}")
        net = Testnet(home, proc, endpoints)
        # Wait until the chain commits: the height grows past 2.
        while True:
            try:
                if net.client.status().height >= 2:
                    break
            except hutong.HutongError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the testnet did not commit blocks in {START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield net
    finally:
        _stop(proc)
        log.close()
    # Kept for a look when something failed (or when HUTONG_KEEP_TESTNET is set).
    if request.session.testsfailed == 0 and not os.environ.get("HUTONG_KEEP_TESTNET"):
        shutil.rmtree(home, ignore_errors=True)
        log_path.unlink()
    else:
        _say(pytestconfig, f"\n[hutong e2e] testnet folder kept: {home} (log {log_path})")
