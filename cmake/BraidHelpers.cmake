# Helpers that every braid folder uses to declare libraries, tests and fuzzers.
#
#   braid_library(<name> SRCS ... [CUDA_SRCS ...] [DEPS ...] [PRIVATE_DEPS ...] [NO_INSTALL])
#     A library target; includes are relative to the repository root
#     ("runtime/tensor.h"). Public headers next to the sources are installed
#     under include/braid/<folder>/. Installed libraries join braid::braid.
#   braid_test(<name> SRCS ... [DEPS ...] [LABELS ...] [TIMEOUT s] [ARGS ...] [NO_MAIN])
#     A GoogleTest binary registered with ctest. GTEST_SKIP() shows as skipped.
#   braid_fuzzer(<name> SRCS ... [DEPS ...] [SECONDS n])
#     A libFuzzer target (clang + BRAID_FUZZ only) run for a few seconds by ctest.

set(BRAID_WARNING_FLAGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  list(APPEND BRAID_WARNING_FLAGS -Wthread-safety)
endif()
if(BRAID_WERROR)
  list(APPEND BRAID_WARNING_FLAGS -Werror)
endif()

if(BRAID_SANITIZE)
  add_compile_options(-fsanitize=${BRAID_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${BRAID_SANITIZE})
endif()

# Environment for every test under a sanitizer.
set(BRAID_SANITIZER_TEST_ENV "")
if(BRAID_SANITIZE MATCHES "thread")
  set(BRAID_SANITIZER_TEST_ENV
      "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/cmake/tsan.supp halt_on_error=1 second_deadlock_stack=1")
elseif(BRAID_SANITIZE)
  set(BRAID_SANITIZER_TEST_ENV "UBSAN_OPTIONS=print_stacktrace=1 halt_on_error=1")
endif()

# Multiplies test timeouts under sanitizers, which run 2-20x slower.
set(BRAID_TEST_TIMEOUT_SCALE 1)
if(BRAID_SANITIZE MATCHES "thread")
  set(BRAID_TEST_TIMEOUT_SCALE 4)
elseif(BRAID_SANITIZE)
  set(BRAID_TEST_TIMEOUT_SCALE 3)
endif()

set_property(GLOBAL PROPERTY BRAID_UMBRELLA_TARGETS_PROP "")

function(braid_library name)
  cmake_parse_arguments(ARG "NO_INSTALL;HEADER_ONLY" "" "SRCS;CUDA_SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  if(ARG_HEADER_ONLY)
    add_library(${name} INTERFACE)
    set(_scope INTERFACE)
  else()
    add_library(${name} ${ARG_SRCS} ${ARG_CUDA_SRCS})
    set(_scope PUBLIC)
    target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${BRAID_WARNING_FLAGS}>)
    target_link_libraries(${name} PRIVATE ${ARG_PRIVATE_DEPS})
  endif()
  add_library(braid::${name} ALIAS ${name})
  target_include_directories(${name} ${_scope}
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/braid>)
  target_link_libraries(${name} ${_scope} ${ARG_DEPS})
  if(NOT ARG_NO_INSTALL)
    install(TARGETS ${name} EXPORT braidTargets
            LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
            ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
    file(RELATIVE_PATH _rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
    file(GLOB _headers ${CMAKE_CURRENT_SOURCE_DIR}/*.h)
    list(FILTER _headers EXCLUDE REGEX "_test\\.h$")
    install(FILES ${_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/braid/${_rel})
    set_property(GLOBAL APPEND PROPERTY BRAID_UMBRELLA_TARGETS_PROP ${name})
  endif()
endfunction()

function(braid_test name)
  cmake_parse_arguments(ARG "NO_MAIN" "TIMEOUT" "SRCS;DEPS;LABELS;ARGS" ${ARGN})
  if(NOT BUILD_TESTING)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE ${BRAID_WARNING_FLAGS})
  if(ARG_NO_MAIN)
    target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  else()
    target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock braid_test_main)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  math(EXPR _timeout "${ARG_TIMEOUT} * ${BRAID_TEST_TIMEOUT_SCALE}")
  set(_env "BRAID_TEST_TIMEOUT_SCALE=${BRAID_TEST_TIMEOUT_SCALE}")
  if(BRAID_SANITIZER_TEST_ENV)
    list(APPEND _env "${BRAID_SANITIZER_TEST_ENV}")
  endif()
  add_test(NAME ${name} COMMAND ${name} ${ARG_ARGS})
  set_tests_properties(${name} PROPERTIES
    LABELS "${ARG_LABELS}"
    TIMEOUT ${_timeout}
    SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
    ENVIRONMENT "${_env}")
endfunction()

function(braid_fuzzer name)
  cmake_parse_arguments(ARG "" "SECONDS" "SRCS;DEPS" ${ARGN})
  if(NOT BRAID_FUZZ OR NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    return()
  endif()
  if(NOT ARG_SECONDS)
    set(ARG_SECONDS 5)
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  add_test(NAME ${name} COMMAND ${name} -max_total_time=${ARG_SECONDS} -rss_limit_mb=1024)
  set_tests_properties(${name} PROPERTIES LABELS "fuzz;unit" TIMEOUT 120)
endfunction()
