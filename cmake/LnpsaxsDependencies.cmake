# Third-party dependencies. Versions verified on Debian 12 (docs/architecture.md §9); install them with
# tools/install-deps.sh.

# --- MPI (C and C++) ---------------------------------------------------------------------------
find_package(MPI REQUIRED COMPONENTS C CXX)
# Tests launch mpiexec as root in containers and with more ranks than cores.
execute_process(COMMAND id -u OUTPUT_VARIABLE _lnpsaxs_uid OUTPUT_STRIP_TRAILING_WHITESPACE)
set(LNPSAXS_MPIEXEC_FLAGS --oversubscribe)
if(_lnpsaxs_uid STREQUAL "0")
  list(APPEND LNPSAXS_MPIEXEC_FLAGS --allow-run-as-root)
endif()

# --- parallel HDF5 -----------------------------------------------------------------------------
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "lnpsaxs needs PARALLEL HDF5 (MPI-IO) but only a serial HDF5 was found "
    "(${HDF5_C_INCLUDE_DIRS}). On Debian/Ubuntu: apt-get install libhdf5-openmpi-dev, "
    "or run tools/install-deps.sh.")
endif()

# --- LibTorch ----------------------------------------------------------------------------------
find_package(Torch REQUIRED)
# TorchConfig appends its own flags to CMAKE_CXX_FLAGS; we only want them on targets that link torch.
if(TORCH_CXX_FLAGS)
  string(REPLACE "${TORCH_CXX_FLAGS}" "" CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS}")
endif()
add_library(lnpsaxs_torch INTERFACE)
target_link_libraries(lnpsaxs_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(lnpsaxs_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# --- FFTW3 (single and double precision): the cpu simulator backend (models/simulator/cpu) ------
find_package(PkgConfig REQUIRED)
pkg_check_modules(LNPSAXS_FFTW3 REQUIRED IMPORTED_TARGET fftw3f fftw3)
if(NOT LNPSAXS_FFTW3_FOUND)
  message(FATAL_ERROR "lnpsaxs needs FFTW3 (fftw3f and fftw3): apt-get install libfftw3-dev, "
                      "or run tools/install-deps.sh.")
endif()
add_library(lnpsaxs_fftw3 INTERFACE)
target_link_libraries(lnpsaxs_fftw3 INTERFACE PkgConfig::LNPSAXS_FFTW3)

# --- config, CLI, logging, hashing, tests ------------------------------------------------------
find_package(yaml-cpp REQUIRED)                       # target: yaml-cpp (0.7 has no namespace)
find_package(Boost 1.71 REQUIRED COMPONENTS program_options)   # + header-only Boost.Random
find_package(spdlog REQUIRED)
find_package(OpenSSL REQUIRED)                        # SHA-256 of the resolved config
if(LNPSAXS_BUILD_TESTS)
  find_package(doctest REQUIRED)
  include(doctest)                                     # doctest_discover_tests()
endif()

# --- optional CUDA (fast paths; a CPU-only build is complete without it) ------------------------
set(LNPSAXS_CUDA_ENABLED OFF)
if(NOT LNPSAXS_WITH_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # `native` fails on machines without a GPU (build hosts, CI): name the targets explicitly.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_library(LNPSAXS_NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR})
    find_path(LNPSAXS_NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS})
    if(TARGET CUDA::cufft AND TARGET CUDA::curand AND LNPSAXS_NCCL_LIBRARY AND LNPSAXS_NCCL_INCLUDE_DIR)
      set(LNPSAXS_CUDA_ENABLED ON)
      add_library(lnpsaxs_nccl INTERFACE)
      target_link_libraries(lnpsaxs_nccl INTERFACE ${LNPSAXS_NCCL_LIBRARY})
      target_include_directories(lnpsaxs_nccl SYSTEM INTERFACE ${LNPSAXS_NCCL_INCLUDE_DIR})
      message(STATUS "CUDA ${CMAKE_CUDA_COMPILER_VERSION}: cuFFT, cuRAND, NCCL found; "
                     "architectures ${CMAKE_CUDA_ARCHITECTURES}")
    elseif(LNPSAXS_WITH_CUDA STREQUAL "ON")
      message(FATAL_ERROR "LNPSAXS_WITH_CUDA=ON but cuFFT, cuRAND or NCCL was not found")
    else()
      message(STATUS "CUDA compiler found but cuFFT/cuRAND/NCCL missing: CUDA fast paths off")
    endif()
  elseif(LNPSAXS_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LNPSAXS_WITH_CUDA=ON but no CUDA compiler was found")
  else()
    message(STATUS "No CUDA compiler: CPU-only build (CUDA fast paths off)")
  endif()
endif()
