/*
 * minyi plugin ABI v1 — the only interface between minyid and a plugin shared object.
 *
 * Rules (see docs/plugin-guide.md):
 *  - A plugin exports exactly one symbol, MINYI_PLUGIN_ENTRY_SYMBOL, returning a
 *    descriptor. Everything else in the .so should be hidden.
 *  - Only C types cross the boundary. Views (minyi_str_t) passed *into* a callback are
 *    borrowed and valid only for the duration of that call.
 *  - Structs begin with their version/size and only grow at the end. The host accepts a
 *    smaller struct_size from an older plugin and zero-fills the missing tail.
 *  - Callbacks never throw (the C++ layer in plugin.hpp catches for you).
 */
#ifndef MINYI_PLUGIN_H
#define MINYI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MINYI_ABI_MAJOR 1
#define MINYI_ABI_MINOR 1
#define MINYI_PLUGIN_ENTRY_SYMBOL "minyi_plugin_entry"

#if defined(__GNUC__)
#define MINYI_EXPORT __attribute__((visibility("default")))
#else
#define MINYI_EXPORT
#endif

/* A byte view. OWNERSHIP: borrowed; whoever created it keeps it alive for the call. */
typedef struct minyi_str_t {
  const char* data;
  size_t size;
} minyi_str_t;

/* Opaque handle the host gives each plugin instance. OWNERSHIP: host. */
typedef struct minyi_host_t minyi_host_t;
/* Opaque HTTP response under construction. OWNERSHIP: host; valid during on_http, or until
 * http_finish after http_defer. */
typedef struct minyi_http_response_t minyi_http_response_t;

typedef enum minyi_log_level_t {
  MINYI_LOG_TRACE = 0,
  MINYI_LOG_DEBUG = 1,
  MINYI_LOG_INFO = 2,
  MINYI_LOG_WARN = 3,
  MINYI_LOG_ERROR = 4
} minyi_log_level_t;

typedef enum minyi_plugin_kind_t {
  MINYI_KIND_SOURCE = 1, /* a channel: HTTP routes and/or a poll callback */
  MINYI_KIND_SINK = 2    /* a downstream: receives batches of events */
} minyi_plugin_kind_t;

/* Types a plugin can declare for its configuration keys. */
typedef enum minyi_config_type_t {
  MINYI_CFG_STRING = 1,
  MINYI_CFG_INT = 2, /* 64-bit signed */
  MINYI_CFG_BOOL = 3,
  MINYI_CFG_DOUBLE = 4,
  MINYI_CFG_DURATION = 5, /* "250ms", "30s", "5m", "2h", "30d" -> milliseconds (int) */
  MINYI_CFG_SIZE = 6,     /* "512", "64KiB", "10MB", "1GiB" -> bytes (int) */
  MINYI_CFG_STRING_LIST = 7,
  MINYI_CFG_STRING_MAP = 8 /* mapping of string keys to scalar values */
} minyi_config_type_t;

/* One declared configuration key. OWNERSHIP: static storage in the plugin. */
typedef struct minyi_config_entry_t {
  const char* key;
  minyi_config_type_t type;
  const char* default_value; /* textual default in YAML syntax, or NULL for none */
  int32_t required;          /* non-zero: the key must be present */
  const char* description;
  const char* choices; /* strings only: allowed values separated by '|', or NULL for any */
} minyi_config_entry_t;

/* ---- source kind ---- */

typedef struct minyi_http_header_t {
  minyi_str_t name;
  minyi_str_t value;
} minyi_http_header_t;

/* An HTTP request routed to a channel. OWNERSHIP: host; borrowed for the call. */
typedef struct minyi_http_request_t {
  uint32_t struct_size;
  minyi_str_t method;
  minyi_str_t target; /* path and query as sent */
  minyi_str_t path;   /* path only */
  minyi_str_t query;  /* query string without '?' */
  const minyi_http_header_t* headers;
  size_t header_count;
  minyi_str_t body;
  minyi_str_t remote_addr;
} minyi_http_request_t;

