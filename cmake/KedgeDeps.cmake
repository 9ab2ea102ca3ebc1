# Every third-party dependency comes from a Debian 12 package (scripts/setup).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(Boost 1.81 EXACT REQUIRED COMPONENTS json)
find_package(GTest CONFIG REQUIRED)
pkg_check_modules(NFTNL REQUIRED IMPORTED_TARGET libnftnl)
pkg_check_modules(MNL REQUIRED IMPORTED_TARGET libmnl)
pkg_check_modules(NL3 REQUIRED IMPORTED_TARGET libnl-3.0 libnl-route-3.0)
pkg_check_modules(CGROUP REQUIRED IMPORTED_TARGET libcgroup)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET libnghttp2)

find_program(KEDGE_PROTOC protoc REQUIRED)
find_program(KEDGE_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# kedge_proto_library(<name> PROTOS a.proto b.proto [GRPC] [LITE] [IMPORT_DIR dir])
# Generates C++ for the given protos into the build tree and wraps it in a static
# library, compiled without warnings, so no heavy generated header leaks into
# widely included project headers unless a target links it on purpose.
#
# LITE: the protos say `option optimize_for = LITE_RUNTIME`, so their code
# needs only libprotobuf-lite (0.8 MB against the full library's 3.3 MB). The
# executable picks the runtime: libprotobuf-lite if it sets the target
# property KEDGE_PROTOBUF_LITE (kedge-agent), else the full libprotobuf, whose
# symbols are a superset of lite's. Never both in one process: each carries
# its own copy of protobuf's globals and both would initialize and free the
# one the dynamic linker binds (protobuf issue #44: a double free at exit).
function(kedge_proto_library name)
  cmake_parse_arguments(P "GRPC;LITE" "IMPORT_DIR" "PROTOS" ${ARGN})
  if(NOT P_IMPORT_DIR)
    set(P_IMPORT_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${out})
  set(srcs)
  foreach(proto ${P_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${P_IMPORT_DIR} ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(gen ${out}/${base}.pb.cc ${out}/${base}.pb.h)
    set(args --cpp_out=${out})
    if(P_GRPC)
      list(APPEND gen ${out}/${base}.grpc.pb.cc ${out}/${base}.grpc.pb.h)
      list(APPEND args --grpc_out=${out} --plugin=protoc-gen-grpc=${KEDGE_GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(OUTPUT ${gen}
      COMMAND ${KEDGE_PROTOC} -I ${P_IMPORT_DIR} ${args} ${abs}
      DEPENDS ${abs} VERBATIM)
    list(APPEND srcs ${gen})
  endforeach()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} SYSTEM PUBLIC ${out})
  # -w only for the generated sources themselves: linking PUBLIC would silence
  # every warning in each target that uses the protos.
  if(P_LITE)
    # $<TARGET_PROPERTY:prop> in a usage requirement reads the consuming
    # (linking) target's property.
    target_link_libraries(${name} PUBLIC
      $<IF:$<BOOL:$<TARGET_PROPERTY:KEDGE_PROTOBUF_LITE>>,protobuf::libprotobuf-lite,protobuf::libprotobuf>
      PRIVATE kedge_generated_flags)
  else()
    target_link_libraries(${name} PUBLIC protobuf::libprotobuf PRIVATE kedge_generated_flags)
  endif()
  if(P_GRPC)
    target_link_libraries(${name} PUBLIC gRPC::grpc++)
  endif()
endfunction()
