#include "core/kube_quantity.h"

#include <algorithm>
#include <array>
#include <limits>
#include <string>

namespace xpool {
namespace {

// Exact products of up to 38 digits. (__extension__: -Wpedantic knows no 128-bit integers.)
__extension__ using Int128 = __int128;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
// More significant digits than any int64 has, with room for exact division by 5^k.
constexpr int kMaxSignificantDigits = 38;

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}

// The parts of a quantity: digits without the point, the power of ten and of two they scale by.
struct Parsed {
  bool negative = false;
  std::string digits;  // integer and fraction digits together
  int64_t exponent10 = 0;
  int exponent2 = 0;
};

Status Malformed(std::string_view text) {
  return Status::InvalidArgument("'" + std::string(text) +
                                 "' is not a Kubernetes quantity (e.g. 8192, 10k, 8Ki, 1e4)");
}

// A signed integer exponent; huge ones are clamped, which keeps their meaning (too large, or a
// fraction) without overflowing.
bool ParseExponent(std::string_view s, int64_t* out) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return false;
  int64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = std::min<int64_t>(v * 10 + (c - '0'), 1'000'000);
  }
  *out = negative ? -v : v;
  return true;
}

bool ParseSuffix(std::string_view s, Parsed* p) {
  struct Named {
    std::string_view suffix;
    int exponent10;
    int exponent2;
  };
  static constexpr std::array<Named, 14> kSuffixes = {{{"", 0, 0},
                                                       {"m", -3, 0},
                                                       {"k", 3, 0},
                                                       {"M", 6, 0},
                                                       {"G", 9, 0},
                                                       {"T", 12, 0},
                                                       {"P", 15, 0},
                                                       {"E", 18, 0},
                                                       {"Ki", 0, 10},
                                                       {"Mi", 0, 20},
                                                       {"Gi", 0, 30},
                                                       {"Ti", 0, 40},
                                                       {"Pi", 0, 50},
                                                       {"Ei", 0, 60}}};
  for (const auto& n : kSuffixes) {
    if (s == n.suffix) {
      p->exponent10 = n.exponent10;
      p->exponent2 = n.exponent2;
      return true;
    }
  }
  if (s.size() > 1 && (s[0] == 'e' || s[0] == 'E'))
    return ParseExponent(s.substr(1), &p->exponent10);
  return false;
}

bool Parse(std::string_view s, Parsed* p) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) p->negative = s[i++] == '-';
  size_t integer_digits = 0, fraction_digits = 0;
  for (; i < s.size() && IsDigit(s[i]); ++i, ++integer_digits) p->digits.push_back(s[i]);
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && IsDigit(s[i]); ++i, ++fraction_digits) p->digits.push_back(s[i]);
  }
  if (integer_digits + fraction_digits == 0) return false;
  if (!ParseSuffix(s.substr(i), p)) return false;
  p->exponent10 -= static_cast<int64_t>(fraction_digits);
  return true;
}

}  // namespace

Result<int64_t> ParseKubeWholeQuantity(std::string_view text) {
  Parsed p;
  if (!Parse(text, &p)) return Malformed(text);
  // Significant digits only: leading zeros dropped, trailing ones moved into the exponent.
  std::string_view d = p.digits;
  while (!d.empty() && d.front() == '0') d.remove_prefix(1);
  while (!d.empty() && d.back() == '0') {
    d.remove_suffix(1);
    ++p.exponent10;
  }
  if (d.empty()) return int64_t{0};
  const std::string quoted = "'" + std::string(text) + "'";
  if (p.negative) return Status::InvalidArgument(quoted + " is negative");
  const Status too_large = Status::InvalidArgument(quoted + " is larger than 2^63-1");
  const Status fraction = Status::InvalidArgument(quoted + " is not a whole number");
  if (d.size() > kMaxSignificantDigits) {
    return p.exponent10 >= 0 ? too_large : Status::InvalidArgument(quoted + " has too many digits");
  }
  Int128 v = 0;
  for (char c : d) v = v * 10 + (c - '0');
  // Each multiplication starts from at most 2^63-1, so it cannot overflow 128 bits.
  const auto scale = [&](int factor, int64_t times) {
    for (int64_t k = 0; k < times && v <= kMax; ++k) v *= factor;
    return v <= kMax;
  };
  if (p.exponent10 >= 0) {
    if (!scale(10, p.exponent10) || !scale(2, p.exponent2)) return too_large;
    return static_cast<int64_t>(v);
  }
  // v × 2^exponent2 / 10^s is whole only if 5^s divides v and 2^s divides v × 2^exponent2.
  int64_t s = -p.exponent10;
  for (int64_t k = 0; k < s; ++k) {
    if (v % 5 != 0) return fraction;
    v /= 5;
  }
  int64_t twos = p.exponent2 - s;
  for (; twos < 0; ++twos) {
    if (v % 2 != 0) return fraction;
    v /= 2;
  }
  if (!scale(2, twos)) return too_large;
  return static_cast<int64_t>(v);
}

}  // namespace xpool
