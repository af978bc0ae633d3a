// Internal: a non-owning reference to a callable, so the retry ladder is a
// plain function and the template surface of write()/read() stays thin.
#ifndef COORDKIT_DB_INTERNAL_FUNCTION_REF_H_
#define COORDKIT_DB_INTERNAL_FUNCTION_REF_H_

#include <memory>
#include <type_traits>
#include <utility>

namespace coordkit::db::internal {

template <class Sig>
class FunctionRef;

// FunctionRef: valid only while the referenced callable lives.
template <class R, class... Args>
class FunctionRef<R(Args...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::remove_cvref_t<F>, FunctionRef>>>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor)
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

}  // namespace coordkit::db::internal

#endif  // COORDKIT_DB_INTERNAL_FUNCTION_REF_H_
