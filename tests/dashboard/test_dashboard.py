"""The regulator's web dashboard, end to end, in headless Chromium against a
real testnet:

1. money goes round a cycle: from account A through accounts at two other
   institutions and back to A (each leg at least 5,000 CNY and at least
   90% of the one before), and the regulator's detector raises a `cycle`
   alert about A;
2. in the browser: a customer's key is refused at sign-in, the regulator's
   key signs in; the alert queue shows the cycle alert; its fund-flow graph
   lists the cycle A → B → C → A; A's account view freezes A (reason
   "fraud") with a transaction signed in the page; an account opened for
   one owner at bank-a lists the same owner's account at wallet-b (the
   owner's other accounts), and money from the first back to the second
   through B is a cycle via the same owner in the graph, and the owner's
   history merges the legs of both accounts; a mandate B grants
   is listed in B's account view (A's says it has none); the institution
   flows show the open settlement cycle's positions (one institution owes,
   another is owed); the audit log's hash chain, re-hashed in the browser,
   is intact; sign-out forgets the key;
3. over JSON-RPC: A is frozen, for fraud, by the regulator.

Screenshots of each step go to $HUTONG_ARTEFACTS (default
tests/dashboard/artefacts/); their paths are printed.
"""

import time
from decimal import Decimal

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

import hutong
from conftest import say

ASSET = "CNY"
# Each leg keeps 95% of the one before (the test's bar is 90%) and stays
# at or above 5,000.00 CNY.
CYCLE_AMOUNTS = [Decimal("6000.00"), Decimal("5700.00"), Decimal("5400.00")]
STEP_S = 30          # a page reacting to a click
ALERT_S = 90         # the detector raising the alert, the queue refreshing (every 5 s)
TX_S = 90            # a freeze committed and its receipt shown
CHAIN_S = 90         # the audit log walked and re-hashed


