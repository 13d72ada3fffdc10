// How the cost engine writes amounts in its sentences, and the CLI in its tables: one
// formatting, so both say the same figure the same way.
#pragma once

#include <cstdint>
#include <string>

namespace qv::cost {

// An amount in whole cents, half a cent rounding away from zero as the amount reads in
// decimal: 1.005 is 100.4999... cents in binary, and still rounds to 101 like 0.125 to 13.
int64_t whole_cents(double dollars);

// Digits with thousands separators: "1234567.5" -> "1,234,567.5".
std::string grouped(const std::string& digits);

// "$1,234.56" for a dollar and more; below, three significant digits without trailing
// zeros ("$0.0029", "$0.01"); negative amounts as "-$12.00".
std::string money(double amount);

}  // namespace qv::cost
