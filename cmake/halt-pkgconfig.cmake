# Generates and installs halt.pc (included by the top-level CMakeLists.txt when HALT_INSTALL is on).
#
# halt.pc gives a non-CMake build what halt::halt gives a CMake one: halt's include directory plus
# what Asio needs. If pkg-config knows an `asio` module here, halt.pc requires it; otherwise
# (Debian's libasio-dev, for one, ships no asio.pc) halt.pc carries the include directories (except
# the compiler's own) and the definitions of the asio::asio target halt was configured with, and
# the threads flag. Generator expressions (clang's ASIO_HAS_CO_AWAIT=1, which the halt headers set
# themselves when they come first) cannot be expressed in a .pc file and are left out.
#
# Where: share/pkgconfig, not lib/pkgconfig. halt is header-only, so the file is the same for every
# architecture; pkg-config searches <prefix>/share/pkgconfig by default (so does vcpkg), and the
# CMake package sits beside it in share/cmake/halt.
#
# Relocatable: prefix is ${pcfiledir}/.. up to the install prefix, so the file works wherever the
# install tree is moved (cmake --install --prefix, vcpkg, a tarball), as long as
# HALT_INSTALL_PKGCONFIGDIR and CMAKE_INSTALL_INCLUDEDIR are relative.

set(HALT_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig"
    CACHE STRING "Where to install halt.pc (header-only, so share/pkgconfig by default)")

if(IS_ABSOLUTE "${HALT_INSTALL_PKGCONFIGDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(HALT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(HALT_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  cmake_path(SET _halt_pc_dir NORMALIZE "${HALT_INSTALL_PKGCONFIGDIR}")
  string(REGEX REPLACE "/$" "" _halt_pc_dir "${_halt_pc_dir}")
  string(REGEX REPLACE "[^/]+" ".." _halt_pc_up "${_halt_pc_dir}")
  set(HALT_PC_PREFIX "\${pcfiledir}/${_halt_pc_up}")
  set(HALT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  unset(_halt_pc_dir)
  unset(_halt_pc_up)
endif()

# Quotes a flag for a .pc file when it contains a space.
function(_halt_pc_flag out flag)
  if(flag MATCHES " ")
    set(flag "\"${flag}\"")
  endif()
  set(${out} "${${out}} ${flag}" PARENT_SCOPE)
endfunction()

set(HALT_PC_REQUIRES "")
set(HALT_PC_CFLAGS "")
set(HALT_PC_LIBS "")

# On Boost.Asio (HALT_BOOST_ASIO): -DHALT_USE_BOOST_ASIO and Boost's include directory.
if(HALT_BOOST_ASIO)
  set(_halt_pc_asio_target Boost::headers)
  set(HALT_PC_CFLAGS " -DHALT_USE_BOOST_ASIO")
else()
  set(_halt_pc_asio_target asio::asio)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(HALT_PC_ASIO QUIET "asio>=${HALT_ASIO_MIN_VERSION}")
  endif()
endif()

if(HALT_PC_ASIO_FOUND)
  set(HALT_PC_REQUIRES "asio >= ${HALT_ASIO_MIN_VERSION}")
else()
  get_target_property(_halt_pc_asio_includes ${_halt_pc_asio_target} INTERFACE_INCLUDE_DIRECTORIES)
  get_target_property(_halt_pc_asio_defines ${_halt_pc_asio_target} INTERFACE_COMPILE_DEFINITIONS)
  foreach(_halt_pc_dir IN LISTS _halt_pc_asio_includes)
    if(NOT _halt_pc_dir OR _halt_pc_dir MATCHES "\\$<")
      continue()
    endif()
    cmake_path(SET _halt_pc_dir NORMALIZE "${_halt_pc_dir}")
    string(REGEX REPLACE "(.)/$" "\\1" _halt_pc_dir "${_halt_pc_dir}")
    if(NOT _halt_pc_dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
      _halt_pc_flag(HALT_PC_CFLAGS "-I${_halt_pc_dir}")
    endif()
  endforeach()
  foreach(_halt_pc_define IN LISTS _halt_pc_asio_defines)
    if(NOT _halt_pc_define OR _halt_pc_define MATCHES "\\$<")
      continue()
    endif()
    _halt_pc_flag(HALT_PC_CFLAGS "-D${_halt_pc_define}")
  endforeach()
  unset(_halt_pc_asio_includes)
  unset(_halt_pc_asio_defines)
  unset(_halt_pc_dir)
  unset(_halt_pc_define)
  unset(_halt_pc_asio_target)

  # Asio runs its scheduler on threads: -pthread where the platform needs it (empty where the C
  # library has the threads, as glibc 2.34 and newer).
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_package(Threads QUIET)
  if(CMAKE_THREAD_LIBS_INIT)
    set(HALT_PC_LIBS "${CMAKE_THREAD_LIBS_INIT}")
  endif()
endif()

set(HALT_PC_REQUIRES_LINE "")
if(HALT_PC_REQUIRES)
  set(HALT_PC_REQUIRES_LINE "Requires: ${HALT_PC_REQUIRES}\n")
endif()
set(HALT_PC_LIBS_LINE "")
if(HALT_PC_LIBS)
  set(HALT_PC_LIBS_LINE "Libs: ${HALT_PC_LIBS}\n")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/halt.pc.in" "${PROJECT_BINARY_DIR}/halt.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/halt.pc" DESTINATION "${HALT_INSTALL_PKGCONFIGDIR}")
