// Where a client is assumed to be when its request carries a country
// (x-vercel-ip-country) but no coordinates: the rough population centre of the country's
// part of the world. Coarse on purpose: fifteen points are enough to tell which of a few
// regions is nearest, and the table stays a few hundred bytes of the wasm bundle. Codes
// are ISO 3166-1 alpha-2; the grouping follows the UN geoscheme loosely (the Middle East
// apart from the rest of Asia, Mexico with Central America).
#include "qv/router/router.h"

namespace qv::router {

namespace {

struct Zone {
  GeoPoint centre;
  const char* countries;  // two-letter codes separated by one space
};

const Zone kZones[] = {
    // North America
    {{39, -90}, "US CA BM GL PM UM"},
    // Mexico, Central America, the Caribbean
    {{17, -85},
     "MX GT BZ SV HN NI CR PA CU JM HT DO PR BS BB TT AG DM GD KN LC VC AW CW SX BQ "
     "KY TC VG VI AI MS GP MQ BL MF"},
    // South America
    {{-15, -55}, "BR AR CL UY PY BO PE EC CO VE GY SR GF FK GS"},
    // Europe, with Russia (most of its people live west of the Urals)
    {{50, 10},
     "GB IE FR DE NL BE LU CH AT IT ES PT AD MC SM VA MT DK NO SE FI IS FO AX SJ EE "
     "LV LT PL CZ SK HU SI HR BA RS ME MK AL GR BG RO MD UA BY RU GI IM JE GG LI XK"},
    // The Middle East and the Caucasus
    {{32, 45}, "TR CY GE AM AZ IR IQ SY LB JO IL PS SA YE OM AE QA BH KW"},
    // North Africa
    {{30, 15}, "EG LY TN DZ MA EH SD"},
    // West and Central Africa
    {{6, 8}, "NG GH CI SN ML BF NE GN SL LR TG BJ GM GW CV MR CM TD CF GQ GA CG CD ST AO"},
    // East Africa and the Indian Ocean islands
    {{0, 37}, "ET ER DJ SO KE UG TZ RW BI SS MG MU SC KM YT RE"},
    // Southern Africa
    {{-25, 25}, "ZA NA BW ZW ZM MW MZ LS SZ SH"},
    // Central Asia
    {{43, 65}, "KZ UZ TM KG TJ AF"},
    // South Asia
    {{22, 78}, "IN PK BD LK NP BT MV IO"},
    // East Asia
    {{33, 115}, "CN JP KR KP TW HK MO MN"},
    // South-East Asia
    {{5, 110}, "SG MY ID TH VN PH MM KH LA BN TL CX CC"},
    // Oceania
    {{-28, 145}, "AU NZ PG FJ SB VU NC PF WS TO KI TV NR FM MH PW GU MP AS CK NU TK WF PN NF HM"},
    // Antarctica and the southern islands
    {{-75, 0}, "AQ BV TF"},
};

}  // namespace

std::optional<GeoPoint> country_location(std::string_view country) {
  if (country.size() != 2) return std::nullopt;
  for (const Zone& zone : kZones) {
    for (const char* code = zone.countries; *code; code += code[2] ? 3 : 2) {
      if (code[0] == country[0] && code[1] == country[1]) return zone.centre;
    }
  }
  return std::nullopt;
}

}  // namespace qv::router