/* What a plugin hands to submit(). OWNERSHIP: plugin; borrowed by the host for the call. */
typedef struct minyi_submission_t {
  uint32_t struct_size;
  minyi_str_t draft_json;       /* a minyi draft.v1 JSON document */
  minyi_str_t raw;              /* the bytes as received from the channel */
  minyi_str_t raw_content_type; /* e.g. "application/json" */
  minyi_str_t checkpoint_key;   /* optional: committed in the same transaction */
  minyi_str_t checkpoint_value;
  minyi_str_t charset;   /* charset the text was decoded from (empty: utf-8) */
  uint32_t replacements; /* undecodable sequences replaced by U+FFFD while decoding */
} minyi_submission_t;

typedef enum minyi_submit_status_t {
  MINYI_SUBMIT_ACCEPTED = 0, /* durable; id is the new suggestion id */
  MINYI_SUBMIT_REPLAY = 1,   /* (instance, external_id) already known; id is the original */
  MINYI_SUBMIT_REJECTED = 2, /* invalid draft; reason/field say why; raw bytes quarantined */
  MINYI_SUBMIT_BUSY = 3      /* backpressure or shutdown: retry later */
} minyi_submit_status_t;

/* Result of submit(). OWNERSHIP: plugin-allocated; the host fills it in. */
typedef struct minyi_submit_result_t {
  int32_t status; /* minyi_submit_status_t */
  char id[40];    /* NUL-terminated UUID */
  char code[48];  /* machine-readable error code when rejected */
  char field[128];
  char reason[512];
} minyi_submit_result_t;

/* Completion of submit_async. OWNERSHIP: result is host-owned, valid during the call. */
typedef void (*minyi_submit_done_fn)(void* ctx, const minyi_submit_result_t* result);

/* Descriptor flags. */
#define MINYI_FLAG_HTTP_NONBLOCKING                       \
  0x1u /* on_http never blocks: the host may call it on a \
          network thread; it must use submit_async */

/* ---- sink kind ---- */

/* One event of the log. OWNERSHIP: host; borrowed for the on_deliver call. */
typedef struct minyi_event_t {
  uint32_t struct_size;
  int64_t seq;         /* position in the events log, strictly increasing */
  minyi_str_t id;      /* stable event id (UUIDv7): use it as the idempotency key */
  minyi_str_t type;    /* e.g. "suggestion.created" */
  minyi_str_t subject; /* the suggestion id */
  minyi_str_t time;    /* RFC 3339 with offset */
  minyi_str_t data;    /* JSON document (a minyi.suggestion/1 for suggestion.* events) */
} minyi_event_t;

typedef enum minyi_delivery_status_t {
  MINYI_DELIVERY_OK = 0,
  MINYI_DELIVERY_RETRY = 1, /* transient: the host backs off and retries this event */
  MINYI_DELIVERY_REJECT = 2 /* permanent: the host moves the event to dead letters */
} minyi_delivery_status_t;

/* Per-event answer of on_deliver. OWNERSHIP: host-allocated array, plugin fills it. */
typedef struct minyi_delivery_result_t {
  int32_t status;         /* minyi_delivery_status_t; the host pre-sets RETRY */
  int64_t retry_after_ms; /* >0: do not retry earlier than this */
  char reason[512];       /* NUL-terminated, for logs and dead letters */
} minyi_delivery_result_t;

/* A complete file in a spool folder (ABI 1.1). OWNERSHIP: plugin-allocated; host fills it. */
typedef struct minyi_spool_file_t {
  uint32_t struct_size; /* set by the plugin: sizeof(minyi_spool_file_t) */
  char path[4096];      /* absolute path, NUL-terminated */
  char name[256];       /* file name */
  char sha256[65];      /* lowercase hex SHA-256 of the content: the file's identity */
  uint64_t size;        /* bytes */
} minyi_spool_file_t;

/* Services the host offers. OWNERSHIP: host; valid for the instance's lifetime.
 * All functions are thread-safe. Return codes: 0 = ok, negative = error. */
