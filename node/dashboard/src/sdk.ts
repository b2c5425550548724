/**
 * The parts of the repository's TypeScript SDK (sdk/typescript/src) the
 * dashboard uses, in one place.
 *
 * The SDK is bundled from its source (build.mjs maps `@hutong/sdk/*` to
 * it). Only browser-safe modules are imported: never `index.ts` or
 * `client.ts`, which reach the `ws` package, and the key-file helpers
 * that read files (`readKeyFile`) stay unused; build.mjs refuses to
 * bundle any Node-only module, so a slip here fails the build.
 */

export { Writer } from '@hutong/sdk/borsh.js';
export { toHex, fromHex, utf8, concatBytes } from '@hutong/sdk/bytes.js';
export { tagged, sha256 } from '@hutong/sdk/crypto.js';
export { addressOf, isAddress, decodeAddress } from '@hutong/sdk/address.js';
export { formatAmount, parseAmount } from '@hutong/sdk/amount.js';
export { Keypair, parseKeyFile, KeyFileError } from '@hutong/sdk/keys.js';
export { signTransaction, FREEZE_REASONS, type FreezeReason, type Transaction, type TxKind } from '@hutong/sdk/tx.js';
export { toAccount, toMandate, toTxStatus, isFinal, type Account, type Mandate, type TxStatus, type Receipt } from '@hutong/sdk/views.js';
export { HutongError, RpcError, RejectedError, TransportError, ValidationError, RpcCode } from '@hutong/sdk/errors.js';
