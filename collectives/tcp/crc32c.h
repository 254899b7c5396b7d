// CRC32C (Castagnoli), the checksum of tcp frames when checksums are on: the
// runtime's routine (runtime/crc32c.h), named in this namespace for the
// frame code.
#ifndef BRAID_COLLECTIVES_TCP_CRC32C_H_
#define BRAID_COLLECTIVES_TCP_CRC32C_H_

#include "runtime/crc32c.h"

namespace braid::collectives::tcp {

using runtime::Crc32c;
using runtime::Crc32cExtend;

}  // namespace braid::collectives::tcp

#endif  // BRAID_COLLECTIVES_TCP_CRC32C_H_
