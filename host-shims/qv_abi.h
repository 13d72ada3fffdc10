/* qv_abi.h — the one contract between Quantum Voice Edge modules and their hosts.
 *
 * Everything that crosses the WebAssembly boundary is declared here, with C types only.
 * The JavaScript shim (host-shims/js) and the native shim (host-shims/native) implement
 * the host side of this contract; modules/core implements the module side.
 *
 * Model: sans-IO. A module never performs I/O and never blocks. A call either finishes
 * at once (QV_OK, answer in qv_call_output) or stops with a batch of operations for the
 * host to perform (QV_PENDING: KV get/set/incr/del/compare-and-set, HTTP fetch). The host
 * performs them in any order, reports each result with qv_call_complete_op, and resumes
 * the call with qv_call_resume; the call then finishes or asks for another batch. Many
 * calls may be in flight on one instance at once; each is an integer handle, and their
 * operations may complete in any interleaving.
 *
 * Encoding: method names are ASCII ("tiers.evaluate"); call inputs and answers are UTF-8
 * JSON, except that an answer holds the bytes of what an origin sent as they came (a header
 * value, see QV_OP_FETCH), UTF-8 or not. On error the output is a JSON object
 * {"error": CODE, "message": TEXT} where TEXT names the field and the problem.
 *
 * Memory ownership:
 *  - Buffers the host passes in (method, input, op results) are owned by the host and
 *    only read during the call that receives them; the module copies what it keeps. In
 *    WebAssembly the host puts them in module memory with qv_alloc and releases them with
 *    qv_free after the call returns.
 *  - Buffers the module hands out (qv_call_output, the ops of qv_call_ops and everything
 *    they point to) are owned by the module and stay valid until the next qv_call_resume
 *    or qv_call_free on the same call handle. The host copies what it keeps.
 *
 * Versioning: a host must call qv_abi_version() first (after _initialize, see
 * QV_BUNDLE_EXPORTS) and refuse the module when it differs from the QV_ABI_VERSION it was
 * built for.
 */
#ifndef QV_ABI_H
#define QV_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QV_ABI_VERSION 2u

/* The largest call input a module takes: qv_call_start answers QV_TOO_LARGE above it. A
 * host may refuse a larger input before copying it into module memory, which never
 * shrinks. */
#define QV_MAX_INPUT_BYTES (1u << 20)

/* The longest method name there is: qv_call_start answers QV_INVALID_INPUT above it, showing
 * only the name's first bytes. A host may refuse a longer one before copying it. */
#define QV_MAX_METHOD_BYTES 64u

#if defined(__wasm__)
#define QV_EXPORT(name) __attribute__((export_name(#name), visibility("default")))
#define QV_IMPORT(name) __attribute__((import_module("qv_host"), import_name(#name)))
#else
#define QV_EXPORT(name)
#define QV_IMPORT(name)
#endif

/* ---- Status ------------------------------------------------------------------------
 * One enum for every call and every operation result. */
typedef enum qv_status {
  QV_OK = 0,            /* call finished, answer ready; or: operation succeeded */
  QV_PENDING = 1,       /* call waits for the operations listed by qv_call_ops */
  QV_INVALID_INPUT = 2, /* the caller's input is wrong; the output says which field */
  QV_NOT_FOUND = 3,     /* unknown method, tier, key (a kv.get miss is QV_NOT_FOUND) */
  QV_BAD_HANDLE = 4,    /* no such call handle */
  QV_BAD_STATE = 5,     /* e.g. resume while an operation still has no result */
  QV_UNAVAILABLE = 6,   /* a dependency (KV, origin) failed */
  QV_TIMEOUT = 7,       /* a dependency did not answer in time */
  QV_TOO_LARGE = 8,     /* input above the module's size limit; or an operation's result above
                           the host's limit or, in WebAssembly, too big for the module's memory
                           (qv_alloc answers NULL): the host completes the operation with
                           QV_TOO_LARGE + data = a message naming the size, and the call goes
                           on as for any failed operation */
  QV_INTERNAL = 9       /* a bug in the module; the output describes it */
} qv_status;

