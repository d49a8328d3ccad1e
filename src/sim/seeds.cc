#include "sim/seeds.h"

#include <charconv>
#include <string>

namespace xpool::sim {
namespace {

bool ParseOne(std::string_view s, uint64_t& v) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

Result<std::vector<uint64_t>> ParseSeeds(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("seed list '" + std::string(text) + "': " + why +
                                   " (expected e.g. 42, 42-51 or 1,5,9)");
  };
  std::vector<uint64_t> seeds;
  std::string_view rest = text;
  if (rest.empty()) return bad("empty");
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const auto dash = item.find('-');
    uint64_t lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!ParseOne(item, lo)) return bad("'" + std::string(item) + "' is not a number");
      hi = lo;
    } else if (!ParseOne(item.substr(0, dash), lo) || !ParseOne(item.substr(dash + 1), hi)) {
      return bad("'" + std::string(item) + "' is not a range");
    }
    if (hi < lo) return bad("range '" + std::string(item) + "' runs backwards");
    if (hi - lo >= 10000 || seeds.size() + (hi - lo) >= 10000) return bad("more than 10000 seeds");
    for (uint64_t s = lo; s <= hi; ++s) seeds.push_back(s);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return seeds;
}

}  // namespace xpool::sim
