#include "elastic/checkpoint/format.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "elastic/checkpoint/file_util.h"
#include "runtime/crc32c.h"
#include "runtime/dtype.h"
#include "runtime/status_macros.h"

namespace braid::elastic::checkpoint {
namespace {

using runtime::Crc32c;
using runtime::Crc32cExtend;
using runtime::Tensor;

constexpr char kShardMagic[8] = {'B', 'R', 'A', 'I', 'D', 'C', 'K', '1'};
constexpr char kShardEndMagic[8] = {'B', 'R', 'A', 'I', 'D', 'C', 'K', 'E'};
constexpr char kManifestMagic[8] = {'B', 'R', 'A', 'I', 'D', 'M', 'F', '1'};
constexpr uint64_t kPreambleBytes = 16;
constexpr uint64_t kFooterBytes = 16;

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

absl::Status Corrupt(absl::string_view path, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("checkpoint file ", path, ": ", what, "; the file is corrupt or truncated"));
}

// A contiguous CPU tensor with the same elements (the tensor itself when it
// already is one).
absl::StatusOr<Tensor> HostContiguous(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous()) return t;
  if (!t.device().is_cpu()) return t.To(runtime::Device::Cpu());
  return t.Contiguous();
}

absl::Status PReadAll(int fd, uint64_t offset, void* data, uint64_t size, const std::string& path) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n =
        ::pread(fd, p, std::min<uint64_t>(size, uint64_t{1} << 30), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::InternalError(
          absl::StrCat("checkpoint: cannot read ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) return Corrupt(path, absl::StrCat("unexpected end of file at byte ", offset));
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint: tensor name '", name.substr(0, 64),
                                                   "' has ", name.size(),
                                                   " bytes; names must have 1..", kMaxNameBytes));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ShardFileName(int rank) { return absl::StrCat("rank-", rank, ".bin"); }

absl::StatusOr<ShardWriteResult> WriteShardFile(const std::string& path, int64_t step, int rank,
                                                int world_size,
                                                absl::Span<const NamedTensor> tensors,
                                                const std::map<std::string, uint64_t>& values,
                                                bool sync, const FaultHook& fault_hook) {
  absl::flat_hash_set<absl::string_view> names;
  for (const NamedTensor& nt : tensors) {
    BRAID_RETURN_IF_ERROR(CheckName(nt.name));
    if (!names.insert(nt.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint: tensor '", nt.name,
                                                     "' appears twice in the save of rank ", rank,
                                                     "; give every tensor a unique name"));
    }
    if (!nt.tensor.defined()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint: tensor '", nt.name, "' is undefined"));
    }
    if (nt.tensor.ndim() > kMaxDims) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint: tensor '", nt.name, "' has ",
                                                     nt.tensor.ndim(), " dims (at most ", kMaxDims,
                                                     ")"));
    }
  }
  for (const auto& [key, value] : values) BRAID_RETURN_IF_ERROR(CheckName(key));

  BRAID_ASSIGN_OR_RETURN(DurableFile file, DurableFile::Create(path + ".tmp"));
  char preamble[kPreambleBytes] = {};
  std::memcpy(preamble, kShardMagic, 8);
  PutU32(preamble + 8, kFormatVersion);
  BRAID_RETURN_IF_ERROR(file.Append(preamble, sizeof(preamble)));

  checkpointpb::ShardHeader header;
  header.set_format_version(kFormatVersion);
  header.set_step(step);
  header.set_rank(rank);
  header.set_world_size(world_size);
  for (const auto& [key, value] : values) (*header.mutable_values())[key] = value;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const NamedTensor& nt = tensors[i];
    BRAID_ASSIGN_OR_RETURN(Tensor host, HostContiguous(nt.tensor));
    checkpointpb::TensorRecord* record = header.add_tensors();
    record->set_name(nt.name);
    record->set_dtype(std::string(runtime::ToString(host.dtype())));
    for (int64_t d : host.shape()) record->add_shape(d);
    record->set_offset(file.size());
    record->set_size_bytes(host.nbytes());
    record->set_crc32c(host.nbytes() == 0 ? 0u : Crc32c(host.raw_data(), host.nbytes()));
    if (host.nbytes() > 0) BRAID_RETURN_IF_ERROR(file.Append(host.raw_data(), host.nbytes()));
    if (i == 0 && fault_hook) fault_hook("shard_partial");
  }
  std::string header_bytes;
  if (!header.SerializeToString(&header_bytes)) {
    return absl::InternalError("checkpoint: cannot serialize the shard header (protobuf)");
  }
  if (header_bytes.size() > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint: the shard index of rank ", rank, " is ", header_bytes.size(),
        " bytes, over the limit of ", kMaxHeaderBytes, "; save fewer, larger tensors"));
  }
  BRAID_RETURN_IF_ERROR(file.Append(header_bytes.data(), header_bytes.size()));
  ShardWriteResult result;
  result.header_crc32c = Crc32c(header_bytes.data(), header_bytes.size());
  result.num_tensors = tensors.size();
  char footer[kFooterBytes];
  PutU32(footer, static_cast<uint32_t>(header_bytes.size()));
  PutU32(footer + 4, result.header_crc32c);
  std::memcpy(footer + 8, kShardEndMagic, 8);
  BRAID_RETURN_IF_ERROR(file.Append(footer, sizeof(footer)));
  result.file_bytes = file.size();
  BRAID_RETURN_IF_ERROR(file.Commit(path, sync));
  if (fault_hook) fault_hook("shard_durable");
  return result;
}

