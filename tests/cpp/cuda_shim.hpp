// Just enough of CUDA for g++ to compile fastrep's kernels as plain C++ and run each __global__
// body over its grid on the CPU (tests/cpp/cuda_harness.cpp). fastrep's kernels are
// one-dimensional, one thread per output cell, with no shared memory, no synchronization and no
// atomics, so running the threads one after another is a faithful execution.
#pragma once

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define FASTREP_GLOBAL  // NVRTC sees extern "C" __global__ (fastrep/_kernels/_cuda.py)

struct fastrep_cuda_dim3 {
  unsigned int x = 1, y = 1, z = 1;
};

inline fastrep_cuda_dim3 threadIdx, blockIdx, blockDim, gridDim;

// Run fn() once per thread of a (blocks,) x (threads,) launch, in order.
template <typename F>
void fastrep_cuda_launch(long long blocks, unsigned int threads, F&& fn) {
  gridDim.x = static_cast<unsigned int>(blocks);
  blockDim.x = threads;
  for (long long b = 0; b < blocks; ++b) {
    blockIdx.x = static_cast<unsigned int>(b);
    for (unsigned int t = 0; t < threads; ++t) {
      threadIdx.x = t;
      fn();
    }
  }
}
