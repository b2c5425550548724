// An account's mandates as the account view lists them: the node's
// answer parsed (by id, none when absent), limits in the asset's decimal
// units with the period's length, the scope and whether it is in force.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mandateRow, mandatesOf, mandateState, scopeText } from '../src/mandates';

const GRANTEE = 'ht1qgrantee0000000000000000000000000000000000000000000000000';
const PAYEE = 'ht1qpayee00000000000000000000000000000000000000000000000000000';
const START = Date.UTC(2026, 11, 1);
const END = Date.UTC(2027, 0, 1);

function mandate(id: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mandate_id: id, grantee: GRANTEE, scope: { pay: true, read: true }, asset: 'CNY', payees: [],
    per_payment: '50000', per_period: '200000', period_seconds: 2_592_000, start_ms: START, end_ms: END,
    spent_in_period: '0', active: true, ...fields,
  };
}

test("a node's answer: the mandates by id; none when it lists none", () => {
  const list = mandatesOf({ account: 'ht1x', mandates: [mandate(7), mandate(3, { payees: [PAYEE] })], height: 42 });
  assert.deepEqual(list.map((m) => m.mandateId), [3n, 7n]);
  assert.deepEqual(list[0]!.payees, [PAYEE]);
  assert.equal(list[0]!.perPeriod, 200_000n);
  assert.deepEqual(mandatesOf({ account: 'ht1x', mandates: [], height: 42 }), []);
  assert.deepEqual(mandatesOf({ account: 'ht1x', height: 42 }), []);
  assert.deepEqual(mandatesOf(null), []);
});

test('a row: amounts in the decimal units of the asset, the period as a length', () => {
  const [m] = mandatesOf({ mandates: [mandate(3, { spent_in_period: '123456789', payees: [PAYEE] })] });
  const r = mandateRow(m!, 2, START + 1000);
  assert.deepEqual(r, {
    id: '3',
    grantee: GRANTEE,
    scope: 'pay, read',
    asset: 'CNY',
    perPayment: '500.00 CNY',
    perPeriod: '2,000.00 CNY per 30 d',
    spentInPeriod: '1,234,567.89 CNY',
    payees: [PAYEE],
    startMs: START,
    endMs: END,
    state: 'in force',
  });
  const [longer] = mandatesOf({ mandates: [mandate(4, { period_seconds: 90_000, per_period: '5' })] });
  assert.equal(mandateRow(longer!, 0, START).perPeriod, '5 CNY per 1 d 1 h');
  assert.equal(mandateRow(longer!, 3, START).perPeriod, '0.005 CNY per 1 d 1 h');
});

test('the scope in words', () => {
  assert.equal(scopeText({ pay: true, read: true }), 'pay, read');
  assert.equal(scopeText({ pay: true, read: false }), 'pay');
  assert.equal(scopeText({ pay: false, read: true }), 'read');
  assert.equal(scopeText({ pay: false, read: false }), '—');
  const [m] = mandatesOf({ mandates: [mandate(1, { scope: { read: true } })] });
  assert.equal(mandateRow(m!, 2, START).scope, 'read');
});

test('in force as the node says; otherwise not yet started, or ended', () => {
  assert.equal(mandateState({ active: true, startMs: START }, START - 1), 'in force');
  assert.equal(mandateState({ active: false, startMs: START }, START - 1), 'not yet in force');
  assert.equal(mandateState({ active: false, startMs: START }, END + 1), 'ended');
  const [m] = mandatesOf({ mandates: [mandate(1, { active: false })] });
  assert.equal(mandateRow(m!, 2, END + 1).state, 'ended');
});
