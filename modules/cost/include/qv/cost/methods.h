// The methods the cost module serves through the ABI (inputs and answers: docs/cost.md):
//   cost.catalogue      {catalogue?} -> the pricing catalogue in force (or the one given,
//                       validated)
//   cost.estimate       {usage, catalogue?, tiers?, scale?} -> the bill per service, total,
//                       unit costs, targets, tier fit, opportunities, missing inputs
//   cost.opportunities  as cost.estimate -> the optimisation opportunities, largest first
//   cost.diff           {base, proposed?, scale?, catalogue?, tiers?} -> what changes
//   cost.allocate       {sharedCosts, organizations, method?, metric?, usage?, catalogue?}
//                       -> each organisation's share of the shared costs
//   cost.forecast       {history, months} -> the next months with a 95% range
// A usage, base, proposed or catalogue may be given as an object or as the text of its
// file (a JSON string): errors then give the line and column within that text.
// Every method is synchronous: none asks the host for operations.
#pragma once

#include <span>

#include "qv/instance.h"

namespace qv::cost {
std::span<const Method> methods();
}
