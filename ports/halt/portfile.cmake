# vcpkg overlay port for halt, a header-only library. halt is not in the vcpkg registry yet; use
# this folder as an overlay port: `vcpkg install halt --overlay-ports=<halt checkout>/ports`, or
# "overlay-ports" in a vcpkg-configuration.json.
#
# Where the source comes from:
# - VCPKG_HALT_SOURCE set in the environment: that local halt checkout, as it is (no download).
#     VCPKG_HALT_SOURCE=$PWD VCPKG_KEEP_ENV_VARS=VCPKG_HALT_SOURCE \
#       vcpkg install halt --overlay-ports=$PWD/ports --no-binarycaching
#   VCPKG_KEEP_ENV_VARS lets the variable into vcpkg's clean build environment (Windows); vcpkg's
#   binary cache does not see changes in a local source, hence --no-binarycaching.
# - Otherwise halt's public repository at the head of its main branch. halt has no release tag
#   yet, so there is no REF and SHA512 to pin: this needs `vcpkg install halt --head`.
#
# To release (and to submit the port to the vcpkg registry): tag vX.Y.Z (the version in
# CMakeLists.txt's project() and in vcpkg.json), then give vcpkg_from_github
#     REF "v${VERSION}"
#     SHA512 <sha512sum of the tag's archive, the file vcpkg_from_github downloads>
# (to get it, put SHA512 0 once: vcpkg's error prints the value; never commit the 0), and drop
# the VCPKG_HALT_SOURCE branch. OWNER is a placeholder for the account that will host
# halt's repository (none yet); conanfile.py and vcpkg.json use the same.
#
# Dependencies (vcpkg.json): asio (every asio in the vcpkg registry is newer than the 1.22 halt
# needs; halt's CMake package finds it through its asio CMake package), vcpkg-cmake and
# vcpkg-cmake-config. A boost-asio feature will come once halt supports Boost.Asio.

set(VCPKG_BUILD_TYPE release) # header-only: one configuration is enough

if(DEFINED ENV{VCPKG_HALT_SOURCE})
    set(SOURCE_PATH "$ENV{VCPKG_HALT_SOURCE}")
    if(NOT EXISTS "${SOURCE_PATH}/include/halt/halt.hpp")
        message(FATAL_ERROR "VCPKG_HALT_SOURCE is \"${SOURCE_PATH}\", which is not a halt checkout (no include/halt/halt.hpp)")
    endif()
else()
    vcpkg_from_github(
        OUT_SOURCE_PATH SOURCE_PATH
        REPO OWNER/halt
        HEAD_REF main
    )
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DHALT_BUILD_TESTS=OFF
        -DHALT_BUILD_EXAMPLES=OFF
        -DHALT_BUILD_BENCHMARKS=OFF
        -DHALT_INSTALL=ON
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/halt)
vcpkg_fixup_pkgconfig()

# halt's install puts LICENSE under share/doc/halt; vcpkg wants it as share/halt/copyright.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc")

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
