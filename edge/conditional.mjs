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

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(?<month>${MONTHS.join('|')})`;
const TIME = '(?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})';
const DAY_NAME = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const HTTP_DATE_FORMS = [
  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  new RegExp(`^${DAY_NAME}, (?<day>\\d{2}) ${MONTH} (?<year>\\d{4}) ${TIME} GMT$`),
  // RFC 850 (obsolete): Sunday, 06-Nov-94 08:49:37 GMT
  new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (?<day>\\d{2})-${MONTH}-(?<yy>\\d{2}) ${TIME} GMT$`),
  // asctime (obsolete): Sun Nov  6 08:49:37 1994
  new RegExp(`^${DAY_NAME} ${MONTH} (?<day> \\d|\\d{2}) ${TIME} (?<year>\\d{4})$`),
];

/**
 * An HTTP-date (RFC 9110 §5.6.7) in milliseconds since the epoch, NaN when the text is none.
 * All three forms are GMT, the asctime one too, which has no zone of its own (Date.parse
 * reads that one in the host's local time). Read as the cache module reads them
 * (parse_http_date in modules/cache/src/freshness.cpp): a two-digit year is 1970-2069, a
 * leap second counts as :59, a day the month does not have is no date.
 */
export function parseHttpDate(text) {
  const value = text.replace(/^[ \t]+|[ \t]+$/g, '');
  const parts = HTTP_DATE_FORMS.map((form) => form.exec(value)).find(Boolean)?.groups;
  if (!parts) return NaN;
  const [day, hour, minute, second] = [parts.day, parts.hour, parts.minute, parts.second].map(Number);
  const month = MONTHS.indexOf(parts.month);
  const year = parts.yy === undefined ? Number(parts.year) : Number(parts.yy) + (Number(parts.yy) < 70 ? 2000 : 1900);
  if (year < 1 || hour > 23 || minute > 59 || second > 60) return NaN;
  // setUTCFullYear, not Date.UTC: that one takes a year below 100 for 19xx.
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  if (date.getUTCDate() !== day) return NaN;  // 31 Apr rolls over to 1 May
  return date.getTime() + ((hour * 60 + minute) * 60 + Math.min(second, 59)) * 1000;
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
  // An If-Modified-Since that is no HTTP-date (or lists more than one) is ignored (§13.1.3):
  // the full answer goes.
  const since = parseHttpDate(requestHeaders.get('if-modified-since') ?? '');
  const modified = parseHttpDate(lastModified ?? '');
  return Number.isFinite(since) && Number.isFinite(modified) && modified <= since;
}
