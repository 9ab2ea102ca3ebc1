# One place for compiler flags every kedge target gets: kedge_target_defaults(tgt).
add_library(kedge_warnings INTERFACE)
target_compile_options(kedge_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough
  # GCC 12 reports impossible overlaps in inlined std::string concatenation at
  # -O2/-O3 (GCC bug 105329); the warning has only false positives here.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>
  # Options structs are filled with designated initializers that name only
  # what differs from the defaults (house style); GCC 12 warns on every
  # omitted member there.
  -Wno-missing-field-initializers
  $<$<BOOL:${KEDGE_WERROR}>:-Werror>)

if(KEDGE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Generated code (protobuf/gRPC) is not ours to warn about.
add_library(kedge_generated_flags INTERFACE)
target_compile_options(kedge_generated_flags INTERFACE -w)

function(kedge_target_defaults tgt)
  target_link_libraries(${tgt} PRIVATE kedge_warnings)
endfunction()
