// Internal: the (library, snake_case code name) of any exception, for the
// error table in exit_codes.h.
//
// A coordkit::Error answers for itself. The libraries' error types that do
// not derive from coordkit::Error yet (db, ipc, spawn, log at the time of
// writing) are recognised here, in this one place, and their code names put
// into snake_case. Once a library's Error derives from coordkit::Error, the
// first branch answers for it and its branch below is dead: delete it.
#ifndef COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_
#define COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_

#include <cctype>
#include <exception>
#include <string>
#include <string_view>

#include "coordkit/base/error.h"
#include "coordkit/db/error.h"
#include "coordkit/ipc/error.h"
#include "coordkit/log/error.h"
#include "coordkit/spawn/error.h"

namespace coordkit::apps::internal {

struct ErrorIdentity {
  std::string library;    // "" when not a coordkit error
  std::string code_name;  // snake_case
};

// snake_case: "WrongKeyOrNotADatabase" -> "wrong_key_or_not_a_database";
// an already snake_case name is returned as it is.
inline std::string snake_case(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (std::isupper(static_cast<unsigned char>(c)) != 0) {
      if (i != 0) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// name_of: the library's own name function for a code, whichever of the
// spellings it has (code_name after the rename, to_string or
// error_code_name before), so this file compiles on both sides of it.
template <class Code>
std::string name_of(Code code) {
  if constexpr (requires { code_name(code); }) {
    return snake_case(code_name(code));
  } else if constexpr (requires { to_string(code); }) {
    return snake_case(to_string(code));
  } else {
    return snake_case(error_code_name(code));
  }
}

// identify: the identity of `e` (library "" and code_name "" for an
// exception that is not coordkit's).
inline ErrorIdentity identify(const std::exception& e) {
  if (const auto* c = dynamic_cast<const coordkit::Error*>(&e)) {
    return {std::string(c->library()), std::string(c->code_name())};
  }
  if (const auto* d = dynamic_cast<const coordkit::db::Error*>(&e)) {
    return {"db", name_of(d->code())};
  }
  if (const auto* i = dynamic_cast<const coordkit::ipc::Error*>(&e)) {
    return {"ipc", name_of(i->code())};
  }
  if (const auto* s = dynamic_cast<const coordkit::spawn::Error*>(&e)) {
    return {"spawn", name_of(s->code())};
  }
  if (const auto* l = dynamic_cast<const coordkit::log::Error*>(&e)) {
    return {"log", name_of(l->code())};
  }
  return {};
}

}  // namespace coordkit::apps::internal

#endif  // COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_
