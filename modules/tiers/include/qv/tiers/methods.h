// The methods the tiers module serves through the ABI:
//   tiers.configure        catalogue JSON -> the catalogue now in force (invalid: unchanged)
//   tiers.catalogue        {} -> the catalogue in force
//   tiers.evaluate         {organizationId, currentTier, history, lastTierChange?} -> decision
//   tiers.features         {tier} -> {tier, features}
//   tiers.feature_enabled  {tier, feature} -> {tier, feature, enabled, lowestTier,
//                          upgradeTier, availableIn}
//   tiers.autoscale        as evaluate, with the tier and last change read from KV; applies
//                          a scale decision to KV -> {decision, applied, tierChanges?,
//                          source, reason?}
// Admission control (docs/admission.md):
//   tiers.gcra             {rate, burst?, tat?, now, quantity?, partial?} -> GCRA outcome
//   tiers.admit            {organizationId, tier, cost?} -> {allowed, limited, limit,
//                          remaining, retryAfterMs, resetAfterMs, rate, burst, source}
//   tiers.call_start       {organizationId, tier, callId} -> {admitted, active, limit, ...}
//   tiers.call_heartbeat   {organizationId, tier, callId} -> {renewed, ...}
//   tiers.call_end         {organizationId, callId} -> {ended, wasActive, ...}
#pragma once

#include <span>

#include "qv/instance.h"

namespace qv::tiers {
std::span<const Method> methods();
}
