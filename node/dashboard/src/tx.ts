/**
 * Transactions the regulator signs in the browser (a freeze, an
 * unfreeze): built with the SDK as its client builds them, submitted, and
 * followed until final.
 *
 * As the SDK's `HutongClient.prepare` does: the chain id from
 * `hutong_status`, the sequence `max(sequence, next_sequence)` of the
 * sender's account (`next_sequence` counts this node's pending
 * transactions of it), and an expiry of 5 minutes of block time past the
 * node's last block.
 */

import type { StatusView } from './api';
import { call } from './rpc';
import { isFinal, signTransaction, toAccount, toTxStatus, type Transaction, type TxKind, type TxStatus } from './sdk';
import type { AuditSession } from './rpc';

/** The SDK's default: 5 minutes of block time past the last block. */
const EXPIRY_MS = 5n * 60n * 1000n;
const POLL_INTERVAL_MS = 500;
const WAIT_MAX_MS = 60_000;

export type TxProgress = { phase: 'preparing' } | { phase: 'submitting'; hash: string } | { phase: 'waiting'; hash: string };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Signs `kind` with the session's regulator key, submits it and polls
 * `hutong_getTransaction` until it is final (committed, rejected or
 * dropped). A refusal at admission throws the SDK's RejectedError.
 */
export async function sendAsRegulator(session: AuditSession, kind: TxKind, onProgress: (p: TxProgress) => void): Promise<TxStatus> {
  onProgress({ phase: 'preparing' });
  const key = session.keypair();
  const [status, rawAccount] = await Promise.all([call<StatusView>('hutong_status'), call<Record<string, unknown>>('hutong_getAccount', [key.address])]);
  const account = toAccount(rawAccount);
  const tx: Transaction = {
    chainId: status.chain_id,
    sender: key.publicKey,
    sequence: account.nextSequence > account.sequence ? account.nextSequence : account.sequence,
    expiry: { timeMs: BigInt(status.timestamp_ms) + EXPIRY_MS },
    kind,
    cosigner: null,
    memo: new Uint8Array(),
  };
  const signed = signTransaction(tx, key);
  const hash = signed.hash;
  onProgress({ phase: 'submitting', hash });
  const verdict = await call<Record<string, unknown>>('hutong_submitTransaction', [signed.toHex()]);
  // The exact bytes already committed (a retry) answer their final status.
  if (verdict['status'] === 'committed') return toTxStatus(verdict);
  onProgress({ phase: 'waiting', hash });
  const deadline = Date.now() + WAIT_MAX_MS;
  for (;;) {
    const st = toTxStatus(await call<Record<string, unknown>>('hutong_getTransaction', [hash]));
    if (isFinal(st)) return st;
    if (Date.now() + POLL_INTERVAL_MS > deadline) {
      throw new Error(`transaction ${hash} is still ${st.status} after ${WAIT_MAX_MS / 1000} s; look it up later by its hash`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}
