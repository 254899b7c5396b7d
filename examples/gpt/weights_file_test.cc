#include "examples/gpt/weights_file.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/env.h"
#include "runtime/tensor.h"

namespace braid::examples {
namespace {

using runtime::DType;
using runtime::Tensor;

class WeightsFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/weights_file_test_", getpid(), ".bin");
    a_ = *nn::MakeParameter({3, 4}, runtime::Device::Cpu());
    b_ = *nn::MakeParameter({5}, runtime::Device::Cpu(), /*weight_decay=*/false);
    for (int i = 0; i < 12; ++i) a_.value.data<float>()[i] = 0.5f * i - 1.0f;
    for (int i = 0; i < 5; ++i) b_.value.data<float>()[i] = -3.25f * i;
    params_ = {{"blocks.0.attn.qkv.weight", &a_}, {"norm_f.bias", &b_}};
  }
  void TearDown() override { std::remove(path_.c_str()); }

  std::string Bytes() { return *runtime::Env::Default()->ReadFile(path_); }
  void Write(const std::string& bytes) {
    ASSERT_TRUE(runtime::Env::Default()->WriteFileAtomically(path_, bytes).ok());
  }

  std::string path_;
  nn::Parameter a_, b_;
  std::vector<nn::NamedParameter> params_;
};

TEST_F(WeightsFileTest, RoundTripKeepsNamesShapesAndValues) {
  ASSERT_TRUE(SaveWeights(path_, params_).ok());
  absl::StatusOr<std::vector<nn::NamedTensor>> loaded = LoadWeights(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_EQ((*loaded)[0].name, "blocks.0.attn.qkv.weight");
  EXPECT_EQ((*loaded)[0].tensor.shape(), runtime::Shape({3, 4}));
  EXPECT_EQ((*loaded)[1].name, "norm_f.bias");
  for (int i = 0; i < 12; ++i) EXPECT_EQ((*loaded)[0].tensor.data<float>()[i], 0.5f * i - 1.0f);
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*loaded)[1].tensor.data<float>()[i], -3.25f * i);
  // Header: magic, version, count; 4 + 8 + 12 * 4 + ... ; trailer CRC.
  const std::string bytes = Bytes();
  EXPECT_EQ(bytes.substr(0, 8), "BRAIDWT1");
  const size_t expected = 8 + 4 + 4 + (4 + 24 + 4 + 16 + 48) + (4 + 11 + 4 + 8 + 20) + 4;
  EXPECT_EQ(bytes.size(), expected);
}

TEST_F(WeightsFileTest, AssignWeightsRestoresAModel) {
  ASSERT_TRUE(SaveWeights(path_, params_).ok());
  absl::StatusOr<std::vector<nn::NamedTensor>> loaded = LoadWeights(path_);
  ASSERT_TRUE(loaded.ok());
  ASSERT_TRUE(a_.value.Fill(0).ok());
  ASSERT_TRUE(b_.value.Fill(0).ok());
  ASSERT_TRUE(AssignWeights(*loaded, params_).ok());
  EXPECT_EQ(a_.value.data<float>()[11], 4.5f);
  EXPECT_EQ(b_.value.data<float>()[4], -13.0f);

  nn::Parameter other = *nn::MakeParameter({4, 3}, runtime::Device::Cpu());
  std::vector<nn::NamedParameter> wrong_shape = {{"blocks.0.attn.qkv.weight", &other},
                                                 {"norm_f.bias", &b_}};
  absl::Status s = AssignWeights(*loaded, wrong_shape);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("blocks.0.attn.qkv.weight"), std::string::npos) << s;
  std::vector<nn::NamedParameter> wrong_name = {{"x", &a_}, {"norm_f.bias", &b_}};
  EXPECT_EQ(AssignWeights(*loaded, wrong_name).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(WeightsFileTest, EveryCorruptionIsDataLoss) {
  ASSERT_TRUE(SaveWeights(path_, params_).ok());
  const std::string good = Bytes();
  // Any flipped byte: the CRC (or the magic) catches it.
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] ^= 0x10;
    Write(bad);
    EXPECT_EQ(LoadWeights(path_).status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
  // Any truncation.
  for (size_t n : {size_t{0}, size_t{5}, size_t{20}, good.size() - 1}) {
    Write(good.substr(0, n));
    EXPECT_EQ(LoadWeights(path_).status().code(), absl::StatusCode::kDataLoss) << n << " bytes";
  }
}

TEST_F(WeightsFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadWeights(path_ + ".missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace braid::examples
