// Exceptions thrown by the core; the bindings map them to Python's ValueError, TypeError, IndexError, ...
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace ember {

struct ValueError : std::invalid_argument { using std::invalid_argument::invalid_argument; };
struct TypeError : std::invalid_argument { using std::invalid_argument::invalid_argument; };
struct IndexError : std::out_of_range { using std::out_of_range::out_of_range; };
struct NotImplementedError : std::logic_error { using std::logic_error::logic_error; };
struct RuntimeError : std::runtime_error { using std::runtime_error::runtime_error; };
// MemoryError is std::bad_alloc; OutOfMemory is one that says which op asked for how much.
struct OutOfMemory : std::bad_alloc {
  explicit OutOfMemory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }
 private:
  std::string message_;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& first, const Rest&... rest) { os << first; append(os, rest...); }
}  // namespace detail

template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

}  // namespace ember

// EMBER_CHECK(cond, ErrorType, message parts...): throw ErrorType(message) when cond is false.
#define EMBER_CHECK(cond, Error, ...) \
  do { if (!(cond)) throw ::ember::Error(::ember::str(__VA_ARGS__)); } while (0)
