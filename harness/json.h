// A small JSON value: enough to build the run document and to let tests read
// it back. Objects keep insertion order, so documents diff cleanly.
#ifndef MAPBENCH_HARNESS_JSON_H_
#define MAPBENCH_HARNESS_JSON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mb::harness {

class Json {
 public:
  enum class Kind : std::uint8_t { null, boolean, number, string, array, object };

  Json() = default;
  Json(bool b) : kind_(Kind::boolean), b_(b) {}
  Json(double d) : kind_(Kind::number), d_(d) {}
  Json(int i) : Json(double(i)) {}
  Json(unsigned i) : Json(double(i)) {}
  Json(std::uint64_t i) : Json(double(i)) {}
  Json(std::int64_t i) : Json(double(i)) {}
  Json(const char* s) : kind_(Kind::string), s_(s) {}
  Json(std::string s) : kind_(Kind::string), s_(std::move(s)) {}

  static Json array() {
    Json j;
    j.kind_ = Kind::array;
    return j;
  }
  static Json object() {
    Json j;
    j.kind_ = Kind::object;
    return j;
  }
  template <class T>
  static Json array_of(const std::vector<T>& v) {
    Json j = array();
    for (const T& x : v) j.push(Json(x));
    return j;
  }

  Kind kind() const { return kind_; }
  // Object: set (replacing) / get (null Json when absent).
  Json& set(const std::string& key, Json v);
  const Json& operator[](const std::string& key) const;
  bool has(const std::string& key) const;
  const std::vector<std::pair<std::string, Json>>& items() const { return obj_; }
  // Array.
  Json& push(Json v);
  const std::vector<Json>& elements() const { return arr_; }
  std::size_t size() const { return kind_ == Kind::array ? arr_.size() : obj_.size(); }

  double num() const { return d_; }
  bool boolean() const { return b_; }
  const std::string& str() const { return s_; }

  std::string dump(int indent = 1) const;

 private:
  void dump_to(std::string* out, int indent, int depth) const;
  Kind kind_ = Kind::null;
  bool b_ = false;
  double d_ = 0;
  std::string s_;
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
};

}  // namespace mb::harness

#endif  // MAPBENCH_HARNESS_JSON_H_
