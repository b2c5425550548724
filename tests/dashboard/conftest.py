"""Fixtures of the dashboard's browser test: a real local testnet (4
validators and a regulator) started from $HUTONG_BIN in its own process
group, headless Chromium driven by Selenium, and a folder for screenshots.

Every wait has a timeout; the testnet's process group is killed at the end
whatever happened (and its folder kept when a test failed).
"""

import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
# The Python SDK, from its source (its dependencies are in requirements.txt).
sys.path.insert(0, str(REPO / "sdk" / "python" / "src"))

import hutong  # noqa: E402

START_TIMEOUT_S = 120
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")


def say(msg: str) -> None:
    print(f"[dashboard test] {msg}", flush=True)


class Testnet:
    def __init__(self, home: Path, log_path: Path, rpc: Dict[str, str], dashboard: str):
        self.home = home
        self.log_path = log_path
        self.rpc = rpc
        self.dashboard = dashboard
        # A validator for transfers, the regulator for what it sees.
        self.client = hutong.Client(rpc.get("bank-a") or next(iter(rpc.values())), timeout=15)
        self.regulator = hutong.Client(rpc["regulator"], timeout=15)

    def key_path(self, name: str) -> Path:
        return self.home / "keys" / name

    def key(self, name: str) -> hutong.SigningKey:
        return hutong.load_key(self.key_path(name))

    def customer_keys(self):
        files = sorted((self.home / "keys").glob("account-*.key"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
        return [hutong.load_key(p) for p in files]


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the whole process group, then SIGKILL if it lingers."""
    if proc.poll() is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent
        except ProcessLookupError:
            pass
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _dashboard_from_config(home: Path) -> Optional[str]:
    """The regulator's `[dashboard] listen`, when its config has one."""
    config = home / "regulator" / "config.toml"
    if not config.exists():
        return None
    m = re.search(r'^\[dashboard\][^\[]*?^listen\s*=\s*"([^"]+)"', config.read_text(), re.M | re.S)
    return f"http://{m.group(1)}" if m else None


@pytest.fixture(scope="session")
def artefacts() -> Path:
    folder = Path(os.environ.get("HUTONG_ARTEFACTS") or Path(__file__).parent / "artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    say(f"screenshots go to {folder}")
    return folder


@pytest.fixture(scope="session")
def testnet(request):
    binary = os.environ.get("HUTONG_BIN", "")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail(f"HUTONG_BIN={binary!r} is not an executable: set it to the `hutong` binary", pytrace=False)
    home = Path(tempfile.mkdtemp(prefix="hutong-dashboard-"))
    log_path = home.parent / (home.name + ".log")
    say(f"testnet in {home} (log {log_path}), binary {binary}")
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [binary, "testnet", "--dir", str(home), "--fresh"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed as a whole at the end
    )
    devserver: Optional[subprocess.Popen] = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        rpc: Dict[str, str] = {}
        dashboard: Optional[str] = None
        rpc_re = re.compile(r"^\s*([\w-]+)\s+rpc\s+(http://127\.0\.0\.1:\d+)", re.M)
        dash_re = re.compile(r"dashboard\s+(http://127\.0\.0\.1:\d+)")
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"`hutong testnet` exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}", pytrace=False)
            text = log_path.read_text(errors="replace")
            rpc = dict(rpc_re.findall(text))
            m = dash_re.search(text)
            dashboard = m.group(1) if m else None
            # The banner ends with "Ctrl-C stops all nodes": every endpoint is printed by then.
            if len(rpc) >= 5 and "regulator" in rpc and (dashboard or "Ctrl-C stops all nodes" in text):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the testnet printed no endpoints in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}", pytrace=False)
        dashboard = dashboard or _dashboard_from_config(home)
        # Development only: HUTONG_DASHBOARD_DEVSERVER=1 serves the working
        # tree's dist/ (devserver.py, the node's headers, POSTs forwarded to
        # the regulator's RPC port) when the binary serves no dashboard;
        # `always` does so even when it does (a binary built before the
        # latest dist/). The default tests the node's own dashboard port.
        dev = os.environ.get("HUTONG_DASHBOARD_DEVSERVER", "")
        if dev and (dev == "always" or not dashboard):
            devserver = subprocess.Popen(
                [sys.executable, str(Path(__file__).parent / "devserver.py"), "--rpc", rpc["regulator"], "--listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
            )
            line = devserver.stdout.readline()
            m = re.search(r"dashboard (http://127\.0\.0\.1:\d+)", line)
            if not m:
                pytest.fail(f"devserver.py did not start: {line!r}", pytrace=False)
            dashboard = m.group(1)
            say(f"HUTONG_DASHBOARD_DEVSERVER={dev}: the working tree's dist/ served by devserver.py at {dashboard}")
        if not dashboard:
            pytest.fail(
                "the testnet printed no `dashboard http://…` line and the regulator's config has no [dashboard] "
                f"listen: does {binary} serve the dashboard?\n{log_path.read_text()[-2000:]}",
                pytrace=False,
            )
        say(f"rpc {rpc}; dashboard {dashboard}")
        net = Testnet(home, log_path, rpc, dashboard.rstrip("/") + "/")
        # Wait until the chain commits and the regulator follows it.
        while True:
            try:
                if net.client.status().height >= 2 and net.regulator.status().height >= 2:
                    break
            except hutong.HutongError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the testnet committed no blocks in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.3)
        yield net
    finally:
        if devserver is not None:
            _stop_group(devserver)
        _stop_group(proc)
        log.close()
    if request.session.testsfailed == 0 and not os.environ.get("HUTONG_KEEP_TESTNET"):
        shutil.rmtree(home, ignore_errors=True)
        log_path.unlink(missing_ok=True)
    else:
        say(f"testnet folder kept: {home} (log {log_path})")


class Browser:
    """Headless Chromium with the waits and screenshots the test uses."""

    def __init__(self, driver, artefacts: Path):
        self.driver = driver
        self.artefacts = artefacts
        self.shots = []

    def screenshot(self, name: str) -> Path:
        """The whole page, not only the window (Chrome DevTools' capture)."""
        path = self.artefacts / f"{name}.png"
        d = self.driver
        try:
            metrics = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics["cssContentSize"]
            shot = d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": int(size["width"]), "height": int(min(size["height"], 8000)), "scale": 1},
            })
            path.write_bytes(base64.b64decode(shot["data"]))
        except Exception:  # a plain window shot is still worth having
            d.save_screenshot(str(path))
        self.shots.append(path)
        say(f"screenshot {path}")
        return path


@pytest.fixture()
def browser(artefacts, request):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: apt-get install chromium chromium-driver (tests/dashboard/run does)", pytrace=False)
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1500,1000", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    b = Browser(driver, artefacts)
    try:
        yield b
    finally:
        failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
        try:
            if failed:
                b.screenshot("failure")
            console = driver.get_log("browser")
            (artefacts / "console.log").write_text("".join(f"{e['level']} {e['message']}\n" for e in console))
        except Exception as e:  # the browser may be gone
            say(f"could not save the page's state: {e}")
        driver.quit()
        say("screenshots:\n  " + "\n  ".join(str(p) for p in b.shots))


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Lets the browser fixture know whether the test failed (for a last screenshot).
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
