// The .npy reader: the magic, version, header dict ('descr', 'fortran_order', 'shape'), the type code and the exact
// data size are all checked; errors name the file and what was wrong. No allocation beyond the result.
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "ember/data.h"

namespace ember {
namespace data {
namespace {

uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A recursive-descent reader of the header: a Python dict literal with string keys whose values are strings,
// True/False or tuples of non-negative ints.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& what) : s_(text), what_(what) {}

  void parse(std::string& descr, bool& fortran_order, Shape& shape) {
    bool has_descr = false, has_order = false, has_shape = false;
    expect('{');
    while (!peek('}')) {
      std::string key = string_literal();
      expect(':');
      if (key == "descr") {
        EMBER_CHECK(!peek('['), ValueError, what_, ": structured (record) dtypes are not supported");
        descr = string_literal(), has_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean(), has_order = true;
      } else if (key == "shape") {
        shape = int_tuple(), has_shape = true;
      } else {
        fail(str("unexpected key '", key, "' in the header"));
      }
      if (!peek('}')) expect(',');
    }
    expect('}');
    skip_space();
    EMBER_CHECK(pos_ == s_.size(), ValueError, what_, ": unexpected text after the header dict");
    EMBER_CHECK(has_descr && has_order && has_shape, ValueError, what_,
                ": the header must give 'descr', 'fortran_order' and 'shape'");
  }

 private:
  [[noreturn]] void fail(const std::string& message) const {
    throw ValueError(str(what_, ": malformed .npy header (", message, " at character ", pos_, ")"));
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\n' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  void expect(char c) {
    if (!peek(c)) fail(str("expected '", c, "'"));
    ++pos_;
  }
  std::string string_literal() {
    skip_space();
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) fail("expected a quoted string");
    char quote = s_[pos_++];
    size_t end = s_.find(quote, pos_);
    if (end == std::string::npos) fail("unterminated string");
    std::string out = s_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  bool boolean() {
    skip_space();
    if (s_.compare(pos_, 4, "True") == 0) return pos_ += 4, true;
    if (s_.compare(pos_, 5, "False") == 0) return pos_ += 5, false;
    fail("expected True or False");
  }
  Shape int_tuple() {
    Shape shape;
    expect('(');
    while (!peek(')')) {
      skip_space();
      int64_t v = 0;
      size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
        EMBER_CHECK(v <= (std::numeric_limits<int64_t>::max() - 9) / 10, ValueError, what_, ": a dimension of the "
                    "shape is too large");
        v = v * 10 + (s_[pos_++] - '0');
      }
      if (pos_ == start) fail("expected a non-negative integer in the shape");
      shape.push_back(v);
      if (!peek(')')) expect(',');
    }
    expect(')');
    return shape;
  }

  const std::string& s_;
  const std::string& what_;
  size_t pos_ = 0;
};

template <typename T>
T load_value(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));   // little-endian host (x86-64, AArch64), as the bytes
  return v;
}

// Calls f(value) with each stored element as int64, uint64 or double (by kind and size).
template <typename F>
void for_each_value(const NpyArray& a, F&& f) {
  const unsigned char* p = a.bytes.data();
  const int64_t n = a.numel();
  for (int64_t i = 0; i < n; ++i, p += a.itemsize) {
    if (a.kind == 'b') f(static_cast<int64_t>(*p != 0));
    else if (a.kind == 'f') f(a.itemsize == 4 ? static_cast<double>(load_value<float>(p)) : load_value<double>(p));
    else if (a.kind == 'i')
      f(a.itemsize == 1 ? int64_t{load_value<int8_t>(p)} : a.itemsize == 2 ? int64_t{load_value<int16_t>(p)}
        : a.itemsize == 4 ? int64_t{load_value<int32_t>(p)} : load_value<int64_t>(p));
    else
      f(a.itemsize == 1 ? uint64_t{*p} : a.itemsize == 2 ? uint64_t{load_value<uint16_t>(p)}
        : a.itemsize == 4 ? uint64_t{load_value<uint32_t>(p)} : load_value<uint64_t>(p));
  }
}

}  // namespace

