// The settlement cycles of a flows answer: absent from older nodes,
// newest first, each institution's paid, received and net position per
// asset in the asset's decimal units (a negative net: it owes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CycleSettlement, Flows, SettlementPosition } from '../src/api';
import { cyclePositions, settlementOf } from '../src/settlement';

const DAY = 86_400_000;

function flows(settlement?: CycleSettlement[]): Flows {
  const f: Flows = { from_ms: 0, to_ms: DAY, truncated: false, gross: [], net: [] };
  if (settlement) f.settlement = settlement;
  return f;
}

function cycle(n: number, positions: SettlementPosition[], closed = true): CycleSettlement {
  return { cycle: n, start_ms: n * DAY, end_ms: (n + 1) * DAY, closed, positions };
}

function position(institution: string, asset: string, paid: string, received: string): SettlementPosition {
  const net = BigInt(received) - BigInt(paid);
  return { institution, asset, paid, received, net: String(net), net_display: '' };
}

const DECIMALS: Record<string, number> = { CNY: 2, USD: 2, JPY: 0 };
const decimalsOf = (asset: string) => DECIMALS[asset];

test('an older node sends no settlement: none shown; an empty list is shown as none', () => {
  assert.equal(settlementOf(flows()), null);
  assert.equal(settlementOf(undefined), null);
  assert.deepEqual(settlementOf(flows([])), []);
});

test('cycles newest first', () => {
  const list = settlementOf(flows([cycle(20430, []), cycle(20431, [], false), cycle(20429, [])]));
  assert.deepEqual(list!.map((c) => [c.cycle, c.closed]), [[20431, false], [20430, true], [20429, true]]);
});

test('positions by asset, then members in genesis order, then others by name; net signed', () => {
  const c = cycle(20431, [
    position('wallet-b', 'CNY', '0', '10000'),
    position('zeta', 'CNY', '0', '0'),
    position('bank-a', 'USD', '2500', '0'),
    position('bank-a', 'CNY', '10000', '0'),
    position('alpha', 'CNY', '5', '5'),
    position('bank-c', 'JPY', '300', '1000'),
  ]);
  const rows = cyclePositions(c, decimalsOf, ['bank-a', 'wallet-b', 'bank-c']);
  assert.deepEqual(
    rows.map((r) => [r.asset, r.institution, r.paid, r.received, r.net, r.position]),
    [
      ['CNY', 'bank-a', '100.00', '0.00', '-100.00', 'owes'],
      ['CNY', 'wallet-b', '0.00', '100.00', '+100.00', 'is owed'],
      ['CNY', 'alpha', '0.05', '0.05', '0.00', 'even'],
      ['CNY', 'zeta', '0.00', '0.00', '0.00', 'even'],
      ['JPY', 'bank-c', '300', '1000', '+700', 'is owed'],
      ['USD', 'bank-a', '25.00', '0.00', '-25.00', 'owes'],
    ],
  );
});

test("an asset of unknown decimals shows minor units; a value that is not an integer is shown as sent", () => {
  const c = cycle(1, [{ institution: 'bank-a', asset: 'XYZ', paid: '1234567', received: 'n/a', net: '-1234567', net_display: '' }]);
  assert.deepEqual(cyclePositions(c, decimalsOf)[0], { institution: 'bank-a', asset: 'XYZ', paid: '1234567', received: 'n/a', net: '-1234567', position: 'owes' });
  // Amounts beyond 2^53 stay exact.
  const big = cycle(2, [position('bank-a', 'CNY', '0', '340282366920938463463374607431768211455')]);
  assert.equal(cyclePositions(big, decimalsOf)[0]!.net, '+3402823669209384634633746074317682114.55');
});
