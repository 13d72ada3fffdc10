#include "qv/cost/input.h"

#include <utility>

#include "qv/json_text.h"

namespace qv::cost {

namespace {

// The field's document: the field itself, or the text it gives parsed by `parser`.
Result<Document> document(const JsonValue& field, JsonParser& parser) {
  if (auto text = field.string(); text.ok()) {
    auto parsed = parser.parse(text.value(), field.path());
    if (!parsed.ok()) return parsed.take_error();
    return Document{parsed.value(), text.value(), field.path()};
  }
  return Document{field, {}, ""};
}

}  // namespace

Error Document::positioned(Error error) const {
  return with_position(std::move(error), text, root);
}

Result<std::shared_ptr<const Catalogue>> EmbeddedCatalogue::get() {
  if (!loaded_) {
    loaded_ = true;
    JsonParser parser;
    auto root = parser.parse(embedded_catalogue_json());
    auto catalogue =
        root.ok() ? parse_catalogue(root.value()) : Result<Catalogue>(root.take_error());
    if (catalogue.ok()) {
      catalogue_ = std::make_shared<const Catalogue>(std::move(catalogue.value()));
    } else {
      error_ = {QV_INTERNAL,
                "catalogue: the embedded catalogue is invalid (" + catalogue.error().message + ")"};
    }
  }
  if (!catalogue_) return error_;
  return catalogue_;
}

Result<std::shared_ptr<const Catalogue>> input_catalogue(const JsonObject& fields,
                                                         JsonParser& parser,
                                                         EmbeddedCatalogue& embedded) {
  auto field = fields.find("catalogue");
  if (!field || field->is_null()) return embedded.get();
  auto doc = document(*field, parser);
  if (!doc.ok()) return doc.take_error();
  auto catalogue = parse_catalogue(doc.value().value);
  if (!catalogue.ok()) return doc.value().positioned(catalogue.take_error());
  return std::make_shared<const Catalogue>(std::move(catalogue.value()));
}

Result<InputUsage> input_usage(const JsonObject& fields, std::string_view name,
                               JsonParser& parser) {
  auto field = fields.required(name);
  if (!field.ok()) return field.take_error();
  auto doc = document(field.value(), parser);
  if (!doc.ok()) return doc.take_error();
  auto usage = parse_usage(doc.value().value);
  if (!usage.ok()) return doc.value().positioned(usage.take_error());
  return InputUsage{std::move(usage.value()), doc.value()};
}

Result<std::optional<TierCatalogue>> input_tiers(const JsonObject& fields, JsonParser& parser) {
  auto field = fields.find("tiers");
  if (!field || field->is_null()) return std::optional<TierCatalogue>();
  auto doc = document(*field, parser);
  if (!doc.ok()) return doc.take_error();
  auto tiers = parse_tier_catalogue(doc.value().value);
  if (!tiers.ok()) return doc.value().positioned(tiers.take_error());
  return std::optional<TierCatalogue>(std::move(tiers.value()));
}

Result<double> input_scale(const JsonObject& fields) {
  auto field = fields.find("scale");
  if (!field) return 1.0;
  auto number = field->number();  // null too is refused: JSON writes NaN and Infinity as null
  if (!number.ok()) return number.take_error();
  if (!(number.value() > 0) || !(number.value() <= 1e6)) {
    return invalid_input(field->where() + ": must be above 0 and at most 1000000");
  }
  return number.value();
}

}  // namespace qv::cost
