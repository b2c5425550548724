/** The Hutong TypeScript SDK. See README.md and sdk/SPEC.md. */

export * from './errors.js';
export { toHex, fromHex, bytesOf, concatBytes, equalBytes, utf8, type Bytes, type BytesLike } from './bytes.js';
export { Writer, Reader, BorshError, U64_MAX, U128_MAX } from './borsh.js';
export { tagged, sha256, TAG_TX, TAG_COSIGN, TAG_ADDRESS, TAG_QUOTE, TAG_MANDATE_READ } from './crypto.js';
export { addressOf, addressBytesOf, encodeAddress, decodeAddress, isAddress, ADDRESS_HRP, type AddressLike } from './address.js';
export { Keypair, parseKeyFile, formatKeyFile, readKeyFile, writeKeyFile, KeyFileError, KEY_FILE_KIND } from './keys.js';
export { parseAmount, formatAmount, toAmount, checkAssetCode, encodeAssetCode, decodeAssetCode } from './amount.js';
export {
  identityCommitment,
  normaliseIdType,
  normaliseIdNumber,
  newIdentitySalt,
  TAG_IDENTITY,
  ID_TYPE_MAX,
  ID_NUMBER_MAX,
  IDENTITY_SALT_BYTES,
} from './identity.js';
export * from './oprf.js';
export * from './hpke.js';
export * from './privacy.js';
export * from './signed.js';
export * from './tx.js';
export * from './views.js';
export * from './client.js';
