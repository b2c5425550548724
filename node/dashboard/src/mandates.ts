/**
 * An account's open-banking mandates (`hutong_getMandates`) as the
 * account view lists them: what each lets its grantee do (pay from the
 * account, read it), its limits in the asset's decimal units, and whether
 * it is in force. The node lists the mandates in force and those not yet
 * started or not yet removed after their end (a mandate leaves the state
 * by itself after its end); `active` is the node's word at its last block.
 */

import { duration, money } from './format';
import { formatAmount, toMandate, type Mandate } from './sdk';

/** The mandates of a `hutong_getMandates` answer, by id (none when it lists none). */
export function mandatesOf(answer: unknown): Mandate[] {
  const list = answer && typeof answer === 'object' ? (answer as Record<string, unknown>)['mandates'] : undefined;
  if (!Array.isArray(list)) return [];
  return list.map((m) => toMandate(m as Record<string, unknown>)).sort((a, b) => (a.mandateId < b.mandateId ? -1 : a.mandateId > b.mandateId ? 1 : 0));
}

/** "pay, read", "pay", "read" (or "—": neither). */
export function scopeText(scope: Mandate['scope']): string {
  const parts = [scope.pay && 'pay', scope.read && 'read'].filter(Boolean) as string[];
  return parts.length > 0 ? parts.join(', ') : '—';
}

export type MandateState = 'in force' | 'not yet in force' | 'ended';

/** In force (the node says so), else not yet started or ended by `nowMs` (the node's block time). */
export function mandateState(m: Pick<Mandate, 'active' | 'startMs'>, nowMs: number): MandateState {
  if (m.active) return 'in force';
  return nowMs < m.startMs ? 'not yet in force' : 'ended';
}

/** One mandate as a row of the account view's table: amounts as "1,234.50 CNY". */
export interface MandateRow {
  id: string;
  grantee: string;
  scope: string;
  asset: string;
  perPayment: string;
  /** "2,000.00 CNY per 30 d". */
  perPeriod: string;
  spentInPeriod: string;
  /** Empty: any payee. */
  payees: string[];
  startMs: number;
  endMs: number;
  state: MandateState;
}

export function mandateRow(m: Mandate, decimals: number, nowMs: number): MandateRow {
  const show = (minor: bigint) => money(formatAmount(minor, decimals), m.asset);
  return {
    id: m.mandateId.toString(),
    grantee: m.grantee,
    scope: scopeText(m.scope),
    asset: m.asset,
    perPayment: show(m.perPayment),
    perPeriod: `${show(m.perPeriod)} per ${duration(m.periodSeconds)}`,
    spentInPeriod: show(m.spentInPeriod),
    payees: m.payees,
    startMs: m.startMs,
    endMs: m.endMs,
    state: mandateState(m, nowMs),
  };
}