/* ---- Operations the module asks the host to perform -------------------------------- */
typedef enum qv_op_kind {
  QV_OP_KV_GET = 1,  /* key. Result: QV_OK + data = value, or QV_NOT_FOUND */
  QV_OP_KV_SET = 2,  /* key, value, duration_ms = TTL (0: none). Result: QV_OK */
  QV_OP_KV_INCR = 3, /* key, delta, duration_ms = TTL set when the key is created (0: none).
                        Result: QV_OK + number = value after the increment */
  QV_OP_KV_DEL = 4,  /* key. Result: QV_OK + number = keys removed (0 or 1) */
  QV_OP_FETCH = 5,   /* key = URL, meta = "METHOD\n" then "name: value\n" per header,
                        value = body, duration_ms = timeout. Result: QV_OK + number = HTTP
                        status, data = body, meta = "name: value\n" per response header
                        (names lower-case). Header values are bytes, both ways: the
                        module's go out as they are and the origin's come back as they were
                        sent, UTF-8 or not, never re-encoded; QV_TIMEOUT or QV_UNAVAILABLE +
                        data = message; QV_TOO_LARGE + data = message when the body is above
                        the host's limit (not read) */
  QV_OP_KV_CAS = 6,  /* compare-and-set, atomic: key, value = the new value, duration_ms = its
                        TTL (0: none); delta = 1: set only if the key is absent; delta = 0:
                        set only if the key holds exactly meta. Result: QV_OK + number = 1
                        (set), 0 (not set; data = the current value) or -1 (not set; the key
                        is absent) */
  QV_OP_SLEEP = 7,   /* duration_ms: complete after that long, e.g. a back-off before a retry
                        of a contended compare-and-set. Result: QV_OK */
  QV_OP_WAIT = 8     /* the call waits for another call on this instance (e.g. one origin
                        fetch shared by many cache misses). The module completes it itself
                        (result QV_OK) and reports the call through qv_woken_calls; the host
                        performs nothing. duration_ms = timeout (0: none): once that long
                        has passed since the host read the op, a host that has not seen the
                        call woken completes the wait with QV_TIMEOUT (+ data = message), as
                        it does a fetch that times out. The call then no longer waits: the
                        call it waited for never wakes it. A timeout that races a wake finds
                        the wait completed (QV_BAD_STATE): the wake stands. A host may also
                        never end a wait, as before timeouts were given: the call then waits
                        for the other call however long it takes */
} qv_op_kind;

/* One operation. Pointers refer to module memory. In wasm32 the layout is fixed:
 * kind@0 duration_ms@4 delta@8 key@16 key_len@20 value@24 value_len@28 meta@32
 * meta_len@36, size 40. */
typedef struct qv_op {
  uint32_t kind;        /* a qv_op_kind */
  uint32_t duration_ms; /* TTL for kv.set / kv.incr, timeout for fetch and wait */
  int64_t delta;        /* kv.incr amount */
  const uint8_t* key;
  uint32_t key_len;
  const uint8_t* value;
  uint32_t value_len;
  const uint8_t* meta;
  uint32_t meta_len;
} qv_op;

/* ---- Exports: implemented by the module -------------------------------------------- */

/* Besides the functions below, every WebAssembly bundle exports its linear memory, where the
 * pointers of this header point, and _initialize (both flavours are WASI reactors): a host
 * calls _initialize once, before any other export (it runs the C and C++ runtimes'
 * constructors), as WASI's reactor convention has it. A test checks every .wasm in dist/
 * for them. */
#define QV_BUNDLE_EXPORTS "memory", "_initialize"

/* Returns QV_ABI_VERSION of the module. */
QV_EXPORT(qv_abi_version) uint32_t qv_abi_version(void);

/* Returns a buffer of len bytes in module memory for the host to fill, or NULL when out
 * of memory (the memory at its limit). Release it with qv_free. NULL for an operation's
 * result fails that operation (QV_TOO_LARGE), not the instance. */
QV_EXPORT(qv_alloc) void* qv_alloc(uint32_t len);

/* Releases a buffer returned by qv_alloc. Returns nothing. */
QV_EXPORT(qv_free) void qv_free(void* ptr);

/* Starts method with a JSON input and runs it until it finishes or needs operations.
 * Writes a new call handle to *out_call whatever the status (an unknown method or bad
 * input too), so the host always reads qv_call_output and then calls qv_call_free. A
 * module that runs out of memory traps (modules are built without exceptions): the host
 * fails every call in flight and discards the instance.
 * Returns: QV_OK (answer ready), QV_PENDING (read qv_call_ops), or an error status with
 * the message in qv_call_output. */
QV_EXPORT(qv_call_start)
qv_status qv_call_start(const char* method, uint32_t method_len, const uint8_t* input,
                        uint32_t input_len, uint32_t* out_call);

