// The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched)
// with the summary, latency percentiles over time, throughput and errors over time, VUs,
// and the percentile spectrum (HdrHistogram's plot: latency against 1/(1-percentile)).
#pragma once

#include <string>
#include <vector>

#include "result.h"
#include "run_result.h"
#include "thresholds.h"

namespace qv::loadtest {

std::string report_html(const RunResult& result, const std::vector<ThresholdOutcome>& outcomes);
Status write_text_file(const std::string& path, const std::string& text);

}  // namespace qv::loadtest
