// Time-ordered unique ids (RFC 9562 UUIDv7) for suggestions and events.
#pragma once
#include <cstdint>
#include <string>

namespace minyi {

// Returns a UUIDv7 string. Ids from one process are strictly increasing: within the same
// millisecond the 12-bit rand_a field is used as a counter (RFC 9562 method 1).
std::string new_uuid_v7();
// Same, for a given Unix time in milliseconds (tests, clock injection).
std::string new_uuid_v7(int64_t unix_ms);

}  // namespace minyi