/* Writes the call's pending operations to *out_ops / *out_count.
 * Returns: QV_OK, QV_BAD_HANDLE, QV_BAD_STATE (the call is not pending). */
QV_EXPORT(qv_call_ops)
qv_status qv_call_ops(uint32_t call, const qv_op** out_ops, uint32_t* out_count);

/* Reports the result of pending operation op_index of the call (see qv_op_kind for what
 * number, data and meta mean per kind). Each operation is completed exactly once.
 * Returns: QV_OK, QV_BAD_HANDLE, QV_BAD_STATE (not pending, index out of range, already
 * completed, or a QV_OP_WAIT the host may not end: with a status other than QV_TIMEOUT, or
 * one with no timeout; a wait the module completed meanwhile is already completed). */
QV_EXPORT(qv_call_complete_op)
qv_status qv_call_complete_op(uint32_t call, uint32_t op_index, qv_status op_status, int64_t number,
                              const uint8_t* data, uint32_t data_len, const uint8_t* meta,
                              uint32_t meta_len);

/* Resumes a call whose operations all have results.
 * Returns: as qv_call_start; QV_BAD_HANDLE; QV_BAD_STATE (an operation lacks a result). */
QV_EXPORT(qv_call_resume) qv_status qv_call_resume(uint32_t call);

/* Writes the finished call's answer (or error object) to *out_ptr / *out_len.
 * Returns: QV_OK, QV_BAD_HANDLE, QV_BAD_STATE (the call is still pending). */
QV_EXPORT(qv_call_output)
qv_status qv_call_output(uint32_t call, const uint8_t** out_ptr, uint32_t* out_len);

/* Ends a call at any point and releases everything it holds; a pending call's operations
 * are abandoned. Returns: QV_OK, QV_BAD_HANDLE. */
QV_EXPORT(qv_call_free) qv_status qv_call_free(uint32_t call);

/* Writes the handles of the calls whose QV_OP_WAIT operations the module completed since
 * the last qv_woken_calls, and forgets them. A host calls it after every qv_call_start,
 * qv_call_resume and qv_call_free (freeing a pending call that others wait for wakes them),
 * and resumes a woken call once its other operations have results too.
 * The array stays valid until the next qv_woken_calls. Returns: QV_OK. */
QV_EXPORT(qv_woken_calls) qv_status qv_woken_calls(const uint32_t** out_calls, uint32_t* out_count);

/* ---- Exports: the cache's L1, for values the host keeps --------------------------
 * The cache module's L1 lives in the instance's memory and never needs the host, so a
 * host may use it synchronously, without a call handle or JSON, for values it keeps
 * itself (and for the L1 benchmark). The host keeps the value and a 64-bit hash of its
 * key; the module keeps, per value, that hash, a size counted against the L1's byte
 * bound and an expiry, in the same store, bounds and W-TinyLFU eviction as the responses
 * of the cache.* methods (a space of its own: these never meet those). The module decides
 * what stays and for how long, and lists every value it lets go (qv_l1_released), so a
 * host can keep an exact mirror of the live values; it must compare its keys itself (two
 * keys of one hash share one entry). now_ms is the host's clock as qv_host_now_ms() reads
 * it, passed in so that a host may read its clock once for a burst of lookups. A bundle
 * without the cache module has none of these exports (ABI version 2 added them). */

/* Where a value is registered, and what qv_l1_released would say now (so a host needs no
 * second call after a put). In wasm32: slot@0 version@4 expires_at_ms@8 released@16
 * released_count@20, size 24. */
typedef struct qv_l1_ref {
  uint32_t slot;
  uint32_t version;         /* unique among every value the instance ever registered */
  double expires_at_ms;     /* the value is not served at or after this time */
  const uint32_t* released; /* as qv_l1_released: (slot, version) pairs let go, */
  uint32_t released_count;  /* their count, or UINT32_MAX when the list overflowed */
} qv_l1_ref;

/* Registers (or replaces) the value of the key whose hash is hash_hi:hash_lo, of `size`
 * bytes, fresh until now_ms + ttl_ms (ttl_ms 0: the L1 TTL of the cache's configuration).
 * First counts the access_count accesses at `accesses` ((slot, version) pairs, in order, as
 * qv_l1_touch_batch does): a host that serves hits from its own copies buffers them and
 * hands them over with its next put, so eviction decides on every access, as Caffeine
 * replays its buffered reads before it evicts, at one call per miss. Whatever it returns,
 * out->released / released_count list the values let go, as qv_l1_released does.
 * Returns: QV_OK (*out says where), QV_TOO_LARGE (above the L1's entry limit: nothing
 * registered, an older value of the key removed), QV_NOT_FOUND (the eviction policy let
 * it go at once). */
