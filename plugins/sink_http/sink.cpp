// sink_http: delivers events to an HTTP endpoint with libcurl as CloudEvents 1.0 —
// structured JSON by default, binary mode or batches on request — with Idempotency-Key,
// an optional HMAC-SHA256 signature, TLS options and timeouts.
// 2xx → OK; 408, 429, 5xx and network errors → RETRY (honouring Retry-After); other → REJECT.
#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <minyi/plugin.hpp>

#include "cloudevent.hpp"
#include "codec.hpp"

namespace {

const std::array<minyi_config_entry_t, 14> kConfig = {{
    {"url", MINYI_CFG_STRING, nullptr, 1, "endpoint URL (http:// or https://)", nullptr},
    {"mode", MINYI_CFG_STRING, "structured", 0,
     "structured (application/cloudevents+json), binary (ce-* headers, JSON data body) or batch "
     "(application/cloudevents-batch+json, one request per batch)",
     "structured|binary|batch"},
    {"secret", MINYI_CFG_STRING, nullptr, 0, "when set, requests carry \"sha256=<hex HMAC-SHA256(secret, body)>\"",
     nullptr},
    {"signature_header", MINYI_CFG_STRING, "X-Minyi-Signature", 0, "header that carries the signature", nullptr},
    {"timeout", MINYI_CFG_DURATION, "10s", 0, "whole-request timeout", nullptr},
    {"connect_timeout", MINYI_CFG_DURATION, "5s", 0, "TCP/TLS connect timeout", nullptr},
    {"tls_verify", MINYI_CFG_BOOL, "true", 0, "verify the server certificate and host name", nullptr},
    {"ca_file", MINYI_CFG_STRING, nullptr, 0, "CA bundle (PEM) instead of the system store", nullptr},
    {"client_cert", MINYI_CFG_STRING, nullptr, 0, "client certificate (PEM) for mutual TLS", nullptr},
    {"client_key", MINYI_CFG_STRING, nullptr, 0, "client private key (PEM) for mutual TLS", nullptr},
    {"headers", MINYI_CFG_STRING_MAP, nullptr, 0,
     "extra request headers, e.g. {Authorization: \"Bearer ${env:TOKEN}\"}", nullptr},
    {"source", MINYI_CFG_STRING, "/minyi", 0, "CloudEvents 'source' attribute", nullptr},
    {"max_retry_after", MINYI_CFG_DURATION, "1h", 0, "longest Retry-After honoured", nullptr},
    {"user_agent", MINYI_CFG_STRING, "minyi-sink-http/1.0", 0, "User-Agent header", nullptr},
}};

std::string sv(minyi_str_t s) { return std::string(s.data ? s.data : "", s.size); }

size_t collect(char* ptr, size_t size, size_t n, void* ud) {
  auto* out = static_cast<std::string*>(ud);
  size_t len = size * n;
  if (out->size() < 4096) out->append(ptr, std::min(len, 4096 - out->size()));
  return len;
}

struct HeaderCapture {
  std::string retry_after;
};
size_t capture_header(char* buf, size_t size, size_t n, void* ud) {
  size_t len = size * n;
  std::string_view line(buf, len);
  if (line.size() > 12 && strncasecmp(line.data(), "retry-after:", 12) == 0) {
    std::string v(line.substr(12));
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    static_cast<HeaderCapture*>(ud)->retry_after = v;
  }
  return len;
}

// Retry-After as delta-seconds or an HTTP-date; milliseconds from now, 0 if absent/bad.
int64_t parse_retry_after(const std::string& v, int64_t now_ms) {
  if (v.empty()) return 0;
  if (std::all_of(v.begin(), v.end(), ::isdigit)) return std::stoll(v.substr(0, 9)) * 1000;
  struct tm tm {};
  if (strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    int64_t when = static_cast<int64_t>(timegm(&tm)) * 1000;
    return when > now_ms ? when - now_ms : 0;
  }
  return 0;
}

std::string excerpt(const std::string& body) {
  std::string e = body.substr(0, 200);
  // Keep the reason printable and cut at a UTF-8 boundary.
  while (!e.empty() && (static_cast<unsigned char>(e.back()) & 0xC0) == 0x80) e.pop_back();
  if (!e.empty() && static_cast<unsigned char>(e.back()) >= 0xC0) e.pop_back();
  for (auto& c : e)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return e;
}

class HttpSink {
 public:
  explicit HttpSink(minyi::Host host) : host_(host) {
    url_ = host_.config_string("url", "");
    if (url_.rfind("http://", 0) != 0 && url_.rfind("https://", 0) != 0)
      throw minyi::ConfigError("'url' must start with http:// or https://, got '" + url_ + "'");
    mode_ = host_.config_string("mode", "structured");
    if (mode_ != "structured" && mode_ != "binary" && mode_ != "batch")
      throw minyi::ConfigError("'mode' must be structured, binary or batch, got '" + mode_ + "'");
    if (auto s = host_.config_string("secret")) secret_ = std::string(*s);
    sig_header_ = host_.config_string("signature_header", "X-Minyi-Signature");
    source_ = host_.config_string("source", "/minyi");
    max_retry_after_ = host_.config_int("max_retry_after", 3600 * 1000);
    curl_ = curl_easy_init();
    if (!curl_) throw std::runtime_error("curl_easy_init failed");
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(host_.config_int("timeout", 10000)));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(host_.config_int("connect_timeout", 5000)));
    bool verify = host_.config_bool("tls_verify", true);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
    for (auto [key, opt] : {std::pair{"ca_file", CURLOPT_CAINFO}, std::pair{"client_cert", CURLOPT_SSLCERT},
                            std::pair{"client_key", CURLOPT_SSLKEY}})
      if (auto v = host_.config_string(key)) {
        strings_.emplace_back(*v);
        curl_easy_setopt(curl_, opt, strings_.back().c_str());
      }
    user_agent_ = host_.config_string("user_agent", "minyi-sink-http/1.0");
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, user_agent_.c_str());
    for (auto [k, v] : host_.config_items("headers")) extra_headers_.push_back(std::string(k) + ": " + std::string(v));
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, capture_header);
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
  }
  ~HttpSink() { curl_easy_cleanup(curl_); }
  const minyi::Host& host() const { return host_; }

  void deliver(std::span<const minyi_event_t> events, std::span<minyi_delivery_result_t> results) {
    if (mode_ == "batch") {
      std::string body = "[";
      for (size_t i = 0; i < events.size(); ++i)
        body += (i ? "," : "") + minyi::plugins::cloudevent_json(events[i], source_);
      body += "]";
      minyi_delivery_result_t r{};
      post(body, "application/cloudevents-batch+json; charset=utf-8", sv(events[0].id), {}, r);
      for (auto& res : results) res = r;
      return;
    }
    for (size_t i = 0; i < events.size(); ++i) {
      const auto& ev = events[i];
      if (host_.stopping()) {
        for (size_t k = i; k < events.size(); ++k) {
          results[k].status = MINYI_DELIVERY_RETRY;
          minyi::copy_to(results[k].reason, "minyid is stopping");
        }
        return;
      }
      if (mode_ == "binary") {
        std::vector<std::string> ce = {
            "ce-specversion: 1.0",           "ce-id: " + sv(ev.id),
            "ce-source: " + source_,         "ce-type: " + minyi::plugins::cloudevent_type(sv(ev.type)),
            "ce-subject: " + sv(ev.subject), "ce-time: " + sv(ev.time)};
        post(sv(ev.data), "application/json; charset=utf-8", sv(ev.id), ce, results[i]);
      } else {
        post(minyi::plugins::cloudevent_json(ev, source_), "application/cloudevents+json; charset=utf-8", sv(ev.id), {},
             results[i]);
      }
      if (results[i].status == MINYI_DELIVERY_RETRY) {
        // Keep order: the rest of the batch waits for this event.
        for (size_t k = i + 1; k < events.size(); ++k) {
          results[k].status = MINYI_DELIVERY_RETRY;
          minyi::copy_to(results[k].reason, "waiting for an earlier event");
        }
        return;
      }
    }
  }

 private:
  void post(const std::string& body, const char* content_type, const std::string& idempotency_key,
            const std::vector<std::string>& extra, minyi_delivery_result_t& r) {
    struct curl_slist* headers = nullptr;
    auto add = [&](const std::string& h) { headers = curl_slist_append(headers, h.c_str()); };
    add(std::string("Content-Type: ") + content_type);
    add("Idempotency-Key: " + idempotency_key);
    add("Expect:");  // no 100-continue round trip
    for (const auto& h : extra) add(h);
    for (const auto& h : extra_headers_) add(h);
    if (secret_) {
      add(sig_header_ + ": sha256=" + minyi::plugins::hmac_sha256_hex(*secret_, body));
    }
    std::string response;
    HeaderCapture hc;
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &response);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &hc);
    CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    r.retry_after_ms = 0;
    if (rc != CURLE_OK) {
      r.status = MINYI_DELIVERY_RETRY;
      minyi::copy_to(r.reason, std::string("network error: ") + curl_easy_strerror(rc));
      host_.count("network_errors");
      return;
    }
    long status = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    std::string what = "HTTP " + std::to_string(status) + (response.empty() ? "" : ": " + excerpt(response));
    if (status >= 200 && status < 300) {
      r.status = MINYI_DELIVERY_OK;
      host_.count("delivered");
    } else if (status == 408 || status == 429 || status >= 500) {
      r.status = MINYI_DELIVERY_RETRY;
      r.retry_after_ms = std::min(parse_retry_after(hc.retry_after, host_.now_ms()), max_retry_after_);
      minyi::copy_to(r.reason, what);
      host_.count("retries");
    } else {
      r.status = MINYI_DELIVERY_REJECT;
      minyi::copy_to(r.reason, what);
      host_.count("rejected");
    }
  }

  minyi::Host host_;
  CURL* curl_ = nullptr;
  std::string url_, mode_, sig_header_, source_, user_agent_;
  std::optional<std::string> secret_;
  int64_t max_retry_after_;
  std::vector<std::string> strings_;  // keeps option strings alive for curl
  std::vector<std::string> extra_headers_;
};

}  // namespace

MINYI_PLUGIN(HttpSink, MINYI_KIND_SINK, "http", "1.0.0", "POST events to an HTTP endpoint as CloudEvents", nullptr,
             kConfig, 0)
