# Cross-compiling coordkit's Windows code paths with Debian's mingw-w64
# (g++-mingw-w64-x86-64-posix: the posix thread model, so std::thread and
# std::mutex work) and running the results under Wine:
#
#   cmake -S tests/windows -B build-windows \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake
#   cmake --build build-windows && ctest --test-dir build-windows
#
# tests/windows/run does all of this in a fresh Wine prefix. The runtime
# (libgcc, libstdc++, winpthread) is linked statically, so every .exe runs
# under Wine (or on Windows) without any mingw DLL beside it.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(COORDKIT_MINGW_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${COORDKIT_MINGW_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${COORDKIT_MINGW_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${COORDKIT_MINGW_TRIPLE}-windres)

# Look for libraries and headers only in the mingw sysroot; programs (the
# build's own tools) on the host.
set(CMAKE_FIND_ROOT_PATH /usr/${COORDKIT_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# No mingw DLLs to carry around: libgcc, libstdc++ and winpthread go into
# each executable.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")

# ctest (and add_custom_command) run the test executables through Wine.
find_program(COORDKIT_WINE wine REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${COORDKIT_WINE})
