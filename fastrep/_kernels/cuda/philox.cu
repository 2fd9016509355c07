// The normal stream on the device: one thread per (row, column group) cell, rows start .. start+n-1
// of the stream (key0 | key1 << 32, stream) into out (n, d) row-major. The arithmetic is
// scalar_philox.hpp's, compiled with --fmad=false, so the bits equal the CPU's.
// real_t and FASTREP_GLOBAL come from the prelude fastrep/_kernels/_cuda.py puts in front.
#include <fastrep/scalar_philox.hpp>

FASTREP_GLOBAL void gaussian_block(unsigned int key0, unsigned int key1, unsigned int stream,
                                   unsigned long long start, long long n, long long d, real_t* __restrict__ out) {
  const long long G = (d + 3) / 4;
  const long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= n * G) return;
  const long long i = t / G, g = t - i * G;
  double z[4];
  fastrep::philox::normals_cell(start + (unsigned long long)i, (unsigned long long)g, stream, key0, key1, z);
  const long long col = 4 * g;
  real_t* o = out + i * d + col;
  for (int k = 0; k < 4; ++k)
    if (col + k < d) o[k] = (real_t)z[k];
}
