#include "harness/json.h"

#include <cmath>
#include <cstdio>

namespace mb::harness {

namespace {

const Json& null_json() {
  static const Json j;
  return j;
}

void escape(const std::string& s, std::string* out) {
  *out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': *out += "\\\""; break;
      case '\\': *out += "\\\\"; break;
      case '\n': *out += "\\n"; break;
      case '\t': *out += "\\t"; break;
      case '\r': *out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          *out += buf;
        } else {
          *out += char(c);
        }
    }
  }
  *out += '"';
}

}  // namespace

Json& Json::set(const std::string& key, Json v) {
  for (auto& [k, x] : obj_)
    if (k == key) return x = std::move(v);
  obj_.emplace_back(key, std::move(v));
  return obj_.back().second;
}

const Json& Json::operator[](const std::string& key) const {
  for (auto& [k, x] : obj_)
    if (k == key) return x;
  return null_json();
}

bool Json::has(const std::string& key) const {
  for (auto& [k, x] : obj_)
    if (k == key) return true;
  return false;
}

Json& Json::push(Json v) {
  arr_.push_back(std::move(v));
  return arr_.back();
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(&out, indent, 0);
  out += '\n';
  return out;
}

void Json::dump_to(std::string* out, int indent, int depth) const {
  // Arrays of scalars stay on one line; containers nest with `indent` spaces.
  auto newline = [&](int d) {
    if (indent <= 0) return;
    *out += '\n';
    out->append(std::size_t(d * indent), ' ');
  };
  switch (kind_) {
    case Kind::null: *out += "null"; break;
    case Kind::boolean: *out += b_ ? "true" : "false"; break;
    case Kind::number: {
      if (!std::isfinite(d_)) {
        *out += "null";  // JSON has no NaN or infinity
      } else if (d_ == std::floor(d_) && std::fabs(d_) < 9.007199254740992e15) {
        *out += std::to_string(std::int64_t(d_));
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", d_);
        *out += buf;
      }
      break;
    }
    case Kind::string: escape(s_, out); break;
    case Kind::array: {
      bool flat = true;
      for (const Json& x : arr_) flat = flat && x.kind_ != Kind::array && x.kind_ != Kind::object;
      *out += '[';
      for (std::size_t i = 0; i < arr_.size(); ++i) {
        if (i) *out += flat ? ", " : ",";
        if (!flat) newline(depth + 1);
        arr_[i].dump_to(out, indent, depth + 1);
      }
      if (!flat && !arr_.empty()) newline(depth);
      *out += ']';
      break;
    }
    case Kind::object: {
      *out += '{';
      for (std::size_t i = 0; i < obj_.size(); ++i) {
        if (i) *out += ',';
        newline(depth + 1);
        escape(obj_[i].first, out);
        *out += ": ";
        obj_[i].second.dump_to(out, indent, depth + 1);
      }
      if (!obj_.empty()) newline(depth);
      *out += '}';
      break;
    }
  }
}

}  // namespace mb::harness
