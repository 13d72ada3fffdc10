// Histogram logs: a run's result, one line per second and request name, in a text file that
// `qv loadtest merge` adds up with the logs of other machines (vegeta's and Gatling's way of
// spreading one load test over several machines, with HdrHistogram's exact merging).
//
// The format is ours (HdrHistogram's interval log compresses its histograms with zlib and
// base64; these are plain text, sparse, and carry the counters a summary needs besides):
//   #qv-loadtest-histogram-log 4
//   #histogram lowest_us=0 highest_us=3600000000 significant_digits=3   (lowest_us=1 read too)
//   #info scenario=NAME executor=KIND target=URL corrected=0|1 threads=N machines=N
//         started_unix_ms=T duration_us=D aborted=0|1 abort_reason=TEXT
//                                                 (a merge's log repeats scenario=, executor=,
//                                                 target= and abort_reason= for each of its
//                                                 names and reasons)
//   #address ORIGIN ADDRESS                       one per origin: where its connections went
//                                                 (a reader that knows no such line skips it as a
//                                                 comment)
//   #request NAME [CHECK...]                      one per request name, in index order
//   #threshold METRIC EXPRESSION abortOnFail delayAbortEval_us
//   I START_UNIX_MS LENGTH_MS ITERATIONS DROPPED VUS VUS_MAX DELAYED   an interval; R lines follow
//   R INDEX REQUESTS FAILED SENT RECEIVED E0..E5 CHECKS LATENCY UNCORRECTED
//     CONNECTING TLS_HANDSHAKING SENDING WAITING RECEIVING TLS_RESUMED INTERRUPTED
//     PROTOCOL_REASONS (COUNT:REASON,... or "-"; reasons percent-encoded, ',' too)
// Every line ends with a line break (a log whose last line has none was cut short and is
// refused). Fields are separated by one space; names and texts are percent-encoded; CHECKS is
// "passes/fails,..." or "-"; the histograms are SparseHistogram::encode(). Version 1 logs
// (R lines without the five phases and TLS_RESUMED), version 2 logs (without INTERRUPTED:
// requests unanswered when the run ended, and PROTOCOL_REASONS) and version 3 logs (I lines
// without DELAYED) are read as well.
#pragma once

#include <string>
#include <vector>

#include "result.h"
#include "run_result.h"

namespace qv::loadtest {

std::string write_histogram_log(const RunResult& result);
Status write_histogram_log_file(const RunResult& result, const std::string& path);

// `source` names the text in errors ("a.log:12: ..."). A log of an aborted run that gives no
// reason reads with "for a reason its log does not record".
Result<RunResult> read_histogram_log(const std::string& text, const std::string& source);
Result<RunResult> read_histogram_log_file(const std::string& path);

// Adds results up: request names matched by name (checks by name), intervals by their start
// second, histograms added bucket by bucket, the time span the union of all.
RunResult merge_results(const std::vector<RunResult>& results);

}  // namespace qv::loadtest
