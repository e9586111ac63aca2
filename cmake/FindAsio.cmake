# FindAsio.cmake - find the standalone (non-Boost) Asio headers.
#
# Result variables:
#   Asio_FOUND        - true when asio.hpp was found
#   Asio_VERSION      - e.g. 1.22.1 (from ASIO_VERSION in asio/version.hpp)
#   Asio_INCLUDE_DIRS - the directory that contains asio.hpp
#
# Cache variables:
#   Asio_INCLUDE_DIR  - the directory that contains asio.hpp (set it to point at a custom copy)
#
# When Asio is not found, the failure message says why (nothing found, no asio.hpp in
# Asio_INCLUDE_DIR, too old a version) and how to get Asio.
#
# Imported target:
#   asio::asio        - INTERFACE target: include directory, ASIO_STANDALONE, Threads::Threads

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  PATH_SUFFIXES asio/include include
  DOC "Directory containing the standalone Asio header asio.hpp")
mark_as_advanced(Asio_INCLUDE_DIR)

unset(Asio_VERSION)
unset(Asio_INCLUDE_DIRS)
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio.hpp"
   AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
       REGEX "^#[ \t]*define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    set(_asio_version_number "${CMAKE_MATCH_1}")
    math(EXPR _asio_major "${_asio_version_number} / 100000")
    math(EXPR _asio_minor "${_asio_version_number} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_number} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
  endif()
  unset(_asio_version_line)
  unset(_asio_version_number)
  unset(_asio_major)
  unset(_asio_minor)
  unset(_asio_patch)
endif()

set(_asio_threads_found FALSE)
if(Asio_INCLUDE_DIR)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  if(Asio_FIND_QUIETLY)
    find_package(Threads QUIET)
  else()
    find_package(Threads)
  endif()
  if(Threads_FOUND)
    set(_asio_threads_found TRUE)
  endif()
endif()

# What to tell a user who has no Asio, too old an Asio, or Asio_INCLUDE_DIR set to the wrong place.
set(_asio_get_it "install it (Debian/Ubuntu: apt-get install libasio-dev, vcpkg: asio, Conan: asio) or set Asio_INCLUDE_DIR to the directory that contains asio.hpp")
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio.hpp")
  if(NOT Asio_VERSION)
    set(_asio_reason "${Asio_INCLUDE_DIR}/asio/version.hpp has no ASIO_VERSION: is this standalone Asio?")
  elseif(NOT _asio_threads_found)
    set(_asio_reason "Asio needs threads, and CMake's FindThreads found none.")
  else()
    set(_asio_reason "${Asio_INCLUDE_DIR} has Asio ${Asio_VERSION}, but halt needs ${Asio_FIND_VERSION} or newer: ${_asio_get_it}.")
  endif()
elseif(Asio_INCLUDE_DIR)
  set(_asio_reason "Asio_INCLUDE_DIR is \"${Asio_INCLUDE_DIR}\", which has no asio.hpp: set it to the directory that contains asio.hpp.")
else()
  set(_asio_reason "halt needs standalone Asio (the asio.hpp headers, not Boost.Asio)")
  if(Asio_FIND_VERSION)
    string(APPEND _asio_reason " ${Asio_FIND_VERSION} or newer")
  endif()
  string(APPEND _asio_reason ": ${_asio_get_it}.")
endif()
string(REPLACE ";" "," _asio_reason "${_asio_reason}") # a path with ';' must not split the list
set(_asio_reason_args)
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.16)
  set(_asio_reason_args REASON_FAILURE_MESSAGE "${_asio_reason}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR Asio_VERSION _asio_threads_found
  VERSION_VAR Asio_VERSION
  ${_asio_reason_args})
unset(_asio_threads_found)
unset(_asio_reason)
unset(_asio_get_it)
unset(_asio_reason_args)

if(Asio_FOUND)
  set(Asio_INCLUDE_DIRS "${Asio_INCLUDE_DIR}")
  if(NOT TARGET asio::asio)
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE"
      INTERFACE_LINK_LIBRARIES "Threads::Threads")
  endif()
endif()
