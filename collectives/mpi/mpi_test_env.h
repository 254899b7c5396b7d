// Test-only: the MpiSession of an mpi test binary (see mpi_test_main.cc).
//
// Tests of the mpi backend run under the real mpiexec (ctest runs
// `mpiexec -np N <binary>`); every rank runs every TEST in the same order, so
// a TEST body is collective. The session lives for the whole process, because
// MPI can be initialised only once.
#ifndef BRAID_COLLECTIVES_MPI_MPI_TEST_ENV_H_
#define BRAID_COLLECTIVES_MPI_MPI_TEST_ENV_H_

#include "absl/time/time.h"
#include "collectives/mpi/mpi_session.h"

namespace braid::collectives::testing {

// The process's session. REQUIRES: called from a TEST (after main set it up).
MpiSession& TestSession();

// Timing bounds scaled like other braid tests (BRAID_TEST_TIMEOUT_SCALE).
absl::Duration ScaledTimeout(absl::Duration d);

}  // namespace braid::collectives::testing

#endif  // BRAID_COLLECTIVES_MPI_MPI_TEST_ENV_H_
