# Version stamp: project version, git commit (re-read at every build so a new
# commit never ships with a stale stamp), and build type.
set(KEDGE_VERSION_IN ${CMAKE_SOURCE_DIR}/base/src/version_info.cpp.in)
set(KEDGE_VERSION_OUT ${CMAKE_BINARY_DIR}/generated/version_info.cpp)
add_custom_target(kedge_version_stamp
  COMMAND ${CMAKE_COMMAND}
    -DSRC_DIR=${CMAKE_SOURCE_DIR} -DIN=${KEDGE_VERSION_IN} -DOUT=${KEDGE_VERSION_OUT}
    -DVERSION=${PROJECT_VERSION} -DBUILD_TYPE=${CMAKE_BUILD_TYPE}
    -P ${CMAKE_SOURCE_DIR}/cmake/WriteVersion.cmake
  BYPRODUCTS ${KEDGE_VERSION_OUT}
  COMMENT "Stamping version")
