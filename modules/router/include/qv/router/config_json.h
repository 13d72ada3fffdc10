// The router configuration as JSON (docs/router.md, "Configuration"): read with errors that
// name the field, and written back as the configuration in force.
#pragma once

#include "qv/json.h"
#include "qv/result.h"
#include "qv/router/router.h"

namespace qv::router {

// Reads a configuration: what it omits keeps the defaults of default_config(). A region
// whose id is one of the four defaults takes the default's values for the fields it omits;
// any other region must give latitude, longitude, costFactor and origin. The result is
// validated.
Result<Config> parse_config(const JsonValue& json);

void write_config(JsonWriter& out, const Config& config);

}  // namespace qv::router
