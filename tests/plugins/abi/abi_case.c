/* Test plugins the loader must refuse (or accept), one per compile definition:
 *   CASE_WRONG_MAJOR, CASE_NEWER_MINOR, CASE_MISSING_DELIVER, CASE_DUPLICATE, CASE_OLD_SMALL.
 * Written in plain C against plugin.h, as a C plugin author would. */
#include <minyi/plugin.h>
#include <stddef.h>

static void* create(minyi_host_t* h, const minyi_host_api_t* api, char* err, size_t cap) {
  (void)h;
  (void)api;
  (void)err;
  (void)cap;
  static int instance;
  return &instance;
}
static void destroy(void* p) { (void)p; }
__attribute__((unused)) static void deliver(void* p, const minyi_event_t* ev, size_t n, minyi_delivery_result_t* r) {
  (void)p;
  (void)ev;
  for (size_t i = 0; i < n; ++i) r[i].status = MINYI_DELIVERY_OK;
}

static minyi_plugin_descriptor_t d = {
#if defined(CASE_WRONG_MAJOR)
    MINYI_ABI_MAJOR + 1,
    0,
    sizeof(minyi_plugin_descriptor_t),
    "wrong_major",
#elif defined(CASE_NEWER_MINOR)
    MINYI_ABI_MAJOR,
    MINYI_ABI_MINOR + 1,
    sizeof(minyi_plugin_descriptor_t),
    "newer_minor",
#elif defined(CASE_MISSING_DELIVER)
    MINYI_ABI_MAJOR,
    MINYI_ABI_MINOR,
    sizeof(minyi_plugin_descriptor_t),
    "no_deliver",
#elif defined(CASE_DUPLICATE)
    MINYI_ABI_MAJOR,
    MINYI_ABI_MINOR,
    sizeof(minyi_plugin_descriptor_t),
    "file",
#elif defined(CASE_OLD_SMALL)
    /* An older plugin whose descriptor ends before on_deliver: accepted, tail zero-filled,
       but as a sink it then lacks on_deliver. */
    MINYI_ABI_MAJOR,
    0,
    offsetof(minyi_plugin_descriptor_t, minyi_on_deliver),
    "old_small",
#endif
    "1.0.0",
    "loader test plugin",
    MINYI_KIND_SINK,
    NULL,
    NULL,
    0,
    create,
    destroy,
    NULL,
    NULL,
    NULL,
    NULL,
    0,
#if defined(CASE_MISSING_DELIVER)
    NULL,
#else
    deliver,
#endif
    0};

MINYI_EXPORT const minyi_plugin_descriptor_t* minyi_plugin_entry(void) { return &d; }
