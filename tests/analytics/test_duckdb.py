"""The regulator's export to Parquet, read by DuckDB as an analyst would.

A bench chain (4 validators and a regulator, a few thousand transfers) is
made with `hutong bench`, then run again with `hutong testnet`; the
regulator's ledger is exported with `hutong audit export-parquet` and
queried with DuckDB's Python package:

- the export's flows between institutions equal what the audit node's own
  `hutong audit flows` computes over the same period (an independent
  path: the node's index, not the export);
- every block is there once, with its certified state root, and each
  transaction's legs are there once;
- a transfer row proves to be on the chain: `hutong audit proof tx` on
  its hash verifies against the genesis alone, at the row's height and in
  the block whose root the row's block carries;
- a second run resumes where the first stopped and writes no row twice.

The README's example queries are the ones below (`EXAMPLE_QUERIES`).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

BIN = os.environ.get("HUTONG_BIN", "hutong")
START_TIMEOUT_S = 120


def say(msg: str) -> None:
    print(f"[analytics test] {msg}", flush=True)


def hutong(*args: str, timeout: int = 300) -> str:
    out = subprocess.run(
        [BIN, *args], capture_output=True, text=True, timeout=timeout
    )
    if out.returncode != 0:
        raise AssertionError(
            f"hutong {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out.stdout


def stop_group(proc: subprocess.Popen) -> None:
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


# What an analyst runs; the test runs them too (README, "Exports").
EXAMPLE_QUERIES = {
    "flows between institutions": """
        SELECT from_institution, to_institution, asset,
               count(*) AS transfers, sum(amount_minor) AS amount_minor
        FROM read_parquet('{out}/transfers/*/*.parquet', hive_partitioning = true)
        WHERE success AND kind IN ('transfer', 'payout', 'mint')
          AND amount_minor > 0 AND from_account <> to_account
        GROUP BY ALL ORDER BY ALL""",
    "busiest senders per day": """
        SELECT date, from_account, count(*) AS payments, sum(amount) AS total
        FROM read_parquet('{out}/transfers/*/*.parquet', hive_partitioning = true)
        WHERE success
        GROUP BY ALL ORDER BY payments DESC LIMIT 5""",
    "a transfer with its block's certified root": """
        SELECT t.tx_hash, t.height, b.state_root, b.certified_by_height
        FROM read_parquet('{out}/transfers/*/*.parquet', hive_partitioning = true) t
        JOIN read_parquet('{out}/blocks/*/*.parquet', hive_partitioning = true) b USING (height)
        WHERE t.success AND t.kind = 'transfer' AND b.certified_by_height IS NOT NULL
        ORDER BY t.height, t.tx_index LIMIT 1""",
}


@pytest.fixture(scope="module")
def chain():
    home = Path(tempfile.mkdtemp(prefix="hutong-analytics-"))
    say(f"bench chain in {home} (binary {BIN})")
    bench = hutong(
        "bench", "--validators", "4", "--dir", str(home / "net"), "--fresh",
        "--accounts", "300", "--rate", "300", "--duration-secs", "8",
        timeout=600,
    )
    say("bench: " + " | ".join(l.strip() for l in bench.splitlines() if "transfers" in l)[:400])
    log = open(home / "testnet.log", "w")
    proc = subprocess.Popen(
        [BIN, "testnet", "--dir", str(home / "net")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        regulator = None
        deadline = time.time() + START_TIMEOUT_S
        while time.time() < deadline and regulator is None:
            time.sleep(1)
            text = (home / "testnet.log").read_text()
            m = re.search(r"regulator\s+rpc (http://127\.0\.0\.1:\d+)", text)
            if m:
                regulator = m.group(1)
        assert regulator, f"the testnet did not start:\n{(home / 'testnet.log').read_text()}"
        # The regulator answers once it is up and has caught up.
        deadline = time.time() + START_TIMEOUT_S
        while True:
            try:
                status = json.loads(hutong("query", "status", "--rpc", regulator, timeout=10))
                if status.get("height", 0) > 0:
                    break
            except AssertionError:
                pass
            assert time.time() < deadline, "the regulator does not answer"
            time.sleep(1)
        yield home, regulator
    finally:
        stop_group(proc)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def audit(home: Path, regulator: str, *args: str) -> str:
    return hutong("audit", "--rpc", regulator, "--key", str(home / "net" / "keys" / "regulator.key"), *args)


def test_an_export_reads_in_duckdb_as_the_chain_says(chain):
    home, regulator = chain
    out = home / "export"
    status = json.loads(hutong("query", "status", "--rpc", regulator))
    top = status["height"]
    say(f"exporting heights 0..{top}")
    say(audit(home, regulator, "export-parquet", "--out", str(out), "--to-height", str(top)).strip())
    db = duckdb.connect()

    def rows(sql: str):
        return db.execute(sql.format(out=out)).fetchall()

    # Every block once, contiguous, each with a state root.
    blocks = rows("SELECT height, state_root FROM read_parquet('{out}/blocks/*/*.parquet') ORDER BY height")
    assert [b[0] for b in blocks] == list(range(len(blocks))) and blocks[-1][0] == top, blocks[-3:]
    assert all(re.fullmatch(r"[0-9a-f]{64}", b[1]) for b in blocks)
    # Each transaction's legs once; transactions per block as the block says.
    # Account events exist only where accounts were opened or frozen after
    # the genesis (a bench chain has none).
    legs = " UNION ALL ".join(
        f"SELECT * FROM read_parquet('{{out}}/{table}/*/*.parquet')"
        for table in ("transfers", "accounts")
        if any((out / table).glob("*/*.parquet"))
    )
    dup = rows(f"SELECT height, tx_index, leg, count(*) c FROM ({legs}) GROUP BY ALL HAVING c > 1")
    assert dup == [], dup[:5]
    per_block = rows(
        f"SELECT b.height, b.tx_count, count(DISTINCT l.tx_index) FROM read_parquet('{{out}}/blocks/*/*.parquet') b "
        f"LEFT JOIN ({legs}) l USING (height) WHERE b.tx_count > 0 GROUP BY ALL HAVING b.tx_count <> count(DISTINCT l.tx_index)"
    )
    assert per_block == [], per_block[:5]
    transfers = rows("SELECT count(*) FROM read_parquet('{out}/transfers/*/*.parquet') WHERE kind = 'transfer' AND success")[0][0]
    say(f"{len(blocks)} blocks, {transfers} successful transfers")
    assert transfers > 1_000, "the bench chain should hold thousands of transfers"

    # The same flows as the audit node's own index over the same period.
    last_ms = rows("SELECT max(epoch_ms(timestamp)) FROM read_parquet('{out}/blocks/*/*.parquet')")[0][0]
    flows = json.loads(audit(home, regulator, "flows", "--to", str(last_ms + 1), "--format", "json"))
    expected = sorted(
        (g["from"], g["to"], g["asset"], g["transfers"], int(g["amount"])) for g in flows["gross"]
    )
    got = sorted(
        (a, b, c, n, int(m)) for a, b, c, n, m in rows(EXAMPLE_QUERIES["flows between institutions"])
    )
    assert got == expected, f"export {got}\nnode {expected}"

    for name, sql in EXAMPLE_QUERIES.items():
        result = rows(sql)
        say(f"{name}: {result[:3]}")
        assert result, name

    # A row proves to be on the chain, checked with the genesis alone.
    tx, height, _root, certified_by = rows(EXAMPLE_QUERIES["a transfer with its block's certified root"])[0]
    proof = home / "tx.proof.json"
    audit(home, regulator, "proof", "tx", tx, "--out", str(proof))
    verdict = hutong("audit", "verify", str(proof), "--genesis", str(home / "net" / "genesis.toml"))
    assert "VALID" in verdict, verdict
    claims = json.loads(verdict[: verdict.rindex("}") + 1])
    assert claims["tx_hash"] == tx and claims["height"] == height, claims
    say(f"transfer {tx[:12]}… at height {height} (certified by block {certified_by}): proof VALID")

    # A second run resumes: new blocks only, no row twice. (The chain
    # makes no block while idle: the regulator anchors its audit log, a
    # transaction every member sees, which the export then holds.)
    say(audit(home, regulator, "anchor", "--wait").strip().splitlines()[-1])
    say(audit(home, regulator, "export-parquet", "--out", str(out)).strip())
    anchors = rows(
        "SELECT count(*) FROM read_parquet('{out}/accounts/*/*.parquet') WHERE kind = 'anchor_audit_log' AND success"
    )[0][0]
    assert anchors >= 1, "the anchor is an account event of the export"
    heights = rows("SELECT height FROM read_parquet('{out}/blocks/*/*.parquet') ORDER BY height")
    assert [h[0] for h in heights] == list(range(len(heights))) and len(heights) > len(blocks)
    legs = " UNION ALL ".join(
        f"SELECT * FROM read_parquet('{{out}}/{table}/*/*.parquet')" for table in ("transfers", "accounts")
    )
    assert rows(f"SELECT height, tx_index, leg, count(*) c FROM ({legs}) GROUP BY ALL HAVING c > 1") == []
    alerts = rows("SELECT count(*) FROM read_parquet('{out}/alerts/alerts.parquet')")[0][0]
    say(f"resumed to height {heights[-1][0]}; {alerts} alerts exported")
