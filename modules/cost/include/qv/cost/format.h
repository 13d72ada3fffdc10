// How the cost engine writes amounts in its sentences, and the CLI in its tables: one
// formatting, so both say the same figure the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace qv::cost {

// The largest amount in dollars the engine takes (an amount, a credit, a cost; a tier's
// costEstimate, by core's kMaxTierCostEstimate, alike): $10 trillion. Its whole cents stay
// exact in an int64_t and in a double (below 2^53).
inline constexpr double kMaxDollars = 1e13;
// "PATH: <what> of at most 10000000000000 is supported", for an amount above kMaxDollars.
std::string above_max_dollars(std::string_view path, std::string_view what);

// An amount in whole cents, half a cent rounding away from zero as the amount reads in
// decimal: 1.005 is 100.4999... cents in binary, and still rounds to 101 like 0.125 to 13.
int64_t whole_cents(double dollars);

// Digits with thousands separators: "1234567.5" -> "1,234,567.5".
std::string grouped(const std::string& digits);

// "$1,234.56" for a dollar and more; below, three significant digits without trailing
// zeros ("$0.0029", "$0.01"); negative amounts as "-$12.00".
std::string money(double amount);

}  // namespace qv::cost
