// The parts of a cost method's input, read as the methods read them (docs/cost.md): the
// usage, the catalogue (else the embedded one), the tiers and the scale. A usage, catalogue
// or tiers may be given as an object or as the text of its file (a JSON string): its errors
// then give the line and column within that text. The methods read their inputs by these,
// and bench/cost_native.cpp reads an estimate input by them as cost.estimate does.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "qv/cost/catalogue.h"
#include "qv/cost/estimate.h"
#include "qv/cost/usage.h"
#include "qv/json.h"
#include "qv/result.h"

namespace qv::cost {

// A document within the input: an object, or the text of a file given as a JSON string.
// For a text, text and root say where its field paths point, for positioned errors (core
// positions the input's own: an object's).
struct Document {
  JsonValue value;
  std::string_view text;
  std::string root;

  // The error with its field's line and column in the text, for a document given as text.
  Error positioned(Error error) const;
};

// The catalogue compiled into the module, parsed on its first use and kept.
class EmbeddedCatalogue {
 public:
  Result<std::shared_ptr<const Catalogue>> get();

 private:
  bool loaded_ = false;
  std::shared_ptr<const Catalogue> catalogue_;
  Error error_;
};

// The input's "catalogue" when given (not null), parsed by `parser` when it is a text; else
// the embedded one.
Result<std::shared_ptr<const Catalogue>> input_catalogue(const JsonObject& fields,
                                                         JsonParser& parser,
                                                         EmbeddedCatalogue& embedded);

// The usage in field `name` (required), with the document it came from (an estimate's
// errors are positioned in it).
struct InputUsage {
  Usage usage;
  Document source;
};
Result<InputUsage> input_usage(const JsonObject& fields, std::string_view name, JsonParser& parser);

// The input's "tiers" (the shape tiers.catalogue answers), when given (not null).
Result<std::optional<TierCatalogue>> input_tiers(const JsonObject& fields, JsonParser& parser);

// The input's "scale": above 0 and at most 1000000; 1 when absent.
Result<double> input_scale(const JsonObject& fields);

}  // namespace qv::cost
