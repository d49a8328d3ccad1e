#include "core/quantity.h"

#include <charconv>
#include <limits>

namespace xpool {
namespace {

Result<int64_t> ParsePositiveInteger(std::string_view digits, std::string_view whole) {
  int64_t v = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, v);
  if (digits.empty() || ec != std::errc() || ptr != end || v < 0) {
    return Status::InvalidArgument("'" + std::string(whole) +
                                   "' is not a non-negative integer quantity");
  }
  return v;
}

}  // namespace

Result<MiB> ParseMemory(std::string_view text) {
  struct Suffix {
    std::string_view s;
    int64_t mib;
  };
  static constexpr Suffix kSuffixes[] = {{"Ti", 1024 * 1024}, {"Gi", 1024}, {"Mi", 1}};
  int64_t scale = 1;
  std::string_view digits = text;
  for (const auto& suf : kSuffixes) {
    if (text.size() > suf.s.size() && text.substr(text.size() - suf.s.size()) == suf.s) {
      scale = suf.mib;
      digits = text.substr(0, text.size() - suf.s.size());
      break;
    }
  }
  auto n = ParsePositiveInteger(digits, text);
  if (!n.ok()) {
    return Status::InvalidArgument(
        "memory quantity '" + std::string(text) +
        "' is malformed: use an integer with Mi, Gi or Ti (e.g. 512Mi, 8Gi)");
  }
  if (*n > std::numeric_limits<int64_t>::max() / scale) {
    return Status::InvalidArgument("memory quantity '" + std::string(text) + "' is too large");
  }
  return MiB(*n * scale);
}

Result<MilliDevice> ParseComputePercent(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && digits.back() == '%') digits.remove_suffix(1);
  auto n = ParsePositiveInteger(digits, text);
  if (!n.ok() || *n < 1 || *n > 100) {
    return Status::InvalidArgument("compute share '" + std::string(text) +
                                   "' must be a whole percent from 1 to 100");
  }
  return MilliDevice(*n * 10);
}

std::string FormatMemory(MiB m) {
  const int64_t v = m.value();
  if (v != 0 && v % (1024 * 1024) == 0) return std::to_string(v / (1024 * 1024)) + "Ti";
  if (v != 0 && v % 1024 == 0) return std::to_string(v / 1024) + "Gi";
  return std::to_string(v) + "Mi";
}

}  // namespace xpool
