# The coordkit::<lib> INTERFACE targets and what pkg-config says for each.
# Included by the top CMakeLists.txt; the installed coordkitConfig.cmake
# finds the same dependencies again.

find_package(Threads REQUIRED)
if(NOT WIN32)
  find_package(OpenSSL REQUIRED COMPONENTS Crypto)
endif()

# In the source tree headers live in libs/<lib>/ but are included as
# "coordkit/<lib>/...": the build tree gets include/coordkit/<lib> as a link
# to libs/<lib> (edits are seen at once; no copy goes stale).
set(COORDKIT_LIBS base spawn log db ipc)
set(_coordkit_build_include "${CMAKE_CURRENT_BINARY_DIR}/include")
file(MAKE_DIRECTORY "${_coordkit_build_include}/coordkit")
foreach(lib IN LISTS COORDKIT_LIBS)
  file(CREATE_LINK "${CMAKE_CURRENT_SOURCE_DIR}/libs/${lib}"
       "${_coordkit_build_include}/coordkit/${lib}" SYMBOLIC)
endforeach()

set(COORDKIT_TARGETS "")

# coordkit_interface(<lib> [DEPS targets...] [DEFINES defs...]): the
# INTERFACE target coordkit_<lib>, exported and aliased as coordkit::<lib>.
function(coordkit_interface lib)
  cmake_parse_arguments(arg "" "" "DEPS;DEFINES" ${ARGN})
  set(target "coordkit_${lib}")
  add_library(${target} INTERFACE)
  add_library(coordkit::${lib} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${lib})
  target_include_directories(${target} INTERFACE
    "$<BUILD_INTERFACE:${_coordkit_build_include}>"
    "$<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>")
  target_compile_features(${target} INTERFACE cxx_std_20)
  target_compile_definitions(${target} INTERFACE ${arg_DEFINES})
  target_link_libraries(${target} INTERFACE ${arg_DEPS})
  set(COORDKIT_TARGETS ${COORDKIT_TARGETS} ${target} PARENT_SCOPE)
endfunction()

# Boost (Interprocess, Asio) and nlohmann/json are header-only and come from
# the compiler's default include path, as in the Bazel build.
coordkit_interface(base)
coordkit_interface(spawn DEPS coordkit::base Threads::Threads)
coordkit_interface(log DEPS coordkit::base Threads::Threads)
if(WIN32)
  # The Windows build (cmake/mingw-w64-x86_64.cmake): Debian packages no
  # SQLCipher or OpenSSL for mingw, so coordkit::db has no dependencies and
  # its headers stop with an #error; Asio needs Winsock, random tokens come
  # from BCryptGenRandom.
  coordkit_interface(db DEPS coordkit::base)
  coordkit_interface(ipc DEPS coordkit::base coordkit::spawn Threads::Threads ws2_32 mswsock bcrypt
                     DEFINES BOOST_ASIO_NO_DEPRECATED)
else()
  coordkit_interface(db DEPS coordkit::base sqlcipher OpenSSL::Crypto Threads::Threads
                     DEFINES SQLITE_HAS_CODEC)
  coordkit_interface(ipc DEPS coordkit::base coordkit::spawn OpenSSL::Crypto Threads::Threads
                     DEFINES BOOST_ASIO_NO_DEPRECATED)
endif()

# pkg-config: Requires / Cflags / Libs of coordkit-<lib>.pc (and "all").
set(COORDKIT_PC_REQUIRES_base "")
set(COORDKIT_PC_REQUIRES_spawn "coordkit-base")
set(COORDKIT_PC_REQUIRES_log "coordkit-base")
set(COORDKIT_PC_REQUIRES_db "coordkit-base, sqlcipher, libcrypto")
set(COORDKIT_PC_REQUIRES_ipc "coordkit-base, coordkit-spawn, libcrypto")
set(COORDKIT_PC_REQUIRES_all "coordkit-db, coordkit-ipc, coordkit-log, coordkit-spawn")
set(COORDKIT_PC_CFLAGS_base "-std=c++20")
set(COORDKIT_PC_CFLAGS_db "-DSQLITE_HAS_CODEC")
set(COORDKIT_PC_CFLAGS_ipc "-DBOOST_ASIO_NO_DEPRECATED")
foreach(lib spawn log db ipc)
  set(COORDKIT_PC_LIBS_${lib} "-pthread")
endforeach()