def wait_for(browser, css: str, timeout: float = STEP_S, what: str = ""):
    """The first element matching `css`, once it is visible."""
    try:
        return WebDriverWait(browser.driver, timeout).until(EC.visibility_of_element_located((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(f"no {what or css} on the page within {timeout} s") from None


def go(browser, route: str) -> None:
    """Navigates inside the app (a hash route: the key stays in the page's memory)."""
    browser.driver.execute_script("location.hash = arguments[0]", route)


def pick_cycle_accounts(net, amounts):
    """Three customers at three different institutions whose tier lets each
    send its leg without a co-signature, and with the money to do it."""
    decimals = net.client.status().decimals(ASSET)
    chosen, institutions = [], set()
    for key in net.customer_keys():
        a = net.client.get_account(key)
        limits = a.limits.get(ASSET)
        amount = hutong.parse_amount(str(amounts[len(chosen)]), decimals)
        if limits is None or a.institution in institutions or a.frozen:
            continue
        if amount > limits.single_max or amount > limits.remaining_today or amount > a.balance(ASSET):
            continue
        if limits.step_up_threshold is not None and amount > limits.step_up_threshold:
            continue
        chosen.append(key)
        institutions.add(a.institution)
        if len(chosen) == 3:
            return chosen, decimals
    raise AssertionError(f"the testnet has no three customers at three institutions that may send {amounts} {ASSET}")


def plant_cycle(net):
    (a, b, c), decimals = pick_cycle_accounts(net, CYCLE_AMOUNTS)
    legs = [(a, b), (b, c), (c, a)]
    for (sender, to), amount in zip(legs, CYCLE_AMOUNTS):
        minor = hutong.parse_amount(str(amount), decimals)
        status = net.client.wait(net.client.send(sender, hutong.Transfer(to.address, ASSET, minor)), timeout=60)
        assert status.succeeded, f"the leg {sender.address} → {to.address} of {amount} {ASSET} failed: {status}"
        say(f"paid {amount} {ASSET}: {sender.address} → {to.address} (height {status.height})")
    return str(a.address), str(b.address), str(c.address)


def open_for_one_owner(net):
    """Accounts for one customer at bank-a and at wallet-b, each opened
    with the customer's identity tag, obtained from the regulator's node
    (blind) and sealed to it: only the regulator links them."""
    opened = []
    for institution in ("bank-a", "wallet-b"):
        owner = hutong.SigningKey.generate()
        key = net.key(f"{institution}.institution.key")
        [tag] = net.client.identity_tags(key, ["CN_RIC:11010519491231002X"], net.regulator)
        kind = net.client.open_account_with_identity(owner, 1, tag, hutong.new_identity_salt())
        status = net.client.wait(net.client.send(key, kind), timeout=60)
        assert status.succeeded, f"opening an account at {institution} failed: {status}"
        opened.append(owner)
        say(f"opened {owner.address} at {institution} (height {status.height})")
    return opened


def test_regulator_dashboard(testnet, browser):
    net = testnet
    d = browser.driver
    A, B, C = plant_cycle(net)
    regulator_account = net.regulator.parameters().raw["regulators"][0]["account"]

    # -- Sign-in: a customer's key is refused, the regulator's accepted.
    d.get(net.dashboard)
    key_input = wait_for(browser, "[data-testid=key-file]", what="the key file input")
    browser.screenshot("01-sign-in")
    key_input.send_keys(str(net.key_path("account-1.key")))
    refused = wait_for(browser, "[data-testid=sign-in-refused]", what="the refusal of a customer's key")
    assert refused.get_attribute("data-code") == "unknown_key", refused.text
    browser.screenshot("02-sign-in-refused")
    wait_for(browser, "[data-testid=key-file]").send_keys(str(net.key_path("regulator.key")))
    signed_in = wait_for(browser, "[data-testid=signed-in]", what="the signed-in banner")
    assert "signed in as" in signed_in.text and "regulator" in signed_in.text, signed_in.text

    # -- The alert queue shows the cycle alert about A (auto-refresh every 5 s).
    row_css = f"tr[data-testid=alert-row][data-kind=cycle][data-account='{A}']"
    row = wait_for(browser, row_css, timeout=ALERT_S, what=f"a cycle alert about {A} in the queue")
    browser.screenshot("03-alert-queue")
    row.click()
    detail = wait_for(browser, "[data-testid=alert-detail]", what="the alert's details")
    path = [e.get_attribute("data-value") for e in detail.find_elements(By.CSS_SELECTOR, "[data-testid=alert-cycle-path] .addr")]
    assert path == [A, B, C, A], f"the alert's cycle path is {path}"
    browser.screenshot("04-alert-expanded")

    # -- Its fund-flow graph lists the cycle and draws its legs red.
    detail.find_element(By.CSS_SELECTOR, "[data-testid=alert-graph]").click()
    wait_for(browser, "[data-testid=graph-status][data-state=ready]", what="the trace")
    wait_for(browser, "[data-testid=graph-canvas] canvas", what="the graph's canvas")
    cycles = d.find_elements(By.CSS_SELECTOR, "li[data-testid=cycle][data-cycle=true]")
    listed = [c.get_attribute("data-accounts") for c in cycles]
    assert f"{A} {B} {C} {A}" in listed, f"cycles listed: {listed}"
    closing = d.find_elements(By.CSS_SELECTOR, "tr[data-testid=leg][data-closing=true]")
    assert len(closing) >= 1, "no leg is marked as closing the cycle"
    browser.screenshot("05-fund-flow-graph")

    # -- A's account view: freeze it for fraud, signed in the page.
    cycles[listed.index(f"{A} {B} {C} {A}")].find_element(By.CSS_SELECTOR, ".addr a").click()
    status = wait_for(browser, "[data-testid=account-status]", what="A's account view")
    assert status.get_attribute("data-status") == "active", status.text
    browser.screenshot("06-account")
    wait_for(browser, "[data-testid=freeze-open]").click()
    # The options show the reason codes (an option whose text is its value has no value attribute).
    Select(wait_for(browser, "[data-testid=freeze-reason]")).select_by_visible_text("fraud")
    wait_for(browser, "[data-testid=freeze-submit]").click()
    result = wait_for(browser, "[data-testid=tx-result]", timeout=TX_S, what="the freeze's receipt")
    assert result.get_attribute("data-outcome") == "success", result.text
    browser.screenshot("07-freeze-receipt")
    # The page reads the account again once the freeze is final.
    wait_for(browser, "[data-testid=account-status][data-status=frozen]", what="A shown as frozen")
    # A granted no mandate: its account view says so in one line.
    wait_for(browser, "[data-testid=account-mandates] [data-testid=no-mandates]", what="A's (empty) mandates")
    browser.screenshot("08-account-frozen")

    # -- Over JSON-RPC, A is frozen for fraud by the regulator.
    account = net.regulator.get_account(A)
    assert account.status == "frozen" and account.frozen, account
    assert account.frozen.get("reason") == "fraud" and account.frozen.get("by") == regulator_account, account.frozen

    # -- The owner's other accounts: the account at bank-a lists wallet-b's.
    bank_key, wallet_key = open_for_one_owner(net)
    at_bank, at_wallet = str(bank_key.address), str(wallet_key.address)
    go(browser, f"#/account/{at_bank}")
    other = wait_for(browser, f"tr[data-testid=owner-account][data-address='{at_wallet}']", timeout=ALERT_S, what="the owner's account at wallet-b")
    assert "wallet-b" in other.text, other.text
    assert len(d.find_elements(By.CSS_SELECTOR, "tr[data-testid=owner-account]")) == 1
    browser.screenshot("09-owner-accounts")
    # Money from the owner's bank-a account comes back to its wallet-b
    # account through B: the graph lists it as a cycle via the same owner.
    decimals = net.client.status().decimals(ASSET)
    minor = lambda amount: hutong.parse_amount(amount, decimals)
    keys = {str(k.address): k for k in net.customer_keys()}
    funder = next(k for a, k in keys.items() if a not in (A, B, C))
    for sender, to, amount in ((funder, bank_key.address, "50.00"), (bank_key, B, "40.00"), (keys[B], wallet_key.address, "30.00")):
        status = net.client.wait(net.client.send(sender, hutong.Transfer(to, ASSET, minor(amount))), timeout=60)
        assert status.succeeded, f"{sender.address} → {to} {amount} {ASSET}: {status}"
    go(browser, f"#/graph?account={at_bank}&dir=forward")
    wait_for(browser, "[data-testid=graph-status][data-state=ready]", what="the owner's trace")
    via = wait_for(browser, "li[data-testid=cycle][data-via-owner=true]", what="a cycle back to the same owner")
    assert via.get_attribute("data-accounts") == f"{at_bank} {B} {at_wallet}", via.get_attribute("data-accounts")
    browser.screenshot("10-owner-cycle")
    # The owner's history merges both accounts: the leg out of bank-a to B
    # and B's leg into wallet-b are both the owner's.
    go(browser, f"#/account/{at_bank}")
    whose = wait_for(browser, "select[data-testid=history-whose]", what="the history's owner switch")
    Select(whose).select_by_value("owner")
    def owner_rows():
        rows = d.find_elements(By.CSS_SELECTOR, "tr[data-testid=history-row]")
        return {(r.get_attribute("data-way"), r.get_attribute("data-other"), r.get_attribute("data-own")) for r in rows}
    want = {("out", B, at_bank), ("in", B, at_wallet)}
    deadline = time.monotonic() + ALERT_S
    while not want <= owner_rows():
        assert time.monotonic() < deadline, f"the owner's history lacks {want - owner_rows()}: {owner_rows()}"
        time.sleep(0.2)
    browser.screenshot("10b-owner-history")

    # -- A mandate B grants (pay, to C only, within limits) is listed in B's account view.
    now_ms = net.client.status().timestamp_ms
    grant = hutong.GrantMandate(7, funder.address, hutong.MandateScope(pay=True), ASSET, [C], minor("500.00"), minor("2000.00"),
                                30 * 86_400, now_ms, now_ms + 30 * 86_400_000)
    status = net.client.wait(net.client.send(keys[B], grant), timeout=60)
    assert status.succeeded, f"{B} granting a mandate to {funder.address}: {status}"
    go(browser, f"#/account/{B}")
    mandate = wait_for(browser, "tr[data-testid=mandate][data-mandate='7']", timeout=ALERT_S, what="B's mandate")
    assert mandate.get_attribute("data-grantee") == str(funder.address), mandate.get_attribute("data-grantee")
    assert mandate.get_attribute("data-state") == "in force", mandate.text
    for shown in ("pay", "500.00 CNY", "2,000.00 CNY per 30 d", "0.00 CNY"):
        assert shown in mandate.text, f"{shown!r} not in the mandate's row: {mandate.text}"
    assert mandate.find_element(By.CSS_SELECTOR, "ul .addr").get_attribute("data-value") == C, mandate.text
    browser.screenshot("11-mandates")

    # -- Institution flows: the open settlement cycle (it starts at midnight
    # in the consortium's zone) nets the legs between institutions.
    go(browser, "#/flows?zone=consortium")
    cycle = wait_for(browser, "[data-testid=settlement-cycle][data-closed=false]", what="the open settlement cycle")
    positions = [r.get_attribute("data-position") for r in cycle.find_elements(By.CSS_SELECTOR, f"tr[data-asset={ASSET}]")]
    assert "owes" in positions and "is owed" in positions, f"positions {positions}: {cycle.text}"
    browser.screenshot("12-settlement")

    # -- The audit log's chain, walked and re-hashed in the browser, is intact
    # (it holds the refused sign-in too: a `refused` entry).
    wait_for(browser, "[data-testid=tab-log]").click()
    chain = WebDriverWait(d, CHAIN_S).until(
        lambda drv: (e := drv.find_element(By.CSS_SELECTOR, "[data-testid=chain-status]")).get_attribute("data-chain") not in ("checking",) and e
    )
    assert chain.get_attribute("data-chain") == "intact", chain.text
    assert int(chain.get_attribute("data-checked")) >= 5, chain.text
    wait_for(browser, "tr[data-testid=log-entry]", what="the log's entries")
    bad = d.find_elements(By.CSS_SELECTOR, "tr[data-testid=log-entry][data-ok=false]")
    assert not bad, f"log entries that do not check out: {[b.text for b in bad]}"
    browser.screenshot("13-audit-log")

    # -- Nothing was blocked by the page's Content-Security-Policy.
    violations = d.find_element(By.TAG_NAME, "body").get_attribute("data-csp-violations")
    assert violations == "0", f"{violations} Content-Security-Policy violations (see console.log)"

    # -- Sign-out forgets the key: the sign-in panel is back.
    wait_for(browser, "[data-testid=sign-out]").click()
    wait_for(browser, "[data-testid=key-file]", what="the sign-in panel after sign-out")
    assert not d.find_elements(By.CSS_SELECTOR, "[data-testid=signed-in]")
    browser.screenshot("14-signed-out")
