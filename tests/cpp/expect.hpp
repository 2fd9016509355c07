// The embedding checks' one assertion: count a check, and print and count a failure.
#pragma once
#include <cstdio>
#include <string>

namespace embed_check {

inline int failures = 0;
inline int checks = 0;

inline void expect(bool ok, const std::string& what) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

}  // namespace embed_check