absl::StatusOr<ShardContents> ReadShardFile(const std::string& path,
                                            const checkpointpb::ShardEntry* expected,
                                            bool read_tensors) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string text =
        absl::StrCat("checkpoint: cannot open ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(text) : absl::InternalError(text);
  }
  absl::Cleanup closer = [fd] { ::close(fd); };
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::InternalError(absl::StrCat("checkpoint: cannot stat ", path));
  }
  ShardContents out;
  out.file_bytes = static_cast<uint64_t>(st.st_size);
  if (expected != nullptr && out.file_bytes != expected->file_bytes()) {
    return Corrupt(path, absl::StrCat("size is ", out.file_bytes, " bytes, the manifest says ",
                                      expected->file_bytes()));
  }
  if (out.file_bytes < kPreambleBytes + kFooterBytes) {
    return Corrupt(path, absl::StrCat("only ", out.file_bytes, " bytes"));
  }
  char preamble[kPreambleBytes];
  BRAID_RETURN_IF_ERROR(PReadAll(fd, 0, preamble, kPreambleBytes, path));
  if (std::memcmp(preamble, kShardMagic, 8) != 0) return Corrupt(path, "bad magic at byte 0");
  if (GetU32(preamble + 8) != kFormatVersion) {
    return Corrupt(path, absl::StrCat("format version ", GetU32(preamble + 8),
                                      ", this reader knows ", kFormatVersion));
  }
  if (GetU32(preamble + 12) != 0) return Corrupt(path, "reserved bytes 12..15 are not zero");
  char footer[kFooterBytes];
  const uint64_t footer_at = out.file_bytes - kFooterBytes;
  BRAID_RETURN_IF_ERROR(PReadAll(fd, footer_at, footer, kFooterBytes, path));
  if (std::memcmp(footer + 8, kShardEndMagic, 8) != 0) {
    return Corrupt(path, absl::StrCat("bad end magic at byte ", footer_at + 8));
  }
  const uint64_t header_bytes = GetU32(footer);
  if (header_bytes > kMaxHeaderBytes || header_bytes > footer_at - kPreambleBytes) {
    return Corrupt(path, absl::StrCat("header length ", header_bytes, " does not fit"));
  }
  const uint64_t data_end = footer_at - header_bytes;
  std::string header(header_bytes, '\0');
  BRAID_RETURN_IF_ERROR(PReadAll(fd, data_end, header.data(), header_bytes, path));
  out.header_crc32c = GetU32(footer + 4);
  if (Crc32c(header.data(), header.size()) != out.header_crc32c) {
    return Corrupt(path, absl::StrCat("header CRC-32C mismatch (header at byte ", data_end, ")"));
  }
  if (expected != nullptr && out.header_crc32c != expected->header_crc32c()) {
    return Corrupt(path, "header CRC-32C differs from the manifest's (a file of another save)");
  }
  if (!out.header.ParseFromString(header)) return Corrupt(path, "header does not parse");
  uint64_t next = kPreambleBytes;
  for (const checkpointpb::TensorRecord& r : out.header.tensors()) {
    absl::StatusOr<runtime::DType> dtype = runtime::ParseDType(r.dtype());
    if (!dtype.ok())
      return Corrupt(path, absl::StrCat("tensor '", r.name(), "': ", dtype.status().message()));
    if (r.shape_size() > kMaxDims)
      return Corrupt(path, absl::StrCat("tensor '", r.name(), "' has too many dims"));
    uint64_t numel = 1;
    for (int64_t d : r.shape()) {
      if (d < 0 || (d > 0 && numel > (data_end / static_cast<uint64_t>(d)))) {
        return Corrupt(path, absl::StrCat("tensor '", r.name(), "' has an impossible shape"));
      }
      numel *= static_cast<uint64_t>(d);
    }
    if (r.offset() != next || r.size_bytes() != numel * runtime::SizeOf(*dtype) ||
        r.size_bytes() > data_end - next) {
      return Corrupt(path, absl::StrCat("tensor '", r.name(), "' record (offset ", r.offset(), ", ",
                                        r.size_bytes(), " bytes) does not tile the data"));
    }
    next += r.size_bytes();
  }
  if (next != data_end) {
    return Corrupt(path, absl::StrCat("data ends at byte ", next, ", header starts at ", data_end));
  }
  if (!read_tensors) return out;
  for (const checkpointpb::TensorRecord& r : out.header.tensors()) {
    runtime::Shape shape(r.shape().begin(), r.shape().end());
    BRAID_ASSIGN_OR_RETURN(Tensor t, Tensor::Empty(shape, *runtime::ParseDType(r.dtype())));
    if (r.size_bytes() > 0) {
      BRAID_RETURN_IF_ERROR(PReadAll(fd, r.offset(), t.raw_data(), r.size_bytes(), path));
    }
    const uint32_t crc = r.size_bytes() == 0 ? 0u : Crc32c(t.raw_data(), r.size_bytes());
    if (crc != r.crc32c()) {
      return Corrupt(path, absl::StrCat("CRC-32C mismatch in tensor '", r.name(), "' (bytes ",
                                        r.offset(), "..", r.offset() + r.size_bytes(), ")"));
    }
    out.tensors.push_back(NamedTensor{r.name(), std::move(t)});
  }
  return out;
}

