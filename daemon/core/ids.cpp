// UUIDv7 generation: 48-bit ms timestamp, 12-bit monotonic counter, 62 random bits.
#include "core/ids.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>

namespace minyi {

namespace {
// Guarded by mu: last timestamp and counter, so ids never go backwards inside the process.
std::mutex mu;
int64_t last_ms = 0;
uint32_t counter = 0;
std::mt19937_64& rng() {
  static std::mt19937_64 g{std::random_device{}()};
  return g;
}
}  // namespace

std::string new_uuid_v7(int64_t unix_ms) {
  uint64_t rand_b;
  uint32_t seq;
  int64_t ms;
  {
    std::lock_guard lock(mu);
    if (unix_ms > last_ms) {
      last_ms = unix_ms;
      counter = static_cast<uint32_t>(rng()() & 0x1FF);  // random start, room to count up
    } else if (++counter > 0xFFF) {
      ++last_ms;  // counter exhausted: borrow the next millisecond
      counter = 0;
    }
    ms = last_ms;
    seq = counter;
    rand_b = rng()();
  }
  uint8_t b[16];
  for (int i = 0; i < 6; ++i) b[i] = static_cast<uint8_t>(static_cast<uint64_t>(ms) >> (40 - 8 * i));
  b[6] = static_cast<uint8_t>(0x70 | ((seq >> 8) & 0x0F));
  b[7] = static_cast<uint8_t>(seq & 0xFF);
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(rand_b >> (56 - 8 * i));
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3F));
  // 8-4-4-4-12 hex digits (snprintf with sixteen %02x cost more than the rest of this).
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  for (int i = 0, at = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) ++at;
    out[at++] = kHex[b[i] >> 4];
    out[at++] = kHex[b[i] & 15];
  }
  return out;
}

std::string new_uuid_v7() {
  using namespace std::chrono;
  return new_uuid_v7(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace minyi
