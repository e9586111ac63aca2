# Fails unless every `examples/<name>.cpp` that a guide chapter quotes appears there verbatim, so
# the code in docs/ is always code that CI compiles. Run with -DROOT=<source dir>.
set(pairs
  "docs/01-tokens.md:examples/token_worker.cpp"
  "docs/02-tasks.md:examples/abort_task.cpp"
  "docs/02-tasks.md:examples/select_request_task.cpp"
  "docs/02-tasks.md:examples/token_worker_task.cpp"
  "docs/03-abort.md:examples/abort.cpp"
  "docs/04-select.md:examples/select_request.cpp"
  "docs/04-select.md:examples/token_worker_select.cpp"
  "docs/05-cleanup.md:examples/cleanup.cpp")
foreach(pair IN LISTS pairs)
  string(REPLACE ":" ";" parts "${pair}")
  list(GET parts 0 doc)
  list(GET parts 1 example)
  file(READ "${ROOT}/${doc}" doc_text)
  file(READ "${ROOT}/${example}" example_text)
  string(FIND "${doc_text}" "${example_text}" where)
  if(where EQUAL -1)
    message(FATAL_ERROR "${doc} does not contain ${example} verbatim: copy the example into it")
  endif()
endforeach()
message(STATUS "guide chapters quote their examples verbatim")
