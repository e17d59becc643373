// The journal's schema: ordered migrations, applied by Journal at start-up.
#pragma once
#include <span>

namespace minyi {

// Entry i upgrades a journal from schema version i to i+1 (one SQL script each).
std::span<const char* const> journal_migrations();

}  // namespace minyi