int64_t NpyArray::numel() const { return checked_numel(shape, "NpyArray"); }

std::string NpyArray::descr() const { return str(itemsize == 1 ? '|' : '<', kind, itemsize); }

Tensor NpyArray::to_tensor(DType dtype) const {
  EMBER_CHECK(!(kind == 'f' && !is_floating(dtype)), TypeError, "NpyArray.to_tensor: float data (", descr(),
              ") cannot become ", dtype_name(dtype), " (it would truncate)");
  Tensor t = empty(shape, dtype);
  dispatch_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* out = t.data<T>();
    for_each_value(*this, [&](auto v) {
      using V = decltype(v);
      if constexpr (std::is_same_v<T, bool>) {
        *out++ = v != 0;
      } else if constexpr (std::is_same_v<T, int64_t> && std::is_same_v<V, uint64_t>) {
        EMBER_CHECK(v <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), ValueError,
                    "NpyArray.to_tensor: value ", v, " does not fit in int64");
        *out++ = static_cast<int64_t>(v);
      } else {
        *out++ = static_cast<T>(v);
      }
    });
  });
  return t;
}

NpyArray parse_npy(const unsigned char* data, size_t size, const std::string& what) {
  static const unsigned char kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  EMBER_CHECK(size >= 10 && std::memcmp(data, kMagic, 6) == 0, ValueError, what,
              ": not a .npy file (the magic string \\x93NUMPY is missing)");
  const int major = data[6];
  EMBER_CHECK(major >= 1 && major <= 3, ValueError, what, ": unsupported .npy format version ", major, ".", int(data[7]));
  const size_t prefix = major == 1 ? 10 : 12;
  EMBER_CHECK(size >= prefix, ValueError, what, ": truncated .npy header");
  const size_t header_len = read_le(data + 8, major == 1 ? 2 : 4);
  EMBER_CHECK(header_len <= size - prefix, ValueError, what, ": the .npy header length (", header_len,
              ") runs past the end of the data (", size, " bytes)");
  std::string header(reinterpret_cast<const char*>(data + prefix), header_len);
  std::string descr;
  bool fortran_order = false;
  NpyArray a;
  HeaderParser(header, what).parse(descr, fortran_order, a.shape);

  EMBER_CHECK(descr.size() >= 3, ValueError, what, ": unsupported dtype '", descr, "'");
  const char order = descr[0];
  a.kind = descr[1];
  const std::string size_text = descr.substr(2);
  a.itemsize = size_text == "1" ? 1 : size_text == "2" ? 2 : size_text == "4" ? 4 : size_text == "8" ? 8 : 0;
  const bool kind_ok = (a.kind == 'b' && a.itemsize == 1) || ((a.kind == 'i' || a.kind == 'u') && a.itemsize > 0) ||
                       (a.kind == 'f' && (a.itemsize == 4 || a.itemsize == 8));
  EMBER_CHECK(kind_ok, TypeError, what, ": unsupported dtype '", descr, "' (supported: bool, int8..int64, "
              "uint8..uint64, float32, float64)");
  EMBER_CHECK(order == '<' || order == '|' || order == '=', TypeError, what, ": dtype '", descr,
              "' is big-endian; only little-endian data is supported");
  EMBER_CHECK(!fortran_order || a.shape.size() <= 1, ValueError, what,
              ": Fortran-order arrays are not supported (save a C-contiguous array)");
  const int64_t numel = checked_numel(a.shape, "load_npy");
  const size_t body = size - prefix - header_len;
  EMBER_CHECK(static_cast<uint64_t>(numel) <= std::numeric_limits<uint64_t>::max() / a.itemsize &&
              static_cast<uint64_t>(numel) * a.itemsize == body, ValueError, what, ": expected ",
              numel, " elements of ", a.itemsize, " bytes for shape ", shape_str(a.shape), ", found ", body,
              " data bytes");
  a.bytes.assign(data + prefix + header_len, data + size);
  return a;
}

NpyArray load_npy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  EMBER_CHECK(file.good(), ValueError, "load_npy: cannot open '", path, "'");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return parse_npy(bytes.data(), bytes.size(), path);
}

}  // namespace data
}  // namespace ember
