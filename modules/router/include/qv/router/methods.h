// The methods the router module serves through the ABI (docs/router.md has the fields):
//   router.configure     config JSON -> the configuration now in force (invalid: unchanged)
//   router.config        {} -> the configuration in force
//   router.route         {client?, headers?, countRequest?, explain?} -> {optimalRegion,
//                        fallbackRegions, measuredLatencies, routingStrategy, reason, origin,
//                        timeoutMs, clientArea, location, panic, regions? (explain)}
//   router.observe       {region, rttMs, status, area?, node?, timedOut?} -> the region's (or
//                        node's) health and RTT after it; an ejection is published to KV
//   router.retry         {failedRegion, fallbackRegions?} -> {allowed, region, origin, reason,
//                        budget}
//   router.health        {} -> every region's and node's health, the budget, panic
//   router.health_check  {} -> performs the due health checks as fetch operations and reads
//                        the ejections other isolates published (KV) -> what it found
//   router.affinity      {callId, region?, currentNode?, client?, headers?} -> {callId, region,
//                        node, kept, regionSource, algorithm, reason}
#pragma once

#include <span>

#include "qv/instance.h"

namespace qv::router {
std::span<const Method> methods();
}
