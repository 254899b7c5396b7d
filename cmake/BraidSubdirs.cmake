# braid_add_subdirectories(a b c): adds each listed subfolder that has a
# CMakeLists.txt (folders appear as the project grows).
function(braid_add_subdirectories)
  foreach(sub ${ARGN})
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${sub}/CMakeLists.txt)
      add_subdirectory(${sub})
    endif()
  endforeach()
endfunction()
