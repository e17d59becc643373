// minyi plugin C++ layer: ordinary classes over the C ABI in plugin.h, plus one macro,
// MINYI_PLUGIN, that emits the entry symbol. Exceptions never cross the boundary: the
// shims below catch them and turn them into errors the host understands.
//
// A source is a class with a constructor `Class(minyi::Host)` and any of
//   void on_http(const minyi::HttpRequest&, minyi::HttpResponse&);
//       (declare `static constexpr bool nonblocking_http = true;` when it never blocks,
//        i.e. uses submit_async and defer/finish; it then runs on the network threads)
//   bool on_poll();                       // false = the poll failed (the host logs it)
//   void start(); void stop();
// A sink has the constructor and
//   void deliver(std::span<const minyi_event_t>, std::span<minyi_delivery_result_t>);
#pragma once

#include <minyi/plugin.h>

#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minyi {

inline minyi_str_t view(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view view(minyi_str_t s) { return {s.data ? s.data : "", s.size}; }

// Copies text into a fixed C buffer, always NUL-terminated.
template <size_t N>
void copy_to(char (&dst)[N], std::string_view src) {
  size_t n = src.size() < N - 1 ? src.size() : N - 1;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

// Thrown by plugin constructors for configuration problems; the message reaches the operator.
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct SubmitResult {
  minyi_submit_status_t status = MINYI_SUBMIT_BUSY;
  std::string id, code, field, reason;
};

struct Submission {
  std::string_view draft_json, raw, raw_content_type, checkpoint_key, checkpoint_value;
  std::string_view charset = {};  // what the text was decoded from; empty = utf-8
  uint32_t replacements = 0;      // sequences replaced while decoding
};

struct DecodedText {
  std::string utf8;
  std::string charset;
  uint32_t replacements = 0;
};

// The host services of one plugin instance. Cheap to copy; thread-safe.
class Host {
 public:
  Host(minyi_host_t* h, const minyi_host_api_t* api) : h_(h), api_(api) {}

  void log(minyi_log_level_t level, std::string_view msg) const { api_->log(h_, level, view(msg)); }
  void info(std::string_view msg) const { log(MINYI_LOG_INFO, msg); }
  void warn(std::string_view msg) const { log(MINYI_LOG_WARN, msg); }
  void error(std::string_view msg) const { log(MINYI_LOG_ERROR, msg); }

  SubmitResult submit(const Submission& s) const {
    minyi_submission_t sub = to_c(s);
    minyi_submit_result_t r{};
    api_->submit(h_, &sub, &r);
    return {static_cast<minyi_submit_status_t>(r.status), r.id, r.code, r.field, r.reason};
  }
  // Returns at once; `done` runs exactly once with the outcome (maybe before this returns).
  template <class F>
  void submit_async(const Submission& s, F done) const {
    minyi_submission_t sub = to_c(s);
    auto* ctx = new F(std::move(done));
    api_->submit_async(
        h_, &sub,
        [](void* c, const minyi_submit_result_t* r) {
          auto* f = static_cast<F*>(c);
          try {
            (*f)(SubmitResult{static_cast<minyi_submit_status_t>(r->status), r->id, r->code, r->field, r->reason});
          } catch (...) {
          }
          delete f;
        },
        ctx);
  }
  // Bytes in any supported charset → UTF-8 (see minyi_host_api_t::decode_text).
  DecodedText decode_text(std::string_view bytes, std::string_view declared_charset = {}) const {
    DecodedText d;
    d.utf8.resize(bytes.size() * 3 + 16);
    char charset[32] = {0};
    size_t size = 0;
    api_->decode_text(h_, view(bytes), view(declared_charset), d.utf8.data(), d.utf8.size(), &size, charset,
                      &d.replacements);
    if (size > d.utf8.size()) {
      d.utf8.resize(size);
      api_->decode_text(h_, view(bytes), view(declared_charset), d.utf8.data(), d.utf8.size(), &size, charset,
                        &d.replacements);
    }
    d.utf8.resize(size);
    d.charset = charset;
    return d;
  }
  void quarantine(std::string_view raw, std::string_view content_type, std::string_view reason) const {
    api_->quarantine(h_, view(raw), view(content_type), view(reason));
  }
  std::optional<std::string> checkpoint(std::string_view key) const {
    std::string buf(256, '\0');
    size_t size = 0;
    for (;;) {
      if (api_->checkpoint_get(h_, view(key), buf.data(), buf.size(), &size) != 0) return std::nullopt;
      if (size <= buf.size()) return buf.substr(0, size);
      buf.resize(size);
    }
  }
  bool set_checkpoint(std::string_view key, std::string_view value) const {
    return api_->checkpoint_set(h_, view(key), view(value)) == 0;
  }
  // Checkpoints whose key starts with prefix, in key order (ABI 1.1).
  std::vector<std::pair<std::string, std::string>> checkpoints(std::string_view prefix) const {
    std::vector<std::pair<std::string, std::string>> out;
    if (!has_1_1()) return out;
    api_->checkpoint_list(
        h_, view(prefix),
        [](void* ctx, minyi_str_t k, minyi_str_t v) {
          static_cast<decltype(out)*>(ctx)->emplace_back(std::string(view(k)), std::string(view(v)));
        },
        &out);
    return out;
  }
  // Empty when the host predates ABI 1.1.
  std::string state_dir() const { return has_1_1() ? std::string(view(api_->state_dir(h_))) : std::string(); }
  // Local wall time in an IANA zone -> RFC 3339; false with the reason in `out` (ABI 1.1).
  bool local_time(std::string_view text, std::string_view zone, std::string& out) const {
    char buf[128] = {0};
    int32_t rc = api_->local_time(h_, view(text), view(zone), buf, sizeof buf);
    out = buf;
    return rc == 0;
  }
  // The next complete file in a spool folder, or nullopt (ABI 1.1; see plugin.h).
  std::optional<minyi_spool_file_t> spool_next(std::string_view dir, std::string_view suffixes,
                                               int64_t settle_ms) const {
    minyi_spool_file_t f{};
    f.struct_size = sizeof f;
    if (api_->spool_next(h_, view(dir), view(suffixes), settle_ms, &f) != 0) return std::nullopt;
    return f;
  }
  // Moves a handled spool file to processed/ or failed/; throws with the reason on failure.
  void spool_finish(std::string_view path, bool ok, std::string_view report_json) const {
    char err[512] = {0};
    if (api_->spool_finish(h_, view(path), ok ? 1 : 0, view(report_json), err, sizeof err) != 0)
      throw std::runtime_error(err);
  }
  void count(std::string_view name, uint64_t delta = 1) const { api_->counter_add(h_, view(name), delta); }
  int64_t now_ms() const { return api_->clock_now_ms(h_); }

  std::optional<std::string_view> config_string(const char* key) const {
    minyi_str_t out{};
    if (api_->config_string(h_, key, &out) != 0) return std::nullopt;
    return view(out);
  }
  std::string config_string(const char* key, std::string_view fallback) const {
    return std::string(config_string(key).value_or(fallback));
  }
  std::optional<int64_t> config_int(const char* key) const {
    int64_t v = 0;
    if (api_->config_int(h_, key, &v) != 0) return std::nullopt;
    return v;
  }
  int64_t config_int(const char* key, int64_t fallback) const { return config_int(key).value_or(fallback); }
  bool config_bool(const char* key, bool fallback) const {
    int32_t v = 0;
    if (api_->config_bool(h_, key, &v) != 0) return fallback;
    return v != 0;
  }
  double config_double(const char* key, double fallback) const {
    double v = 0;
    if (api_->config_double(h_, key, &v) != 0) return fallback;
    return v;
  }
  std::vector<std::pair<std::string_view, std::string_view>> config_items(const char* key) const {
    std::vector<std::pair<std::string_view, std::string_view>> items;
    size_t n = api_->config_items(h_, key);
    for (size_t i = 0; i < n; ++i) {
      minyi_str_t k{}, v{};
      if (api_->config_item(h_, key, i, &k, &v) == 0) items.emplace_back(view(k), view(v));
    }
    return items;
  }
  void route(const char* method, const char* path) const {
    if (api_->route_add(h_, method, path) != 0)
      throw ConfigError(std::string("cannot serve ") + method + " " + path + " (route already taken?)");
  }
  std::string_view instance_name() const { return view(api_->instance_name(h_)); }
  bool stopping() const { return api_->stopping(h_) != 0; }
  const minyi_host_api_t* api() const { return api_; }
  bool has_1_1() const {
    return api_->abi_minor >= 1 && api_->struct_size >= offsetof(minyi_host_api_t, spool_finish) + sizeof(void*);
  }

 private:
  static minyi_submission_t to_c(const Submission& s) {
    minyi_submission_t sub{};
    sub.struct_size = sizeof sub;
    sub.draft_json = view(s.draft_json);
    sub.raw = view(s.raw);
    sub.raw_content_type = view(s.raw_content_type);
    sub.checkpoint_key = view(s.checkpoint_key);
    sub.checkpoint_value = view(s.checkpoint_value);
    sub.charset = view(s.charset);
    sub.replacements = s.replacements;
    return sub;
  }

  minyi_host_t* h_;
  const minyi_host_api_t* api_;
};

class HttpRequest {
 public:
  explicit HttpRequest(const minyi_http_request_t* r) : r_(r) {}
  std::string_view method() const { return view(r_->method); }
  std::string_view path() const { return view(r_->path); }
  std::string_view query() const { return view(r_->query); }
  std::string_view body() const { return view(r_->body); }
  std::string_view remote_addr() const { return view(r_->remote_addr); }
  // Case-insensitive header lookup; first occurrence.
  std::optional<std::string_view> header(std::string_view name) const {
    for (size_t i = 0; i < r_->header_count; ++i) {
      std::string_view n = view(r_->headers[i].name);
      if (n.size() != name.size()) continue;
      bool eq = true;
      for (size_t k = 0; k < n.size() && eq; ++k) eq = (n[k] | 0x20) == (name[k] | 0x20);
      if (eq) return view(r_->headers[i].value);
    }
    return std::nullopt;
  }

 private:
  const minyi_http_request_t* r_;
};

class HttpResponse {
 public:
  HttpResponse(const minyi_host_api_t* api, minyi_http_response_t* r) : api_(api), r_(r) {}
  void respond(int status, std::string_view content_type, std::string_view body) {
    api_->http_respond(r_, status, view(content_type), view(body));
  }
  void header(std::string_view name, std::string_view value) { api_->http_header(r_, view(name), view(value)); }
  // Keeps the response open after on_http returns; complete it with respond() then finish().
  void defer() {
    deferred_ = true;
    api_->http_defer(r_);
  }
  void finish() { api_->http_finish(r_); }
  bool deferred() const { return deferred_; }

 private:
  const minyi_host_api_t* api_;
  minyi_http_response_t* r_;
  bool deferred_ = false;
};

namespace detail {

template <class P>
struct Shim {
  static void* create(minyi_host_t* h, const minyi_host_api_t* api, char* err, size_t cap) {
    auto fail = [&](std::string_view msg) -> void* {
      if (cap > 0) {
        size_t n = msg.size() < cap - 1 ? msg.size() : cap - 1;
        std::memcpy(err, msg.data(), n);
        err[n] = '\0';
      }
      return nullptr;
    };
    try {
      return new P(Host(h, api));
    } catch (const std::exception& e) {
      return fail(e.what());
    } catch (...) {
      return fail("unknown exception in plugin constructor");
    }
  }
  static void destroy(void* p) { delete static_cast<P*>(p); }
  static int32_t start(void* p) {
    if constexpr (requires(P & x) { x.start(); }) {
      try {
        static_cast<P*>(p)->start();
      } catch (...) {
        return -1;
      }
    }
    return 0;
  }
  static void stop(void* p) {
    if constexpr (requires(P & x) { x.stop(); }) {
      try {
        static_cast<P*>(p)->stop();
      } catch (...) {
      }
    }
  }
  static void http(void* p, const minyi_http_request_t* req, minyi_http_response_t* resp) {
    if constexpr (requires(P & x, const HttpRequest& rq, HttpResponse& rs) { x.on_http(rq, rs); }) {
      HttpResponse out(static_cast<P*>(p)->host().api(), resp);
      try {
        static_cast<P*>(p)->on_http(HttpRequest(req), out);
      } catch (const std::exception&) {
        out.respond(500, "application/json",
                    R"({"error":{"code":"internal","message":"the channel plugin failed; see the daemon log"}})");
        if (out.deferred()) out.finish();
      }
    }
  }
  static int32_t poll(void* p) {
    if constexpr (requires(P & x) { x.on_poll(); }) {
      try {
        return static_cast<P*>(p)->on_poll() ? 0 : -1;
      } catch (...) {
        return -1;
      }
    }
    return 0;
  }
  static void deliver(void* p, const minyi_event_t* ev, size_t n, minyi_delivery_result_t* res) {
    if constexpr (requires(P & x, std::span<const minyi_event_t> e, std::span<minyi_delivery_result_t> r) {
                    x.deliver(e, r);
                  }) {
      try {
        static_cast<P*>(p)->deliver(std::span<const minyi_event_t>(ev, n), std::span<minyi_delivery_result_t>(res, n));
      } catch (const std::exception& e) {
        for (size_t i = 0; i < n; ++i) {
          res[i].status = MINYI_DELIVERY_RETRY;
          copy_to(res[i].reason, e.what());
        }
      }
    }
  }

  static constexpr bool nonblocking_http = requires { requires P::nonblocking_http; };
  static constexpr bool has_http = requires(P & x, const HttpRequest& rq, HttpResponse& rs) { x.on_http(rq, rs); };
  static constexpr bool has_poll = requires(P & x) { x.on_poll(); };
  static constexpr bool has_deliver =
      requires(P & x, std::span<const minyi_event_t> e, std::span<minyi_delivery_result_t> r) {
    x.deliver(e, r);
  };

  static minyi_plugin_descriptor_t make(const char* name, const char* version, const char* description,
                                        minyi_plugin_kind_t kind, const char* channel, const minyi_config_entry_t* cfg,
                                        size_t cfg_count, int64_t poll_ms) {
    minyi_plugin_descriptor_t d{};
    d.abi_major = MINYI_ABI_MAJOR;
    d.abi_minor = MINYI_ABI_MINOR;
    d.struct_size = sizeof d;
    d.name = name;
    d.version = version;
    d.description = description;
    d.kind = kind;
    d.channel = channel;
    d.config = cfg;
    d.config_count = cfg_count;
    d.minyi_on_create = &create;
    d.minyi_on_destroy = &destroy;
    d.minyi_on_start = &start;
    d.minyi_on_stop = &stop;
    if constexpr (has_http) d.minyi_on_http = &http;
    if constexpr (has_poll) d.minyi_on_poll = &poll;
    d.poll_interval_ms = poll_ms;
    if constexpr (has_deliver) d.minyi_on_deliver = &deliver;
    if constexpr (nonblocking_http) d.flags |= MINYI_FLAG_HTTP_NONBLOCKING;
    return d;
  }
};

}  // namespace detail
}  // namespace minyi

// Emits the entry symbol for plugin class CLASS. CONFIG is a C array of minyi_config_entry_t
// (or a std::array). The class must expose `const minyi::Host& host() const` for on_http.
#define MINYI_PLUGIN(CLASS, KIND, NAME, VERSION, DESCRIPTION, CHANNEL, CONFIG, POLL_MS)            \
  extern "C" MINYI_EXPORT const minyi_plugin_descriptor_t* minyi_plugin_entry(void) {              \
    static const minyi_plugin_descriptor_t d = ::minyi::detail::Shim<CLASS>::make(                 \
        NAME, VERSION, DESCRIPTION, KIND, CHANNEL, std::data(CONFIG), std::size(CONFIG), POLL_MS); \
    return &d;                                                                                     \
  }
