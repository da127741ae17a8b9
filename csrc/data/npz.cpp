// The .npz reader: a zip archive of .npy members, read from its central directory (zip64 fields included, as
// np.savez writes them). Only stored members are accepted (no zlib); offsets, sizes, names and CRC-32 are checked.
#include <array>
#include <fstream>
#include <iterator>

#include "ember/data.h"

namespace ember {
namespace data {
namespace {

constexpr uint32_t kLocalHeader = 0x04034b50, kCentralHeader = 0x02014b50, kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50, kZip64End = 0x06064b50;

uint32_t crc32(const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Bounds-checked little-endian reads from the archive; errors name the file.
class Archive {
 public:
  Archive(std::vector<unsigned char> bytes, const std::string& path) : b_(std::move(bytes)), path_(path) {}
  size_t size() const { return b_.size(); }
  const unsigned char* at(uint64_t offset, uint64_t length, const char* what) const {
    EMBER_CHECK(offset <= b_.size() && length <= b_.size() - offset, ValueError, "load_npz: '", path_,
                "' is truncated or corrupt (", what, " at byte ", offset, " runs past the end of the file)");
    return b_.data() + offset;
  }
  uint64_t u(uint64_t offset, int bytes, const char* what) const {
    const unsigned char* p = at(offset, bytes, what);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
  }
  [[noreturn]] void fail(const std::string& message) const {
    throw ValueError(str("load_npz: '", path_, "': ", message));
  }

 private:
  std::vector<unsigned char> b_;
  const std::string& path_;
};

struct Directory {
  uint64_t entries, offset;
};

Directory find_directory(const Archive& a) {
  if (a.size() < 22) a.fail("not a zip archive (too short)");
  const uint64_t lowest = a.size() > 22 + 65535 ? a.size() - 22 - 65535 : 0;
  for (uint64_t pos = a.size() - 22 + 1; pos-- > lowest;) {
    if (a.u(pos, 4, "end of central directory") != kEndOfDirectory) continue;
    if (a.u(pos + 4, 2, "disk number") != 0 || a.u(pos + 6, 2, "disk number") != 0) a.fail("multi-disk archives are not supported");
    Directory d{a.u(pos + 10, 2, "entry count"), a.u(pos + 16, 4, "directory offset")};
    if (d.entries == 0xFFFF || d.offset == 0xFFFFFFFF) {   // zip64: the real values are in the zip64 record
      if (pos < 20 || a.u(pos - 20, 4, "zip64 locator") != kZip64Locator) a.fail("zip64 locator missing");
      uint64_t record = a.u(pos - 20 + 8, 8, "zip64 record offset");
      if (a.u(record, 4, "zip64 end record") != kZip64End) a.fail("zip64 end record missing");
      d.entries = a.u(record + 32, 8, "zip64 entry count");
      d.offset = a.u(record + 48, 8, "zip64 directory offset");
    }
    return d;
  }
  a.fail("not a zip archive (no end of central directory record)");
}

}  // namespace

std::vector<std::pair<std::string, NpyArray>> load_npz(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  EMBER_CHECK(file.good(), ValueError, "load_npz: cannot open '", path, "'");
  Archive a(std::vector<unsigned char>((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>()), path);
  const Directory dir = find_directory(a);
  std::vector<std::pair<std::string, NpyArray>> out;
  uint64_t pos = dir.offset;
  for (uint64_t e = 0; e < dir.entries; ++e) {
    if (a.u(pos, 4, "central directory entry") != kCentralHeader) a.fail(str("bad central directory entry ", e));
    const uint64_t flags = a.u(pos + 8, 2, "flags"), method = a.u(pos + 10, 2, "method");
    const uint32_t crc = static_cast<uint32_t>(a.u(pos + 16, 4, "crc"));
    uint64_t packed = a.u(pos + 20, 4, "size"), unpacked = a.u(pos + 24, 4, "size");
    const uint64_t name_len = a.u(pos + 28, 2, "name length"), extra_len = a.u(pos + 30, 2, "extra length");
    const uint64_t comment_len = a.u(pos + 32, 2, "comment length");
    uint64_t local = a.u(pos + 42, 4, "local header offset");
    const std::string name(reinterpret_cast<const char*>(a.at(pos + 46, name_len, "member name")), name_len);
    // zip64 extra field: 64-bit values for exactly the 32-bit fields that hold 0xFFFFFFFF, in this order
    for (uint64_t x = pos + 46 + name_len, end = x + extra_len; x + 4 <= end;) {
      const uint64_t id = a.u(x, 2, "extra field"), len = a.u(x + 2, 2, "extra field");
      if (id == 0x0001) {
        uint64_t field = x + 4;
        for (uint64_t* v : {&unpacked, &packed, &local}) {
          if (*v != 0xFFFFFFFF) continue;
          if (field + 8 > x + 4 + len) a.fail(str("member '", name, "': short zip64 extra field"));
          *v = a.u(field, 8, "zip64 field"), field += 8;
        }
      }
      x += 4 + len;
    }
    if (flags & 1) a.fail(str("member '", name, "' is encrypted"));
    if (method != 0)
      a.fail(str("member '", name, "' is compressed (zip method ", method, "); ember reads stored archives only: "
                 "re-save it with numpy.savez, not numpy.savez_compressed"));
    if (packed != unpacked) a.fail(str("member '", name, "': stored size ", packed, " != size ", unpacked));
    if (a.u(local, 4, "local header") != kLocalHeader) a.fail(str("member '", name, "': bad local header"));
    const uint64_t data = local + 30 + a.u(local + 26, 2, "name length") + a.u(local + 28, 2, "extra length");
    const unsigned char* bytes = a.at(data, packed, "member data");
    if (data + packed > dir.offset) a.fail(str("member '", name, "' overlaps the central directory"));
    if (crc32(bytes, packed) != crc) a.fail(str("member '", name, "' fails its CRC-32 check (corrupt file)"));
    const std::string suffix = ".npy";
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      a.fail(str("member '", name, "' is not a .npy array"));
    const std::string key = name.substr(0, name.size() - suffix.size());
    for (const auto& entry : out)
      if (entry.first == key) a.fail(str("member '", name, "' appears twice"));
    out.emplace_back(key, parse_npy(bytes, packed, str(path, ":", name)));
    pos += 46 + name_len + extra_len + comment_len;
  }
  return out;
}

}  // namespace data
}  // namespace ember