absl::Status WriteManifest(const std::string& step_directory,
                           const checkpointpb::Manifest& manifest, bool sync) {
  std::string body;
  if (!manifest.SerializeToString(&body)) {
    return absl::InternalError("checkpoint: cannot serialize the manifest (protobuf)");
  }
  std::string bytes(16, '\0');
  std::memcpy(bytes.data(), kManifestMagic, 8);
  PutU32(bytes.data() + 8, kFormatVersion);
  PutU32(bytes.data() + 12, static_cast<uint32_t>(body.size()));
  bytes += body;
  char crc[4];
  PutU32(crc, Crc32c(bytes.data(), bytes.size()));
  bytes.append(crc, 4);
  return WriteFileDurably(absl::StrCat(step_directory, "/", kManifestFileName), bytes, sync);
}

absl::StatusOr<checkpointpb::Manifest> ReadManifest(const std::string& step_directory) {
  const std::string path = absl::StrCat(step_directory, "/", kManifestFileName);
  BRAID_ASSIGN_OR_RETURN(std::string bytes, ReadSmallFile(path, kMaxManifestBytes));
  if (bytes.size() < 20) return Corrupt(path, absl::StrCat("only ", bytes.size(), " bytes"));
  if (std::memcmp(bytes.data(), kManifestMagic, 8) != 0) return Corrupt(path, "bad magic");
  if (GetU32(bytes.data() + 8) != kFormatVersion) {
    return Corrupt(path, absl::StrCat("format version ", GetU32(bytes.data() + 8),
                                      ", this reader knows ", kFormatVersion));
  }
  const uint64_t length = GetU32(bytes.data() + 12);
  if (bytes.size() != 16 + length + 4) {
    return Corrupt(path, absl::StrCat("length field says ", length, " bytes of manifest, file has ",
                                      bytes.size(), " bytes in all"));
  }
  if (Crc32c(bytes.data(), 16 + length) != GetU32(bytes.data() + 16 + length)) {
    return Corrupt(path, "CRC-32C mismatch");
  }
  checkpointpb::Manifest manifest;
  if (!manifest.ParseFromArray(bytes.data() + 16, static_cast<int>(length))) {
    return Corrupt(path, "manifest does not parse");
  }
  if (manifest.world_size() < 1 || manifest.shards_size() != manifest.world_size()) {
    return Corrupt(path, absl::StrCat("lists ", manifest.shards_size(), " shards for a world of ",
                                      manifest.world_size()));
  }
  for (int r = 0; r < manifest.shards_size(); ++r) {
    const checkpointpb::ShardEntry& e = manifest.shards(r);
    if (e.rank() != r || e.file() != ShardFileName(r)) {
      return Corrupt(path, absl::StrCat("shard entry ", r, " names rank ", e.rank(), " file '",
                                        e.file(), "'"));
    }
  }
  return manifest;
}

}  // namespace braid::elastic::checkpoint
