// A polling test channel: every poll submits the next numbered suggestion, carrying its
// position as a checkpoint committed in the same transaction. After a restart it resumes
// from the checkpoint, so nothing is skipped or submitted twice.
#include <array>
#include <minyi/plugin.hpp>
#include <string>

namespace {

const std::array<minyi_config_entry_t, 1> kConfig = {{
    {"limit", MINYI_CFG_INT, "5", 0, "stop after this many suggestions in total", nullptr},
}};

class Ticker {
 public:
  explicit Ticker(minyi::Host host) : host_(host), limit_(host.config_int("limit", 5)) {}
  const minyi::Host& host() const { return host_; }

  bool on_poll() {
    int64_t next = std::stoll(host_.checkpoint("next").value_or("0"));
    if (next >= limit_) return true;
    std::string draft = R"({"content":"定时巡查记录 )" + std::to_string(next) + R"(","external_id":"tick-)" +
                        std::to_string(next) + R"("})";
    auto r = host_.submit({draft, draft, "application/json", "next", std::to_string(next + 1)});
    return r.status == MINYI_SUBMIT_ACCEPTED || r.status == MINYI_SUBMIT_REPLAY;
  }

 private:
  minyi::Host host_;
  int64_t limit_;
};

}  // namespace

MINYI_PLUGIN(Ticker, MINYI_KIND_SOURCE, "ticker", "1.0.0", "test: one suggestion per poll", "other", kConfig, 1000)
