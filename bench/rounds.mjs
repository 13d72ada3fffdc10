// Rounds of alternated measurements and their medians, for every benchmark (this file
// needs no build: the load tester's benchmark uses it without the WebAssembly bundles).

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

// Runs each named side (`{name: () => figures}`) once per round, `rounds` times, in the
// order given in odd rounds and reversed in even ones, so that no side always runs on a
// warmer or quieter machine. Returns each round's figures by side name; onRound(entry)
// sees each round as it ends. A ratio is then the median of the rounds' own ratios.
export async function alternateRounds(sides, rounds = 3, onRound = () => {}) {
  const names = Object.keys(sides);
  const out = [];
  for (let round = 1; round <= rounds; round++) {
    const entry = { round };
    for (const name of round % 2 ? names : [...names].reverse()) entry[name] = await sides[name]();
    onRound(entry);
    out.push(entry);
  }
  return out;
}

// The median over rounds of pick(round).
export const mid = (rounds, pick) => median(rounds.map(pick));

