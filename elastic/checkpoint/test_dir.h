// A fresh directory per test under gtest's TempDir(), removed at the end.
#ifndef BRAID_ELASTIC_CHECKPOINT_TEST_DIR_H_
#define BRAID_ELASTIC_CHECKPOINT_TEST_DIR_H_

#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "elastic/checkpoint/file_util.h"
#include "gtest/gtest.h"

namespace braid::elastic::checkpoint {

class ScopedTestDir {
 public:
  ScopedTestDir() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name =
        absl::StrCat("braid_ckpt_", info->test_suite_name(), "_", info->name(), "_", getpid());
    for (char& c : name) {
      if (c == '/' || c == '<' || c == '>' || c == ' ' || c == ',') c = '_';
    }
    path_ = absl::StrCat(::testing::TempDir(), "/", name);
    EXPECT_TRUE(RemoveTree(path_).ok());
  }
  ~ScopedTestDir() { (void)RemoveTree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace braid::elastic::checkpoint

#endif  // BRAID_ELASTIC_CHECKPOINT_TEST_DIR_H_