typedef struct minyi_host_api_t {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;

  void (*log)(minyi_host_t* host, minyi_log_level_t level, minyi_str_t message);

  /* Blocks until the submission is durable (or rejected/busy). */
  int32_t (*submit)(minyi_host_t* host, const minyi_submission_t* submission, minyi_submit_result_t* result);
  /* Stores input that could not be turned into a draft, with a reason. */
  int32_t (*quarantine)(minyi_host_t* host, minyi_str_t raw, minyi_str_t content_type, minyi_str_t reason);

  /* Copies the checkpoint into buf (up to cap bytes) and stores its full size in *size.
   * Returns 0 if found, 1 if absent. Call again with a larger buffer if *size > cap. */
  int32_t (*checkpoint_get)(minyi_host_t* host, minyi_str_t key, char* buf, size_t cap, size_t* size);
  /* Durable when it returns. An empty value deletes the checkpoint (also when it comes
   * with a submission). */
  int32_t (*checkpoint_set)(minyi_host_t* host, minyi_str_t key, minyi_str_t value);

  void (*counter_add)(minyi_host_t* host, minyi_str_t name, uint64_t delta);
  /* Wall clock, Unix epoch milliseconds (injectable by tests). */
  int64_t (*clock_now_ms)(minyi_host_t* host);

  /* Validated configuration of this instance. Return 0 if set (or defaulted), 1 if absent.
   * Durations and sizes are returned by config_int in ms / bytes. The string views stay
   * valid for the instance's lifetime. */
  int32_t (*config_string)(minyi_host_t* host, const char* key, minyi_str_t* out);
  int32_t (*config_int)(minyi_host_t* host, const char* key, int64_t* out);
  int32_t (*config_bool)(minyi_host_t* host, const char* key, int32_t* out);
  int32_t (*config_double)(minyi_host_t* host, const char* key, double* out);
  /* Lists and maps: number of items; item i as (key, value). For lists key is empty. */
  size_t (*config_items)(minyi_host_t* host, const char* key);
  int32_t (*config_item)(minyi_host_t* host, const char* key, size_t index, minyi_str_t* item_key,
                         minyi_str_t* item_value);

  /* Sources only, during create: serve `method path` (exact path match). */
  int32_t (*route_add)(minyi_host_t* host, const char* method, const char* path);

  /* During on_http: set the response. Copies its arguments. */
  void (*http_respond)(minyi_http_response_t* response, int32_t status, minyi_str_t content_type, minyi_str_t body);
  void (*http_header)(minyi_http_response_t* response, minyi_str_t name, minyi_str_t value);

  /* Instance name as configured (e.g. "portal"). */
  minyi_str_t (*instance_name)(minyi_host_t* host);

  /* Non-zero once the host is stopping this instance: a long on_deliver should finish the
   * event in hand and answer RETRY for the rest, so shutdown is not held up. */
  int32_t (*stopping)(minyi_host_t* host);

  /* Like submit, but returns at once. The submission is copied before it returns; done(ctx,
   * result) is called exactly once when the outcome is known — possibly before submit_async
   * returns (rejections, busy), otherwise on a host thread after the commit. */
  void (*submit_async)(minyi_host_t* host, const minyi_submission_t* submission, minyi_submit_done_fn done, void* ctx);
  /* During on_http: keep the response open after on_http returns. It must then be completed
   * exactly once with http_respond followed by http_finish, from any thread. */
  void (*http_defer)(minyi_http_response_t* response);
  void (*http_finish)(minyi_http_response_t* response);

  /* Decodes text bytes to UTF-8: a BOM decides, else the declared charset (may be empty),
   * else detection among UTF-8, GB18030/GBK and Big5. Copies up to cap bytes into out and
   * the full size into *size (call again with a larger buffer if *size > cap); writes the
   * charset's name (NUL-terminated) into charset[32] and the number of replaced sequences
   * into *replacements. Returns 0. */
  int32_t (*decode_text)(minyi_host_t* host, minyi_str_t bytes, minyi_str_t declared_charset, char* out, size_t cap,
                         size_t* size, char* charset, uint32_t* replacements);

  /* ---- ABI 1.1 ---- (NULL in a 1.0 host: check struct_size / abi_minor first) */

  /* Calls visit(ctx, key, value) for every checkpoint of this instance whose key starts
   * with prefix, in key order, from the committed state. The views are valid during the
   * call. Returns the number visited, or negative on error. */
  int64_t (*checkpoint_list)(minyi_host_t* host, minyi_str_t prefix,
                             void (*visit)(void* ctx, minyi_str_t key, minyi_str_t value), void* ctx);
  /* This instance's private directory (STATE_DIR/plugins/<instance>), created on first
   * call. Plugins keep files there (fetched attachments, spool bookkeeping). */
  minyi_str_t (*state_dir)(minyi_host_t* host);

  /* A local wall time without offset, as exports and call-centre systems write it
   * ("2024-03-05 14:30:00", "2024/3/5 14:30", "2024年3月5日 14:30", "2024-03-05"), read in
   * the IANA zone (e.g. "Asia/Shanghai") and written into out (NUL-terminated) as RFC 3339
   * with the offset the zone had then. Text that already carries Z or an offset is
   * normalized. Returns 0, or 1 with the reason in out. */
  int32_t (*local_time)(minyi_host_t* host, minyi_str_t text, minyi_str_t zone, char* out, size_t cap);

  /* Spool folders: files other systems drop into dir. spool_next offers the oldest file
   * that is complete — its size and mtime unchanged for settle_ms — among names ending in
   * one of the '|'-separated suffixes (empty = any; hidden, "~$", ".part", ".tmp" files
   * never). Returns 0 with *out filled, 1 when none is ready, negative on error. The same
   * file is offered again until spool_finish moves it: to dir/processed (ok != 0) or
   * dir/failed, never overwriting, with report_json (if not empty) written beside it as
   * "<name>.report.json". spool_finish returns 0, or negative with the reason in err. */
  int32_t (*spool_next)(minyi_host_t* host, minyi_str_t dir, minyi_str_t suffixes, int64_t settle_ms,
                        minyi_spool_file_t* out);
  int32_t (*spool_finish)(minyi_host_t* host, minyi_str_t path, int32_t ok, minyi_str_t report_json, char* err,
                          size_t cap);
} minyi_host_api_t;

