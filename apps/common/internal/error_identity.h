// Internal: the (library, snake_case code name) of any exception, for the
// error table in exit_codes.h. Every coordkit library's error derives from
// coordkit::Error, which answers for itself; anything else has no identity.
#ifndef COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_
#define COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_

#include <exception>
#include <string>

#include "coordkit/base/error.h"

namespace coordkit::apps::internal {

struct ErrorIdentity {
  std::string library;    // "" when not a coordkit error
  std::string code_name;  // snake_case
};

// identify: the identity of `e` (library "" and code_name "" for an
// exception that is not coordkit's).
inline ErrorIdentity identify(const std::exception& e) {
  if (const auto* c = dynamic_cast<const coordkit::Error*>(&e)) {
    return {std::string(c->library()), std::string(c->code_name())};
  }
  return {};
}

}  // namespace coordkit::apps::internal

#endif  // COORDKIT_APPS_COMMON_INTERNAL_ERROR_IDENTITY_H_
