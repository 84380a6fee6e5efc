// ByteWriter / ByteReader: the small binary encoding of Pact's log records (decision log,
// participant log): little-endian fixed-width integers and length-prefixed strings. The WAL
// checksums each record; these helpers check structure (every read is bounds-checked and a
// record must be consumed exactly), so a decoder never reads past its input.
//
// Header-only, no state beyond the buffer; not thread-safe per instance.
#ifndef PACT_COMMON_BYTE_CODING_H_
#define PACT_COMMON_BYTE_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pact {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Fixed(v, 4); }
  void U64(uint64_t v) { Fixed(v, 8); }
  // A 32-bit length, then the bytes.
  void Bytes(std::string_view v) {
    U32(static_cast<uint32_t>(v.size()));
    out_.append(v);
  }
  const std::string& data() const { return out_; }
  std::string Release() { return std::move(out_); }

 private:
  void Fixed(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

// Every getter returns false (and leaves the reader failed) if the input is too short.
class ByteReader {
 public:
  explicit ByteReader(std::string_view in) : in_(in) {}

  bool U8(uint8_t* v) {
    uint64_t x;
    if (!Fixed(&x, 1)) return false;
    *v = static_cast<uint8_t>(x);
    return true;
  }
  bool U32(uint32_t* v) {
    uint64_t x;
    if (!Fixed(&x, 4)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool U64(uint64_t* v) { return Fixed(v, 8); }
  // Reads a length-prefixed string of at most `bytes_max` bytes.
  bool Bytes(std::string* v, uint32_t bytes_max) {
    uint32_t size;
    if (!U32(&size) || size > bytes_max || size > in_.size()) return Fail();
    v->assign(in_.substr(0, size));
    in_.remove_prefix(size);
    return true;
  }
  // True when every byte was consumed and no read failed.
  bool Done() const { return ok_ && in_.empty(); }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  bool Fixed(uint64_t* v, size_t bytes) {
    if (!ok_ || in_.size() < bytes) return Fail();
    uint64_t x = 0;
    for (size_t i = 0; i < bytes; ++i) {
      x |= uint64_t{static_cast<uint8_t>(in_[i])} << (8 * i);
    }
    in_.remove_prefix(bytes);
    *v = x;
    return true;
  }
  std::string_view in_;
  bool ok_ = true;
};

}  // namespace pact

#endif  // PACT_COMMON_BYTE_CODING_H_