/* The descriptor a plugin exports. OWNERSHIP: static storage in the plugin. */
typedef struct minyi_plugin_descriptor_t {
  uint32_t abi_major;   /* MINYI_ABI_MAJOR the plugin was built against */
  uint32_t abi_minor;   /* MINYI_ABI_MINOR the plugin was built against */
  uint32_t struct_size; /* sizeof(minyi_plugin_descriptor_t) at build time */

  const char* name;        /* unique plugin name, e.g. "web", "file" */
  const char* version;     /* the plugin's own version, e.g. "1.0.0" */
  const char* description; /* one line */
  int32_t kind;            /* minyi_plugin_kind_t */
  const char* channel;     /* sources: the schema channel (web, phone, …); NULL = name */

  const minyi_config_entry_t* config;
  size_t config_count;

  /* Required. Returns the instance, or NULL after writing a message into err. */
  void* (*minyi_on_create)(minyi_host_t* host, const minyi_host_api_t* api, char* err, size_t err_cap);
  /* Required. */
  void (*minyi_on_destroy)(void* instance);
  /* Optional: called when the host starts / stops the instance. */
  int32_t (*minyi_on_start)(void* instance);
  void (*minyi_on_stop)(void* instance);

  /* Sources: at least one of on_http / on_poll. */
  void (*minyi_on_http)(void* instance, const minyi_http_request_t* request, minyi_http_response_t* response);
  /* Called by the host every poll_interval_ms (instance key `poll_interval` overrides). */
  int32_t (*minyi_on_poll)(void* instance);
  int64_t poll_interval_ms;

  /* Sinks: required. Delivers events[0..count) and fills results[0..count). */
  void (*minyi_on_deliver)(void* instance, const minyi_event_t* events, size_t count, minyi_delivery_result_t* results);

  uint32_t flags; /* MINYI_FLAG_* */
} minyi_plugin_descriptor_t;

/* The one exported entry point. */
typedef const minyi_plugin_descriptor_t* (*minyi_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* MINYI_PLUGIN_H */
