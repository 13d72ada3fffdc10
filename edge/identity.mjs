// Identity at the edge: an API key (x-api-key, or Authorization: Bearer) maps to an
// organisation and its tier through config. Config holds only SHA-256 digests of keys; a
// presented key is hashed and its digest looked up in a Map, one lookup however many keys
// the config lists. Neither the config nor the lookup's timing gives a key away: at most the
// timing could tell how much of a stored digest a presented key's digest shares, and a
// digest does not lead back to its key (keys are random tokens; SHA-256 has no known
// preimage attack). Keys are never logged.

const HEX64 = /^[0-9a-f]{64}$/;
const ID = /^[A-Za-z0-9._-]{1,128}$/;
const KEY_FIELDS = ['sha256', 'organizationId', 'tier', 'name', 'operator'];

/** Throws an Error naming the first field of an edge config object that is not one of known. */
export function knownFields(object, known, where) {
  const unknown = Object.keys(object).find((field) => !known.includes(field));
  if (unknown !== undefined) throw new Error(`${where}.${unknown}: unknown field (expected one of: ${known.join(', ')})`);
}

/**
 * Validates the apiKeys section of the edge config: [{sha256, organizationId, tier,
 * name?, operator?}]. An operator key may also read what spans organisations (the
 * isolate's cache metrics). Throws an Error naming the field and the problem.
 */
export function parseApiKeys(apiKeys, knownTiers) {
  if (!Array.isArray(apiKeys)) throw new Error('config.apiKeys: expected an array');
  const seen = new Map(); // digest -> index of the entry that gave it
  return apiKeys.map((entry, i) => {
    const where = `config.apiKeys[${i}]`;
    if (entry === null || typeof entry !== 'object') throw new Error(`${where}: expected an object`);
    knownFields(entry, KEY_FIELDS, where);
    if (typeof entry.sha256 !== 'string' || !HEX64.test(entry.sha256)) {
      throw new Error(`${where}.sha256: expected the SHA-256 of the key as 64 lower-case hex digits`);
    }
    // One key stands for one caller: a key listed twice would be served as whichever came last.
    if (seen.has(entry.sha256)) throw new Error(`${where}.sha256: the same key as config.apiKeys[${seen.get(entry.sha256)}] (a key stands for one caller)`);
    seen.set(entry.sha256, i);
    if (typeof entry.organizationId !== 'string' || !ID.test(entry.organizationId)) {
      throw new Error(`${where}.organizationId: 1 to 128 letters, digits, '-', '_' or '.'`);
    }
    if (typeof entry.tier !== 'string' || !knownTiers.includes(entry.tier)) {
      throw new Error(`${where}.tier: unknown tier '${entry.tier}' (known: ${knownTiers.join(', ')})`);
    }
    if (entry.operator !== undefined && typeof entry.operator !== 'boolean') {
      throw new Error(`${where}.operator: expected true or false, got ${JSON.stringify(entry.operator)}`);
    }
    return { sha256: entry.sha256, organizationId: entry.organizationId, tier: entry.tier, operator: entry.operator === true };
  });
}

/** Bytes as lower-case hex digits, two per byte. */
export function bytesToHex(bytes) {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Lower- or upper-case hex digits, two per byte, as bytes. */
export function hexToBytes(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * The key a request presents: {key, header} (header: the one that carried it, 'x-api-key'
 * when both did), {problem} (the header and what is wrong with it), or null when it presents
 * none. x-api-key and Authorization: Bearer may both be sent only with
 * the same key. A header sent twice reaches the edge as one, its copies joined with ", ", so
 * an API key holds no comma and a comma in either header means more than one key.
 */
export function presentedKey(request) {
  const header = request.headers.get('x-api-key');
  const authorization = request.headers.get('authorization');
  if (header !== null && header.includes(',')) return { problem: 'x-api-key: given twice (send one key)' };
  if (header !== null && !header.trim()) return { problem: 'x-api-key: empty' };
  let bearer = null;
  if (authorization !== null) {
    if (!authorization.trim()) return { problem: 'Authorization: empty' };
    if (authorization.includes(',')) return { problem: 'Authorization: more than one credential (send one Bearer key)' };
    const match = /^(\S*)\s*(.*)$/.exec(authorization.trim());
    // (The scheme is not quoted back: a key sent without one would be.)
    if (match[1].toLowerCase() !== 'bearer') return { problem: "Authorization: expected 'Bearer <API key>' (another scheme, or none)" };
    if (!match[2]) return { problem: 'Authorization: Bearer without a key' };
    bearer = match[2];
  }
  if (header !== null && bearer !== null && header.trim() !== bearer) {
    return { problem: 'x-api-key and Authorization: Bearer carry different keys (send one)' };
  }
  if (header !== null) return { key: header.trim(), header: 'x-api-key' };
  return bearer === null ? null : { key: bearer, header: 'Authorization' };
}

/** SHA-256 of a key, through Web Crypto (present in every edge runtime). */
export async function digestKey(key) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
}

/** parseApiKeys' entries by their digest, as identify looks them up. */
export function indexApiKeys(entries) {
  return new Map(entries.map((entry) => [entry.sha256, entry]));
}

/** The entry (of indexApiKeys' index) whose digest is the key's, or null. */
export async function identify(index, key) {
  return index.get(bytesToHex(await digestKey(key))) ?? null;
}
