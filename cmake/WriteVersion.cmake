execute_process(COMMAND git -C ${SRC_DIR} rev-parse --short=12 HEAD
  OUTPUT_VARIABLE GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT GIT_COMMIT)
  set(GIT_COMMIT "unknown")
else()
  execute_process(COMMAND git -C ${SRC_DIR} status --porcelain --untracked-files=no
    OUTPUT_VARIABLE DIRTY OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(DIRTY)
    string(APPEND GIT_COMMIT "-dirty")
  endif()
endif()
configure_file(${IN} ${OUT}.tmp @ONLY)
# Only touch the output when it changes, so an unchanged commit rebuilds nothing.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