QV_EXPORT(qv_l1_put)
qv_status qv_l1_put(const uint32_t* accesses, uint32_t access_count, uint32_t hash_lo,
                    uint32_t hash_hi, uint32_t size, uint32_t ttl_ms, double now_ms,
                    qv_l1_ref* out);

/* An access of the value at (slot, version). Returns: QV_OK (still that value and fresh;
 * the access counts for eviction), QV_NOT_FOUND (replaced, evicted, removed or expired). */
QV_EXPORT(qv_l1_touch) qv_status qv_l1_touch(uint32_t slot, uint32_t version, double now_ms);

/* Accesses of many values at once, in order, as qv_l1_touch counts them one by one:
 * accesses holds count (slot, version) pairs (for a host whose buffer of accesses filled
 * before its next put). Values found expired are released (qv_l1_released lists them).
 * Returns the number of pairs that were no longer live and fresh. */
QV_EXPORT(qv_l1_touch_batch)
uint32_t qv_l1_touch_batch(const uint32_t* accesses, uint32_t count, double now_ms);

/* The hosted values the module let go (evicted, expired, replaced or removed, by any
 * call) since the last qv_l1_released or qv_l1_put: writes a pointer to (slot, version)
 * pairs and their count to *out_pairs / *out_count, and forgets them. The array stays
 * valid until the next qv_l1_* or qv_call_* call. A host that serves values from its own
 * copies calls it after every qv_l1_touch_batch, qv_l1_remove, qv_call_start and
 * qv_call_resume, and drops those copies. Returns: QV_OK; QV_BAD_STATE when more were let
 * go than the module could list since the last call (the host must then check every copy
 * with qv_l1_alive). */
QV_EXPORT(qv_l1_released)
qv_status qv_l1_released(const uint32_t** out_pairs, uint32_t* out_count);

/* Returns 1 when (slot, version) is still a live, fresh value, else 0; counts nothing. */
QV_EXPORT(qv_l1_alive) uint32_t qv_l1_alive(uint32_t slot, uint32_t version, double now_ms);

/* Removes the value at (slot, version). Returns: QV_OK (removed), QV_NOT_FOUND. */
QV_EXPORT(qv_l1_remove) qv_status qv_l1_remove(uint32_t slot, uint32_t version);

/* ---- Imports: implemented by the host (WebAssembly module "qv_host") --------------- */

/* Returns wall-clock time in milliseconds since the Unix epoch (fractions allowed).
 * Modules read time only through this call, so tests can inject a clock. */
QV_IMPORT(now_ms) double qv_host_now_ms(void);

/* Fills buf with len random bytes. Modules read randomness only through this call. */
QV_IMPORT(random_bytes) void qv_host_random_bytes(uint8_t* buf, uint32_t len);

/* Emits one log line at level 0 debug, 1 info, 2 warn, 3 error. Returns nothing. */
QV_IMPORT(log) void qv_host_log(uint32_t level, const char* msg, uint32_t len);

/* The C and C++ runtimes of the two flavours reach the host through a few WASI calls
 * (stdio of an abort message, exit on abort). Hosts provide them without a file system:
 *   wasi_snapshot_preview1.fd_write(fd, iovs, iovs_len, out_written) -> errno: fd 1 and 2
 *     go to the log, others fail with EBADF (8);
 *   wasi_snapshot_preview1.fd_seek(...) -> ESPIPE (70); fd_close(fd) -> EBADF (8);
 *   wasi_snapshot_preview1.proc_exit(code): the module aborted; the host discards the
 *     instance and fails every call in flight on it.
 * The Emscripten flavour also announces memory growth with
 *   env.emscripten_notify_memory_growth(memory_index), which hosts may ignore. */

/* The complete list of imports a module may declare, as "module.name". A test checks
 * every .wasm in dist/ against it. */
#define QV_ALLOWED_IMPORTS                                                                    \
  "qv_host.now_ms", "qv_host.random_bytes", "qv_host.log", "wasi_snapshot_preview1.fd_write", \
      "wasi_snapshot_preview1.fd_seek", "wasi_snapshot_preview1.fd_close",                    \
      "wasi_snapshot_preview1.proc_exit", "env.emscripten_notify_memory_growth"

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* QV_ABI_H */
