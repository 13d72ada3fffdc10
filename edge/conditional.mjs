// Conditional GETs (RFC 9110 §13): whether a client's If-None-Match or If-Modified-Since is
// answered by the response it would get, so the edge (and the demo origin) can send
// 304 Not Modified without a body. Edge-runtime safe: no Node APIs.

const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

// An entity tag without its weakness: If-None-Match compares weakly (§13.1.2).
const opaque = (tag) => (tag.startsWith('W/') ? tag.slice(2) : tag);

/**
 * The ETag of an answer whose origin sent the field more than once: its first value, as the
 * cache module counts it (RFC 9111 §4.2.1; first_value in modules/cache/src/freshness.cpp).
 * fetch() joins the lines with ', ', so the first entity tag ends at its closing quote (a
 * comma inside it splits nothing); a first member that is no entity tag ends at a comma.
 */
export function firstEntityTag(value) {
  const rest = value.replace(/^[ \t,]+/, '');
  const tag = /^(?:W\/)?"[^"]*"(?=[ \t]*(?:,|$))/.exec(rest);
  return tag ? tag[0] : rest.split(',')[0].trim();
}

/**
 * The Last-Modified of an answer whose origin sent the field more than once: its first value,
 * as the cache module counts it (first_value). An HTTP-date may hold a comma after its day
 * name ('Wed, 26 Nov 2025 10:00:00 GMT', RFC 850's 'Wednesday, 26-Nov-25 ...'), so the first
 * member runs to the comma after that one.
 */
export function firstHttpDate(value) {
  const rest = value.replace(/^[ \t,]+/, '');
  return /^(?:[A-Za-z]+,[^,]*|[^,]*)/.exec(rest)[0].trim();
}

/**
 * Whether the request's preconditions say the client already holds this response.
 * requestHeaders: a Headers (or anything with get(name)); etag, lastModified: the response's
 * validators (undefined when it has none; an ETag given more than once counts its first
 * value, firstEntityTag). If-None-Match decides when present ("*" matches any response);
 * If-Modified-Since counts only without it (§13.2.2).
 */
export function notModified(requestHeaders, { etag, lastModified }) {
  const noneMatch = requestHeaders.get('if-none-match');
  if (noneMatch !== null) {
    if (noneMatch.trim() === '*') return true;
    if (etag === undefined) return false;
    const held = opaque(firstEntityTag(etag));
    return (noneMatch.match(ENTITY_TAG) ?? []).some((tag) => opaque(tag) === held);
  }
  const since = Date.parse(requestHeaders.get('if-modified-since') ?? '');
  const modified = Date.parse(lastModified ?? '');
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}
