// Inputs more than one suite sends.

/** A tiers.evaluate input whose answer is a scale-up to Growth: three days above 80%. */
export const EVALUATION = Object.freeze({
  organizationId: 'org_42',
  currentTier: 'Startup',
  history: [
    { date: '2026-11-20', concurrentCalls: 44, apiRequestsPerSecond: 61, activeUsers: 38 },
    { date: '2026-11-21', concurrentCalls: 47, apiRequestsPerSecond: 70, activeUsers: 40 },
    { date: '2026-11-22', concurrentCalls: 46, apiRequestsPerSecond: 66, activeUsers: 41 },
  ],
});
