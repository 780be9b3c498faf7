package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Java re-implementation of PyTorch's CPU {@code randn}: an MT19937 engine seeded like {@code
 * torch.manual_seed}, float uniforms from 24 random bits, and PyTorch's two normal transforms —
 * Box–Muller over blocks of 16 for tensors of at least 16 elements, and the scalar double-precision
 * path (which caches the second value of each pair) for smaller ones.
 */
final class TorchCpuNoise implements NoiseSource {

    private static final int N = 624;
    private static final int M = 397;

    private final int[] mt = new int[N];
    private int index;
    private double cachedNormal;
    private boolean hasCachedNormal;

    TorchCpuNoise(long seed) {
        mt[0] = (int) seed;
        for (int i = 1; i < N; i++) {
            mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        }
        index = N;
    }

    @Override
    public NDArray randn(NDManager manager, Shape shape) {
        long size = shape.size();
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("noise tensor too large: " + shape);
        }
        return manager.create(randn((int) size), shape);
    }

    @Override
    public float[] randn(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0 (got " + count + ")");
        }
        float[] out = new float[count];
        if (count >= 16) {
            fillBlocks(out);
        } else {
            for (int i = 0; i < count; i++) {
                out[i] = (float) nextDoubleNormal();
            }
        }
        return out;
    }

    /** PyTorch's {@code normal_fill}: uniforms for all, Box–Muller per 16, redo a ragged tail. */
    private void fillBlocks(float[] data) {
        int size = data.length;
        for (int i = 0; i < size; i++) {
            data[i] = nextFloatUniform();
        }
        for (int i = 0; i + 16 <= size; i += 16) {
            boxMuller16(data, i);
        }
        if (size % 16 != 0) {
            int start = size - 16;
            for (int i = 0; i < 16; i++) {
                data[start + i] = nextFloatUniform();
            }
            boxMuller16(data, start);
        }
    }

    private static void boxMuller16(float[] data, int offset) {
        for (int j = 0; j < 8; j++) {
            float u1 = 1 - data[offset + j];
            float u2 = data[offset + j + 8];
            float radius = (float) Math.sqrt(-2 * (float) Math.log(u1));
            float theta = (float) (2.0 * Math.PI * u2);
            data[offset + j] = radius * (float) Math.cos(theta);
            data[offset + j + 8] = radius * (float) Math.sin(theta);
        }
    }

    /** PyTorch's {@code normal_distribution<double>}, with its cached second value. */
    private double nextDoubleNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = nextDoubleUniform();
        double u2 = nextDoubleUniform();
        double r = Math.sqrt(-2.0 * Math.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }

    private float nextFloatUniform() {
        return (nextInt() & 0xFFFFFF) * 0x1.0p-24f;
    }

    private double nextDoubleUniform() {
        long hi = nextInt() & 0xFFFFFFFFL;
        long lo = nextInt() & 0xFFFFFFFFL;
        long bits = (hi << 32) | lo;
        return (bits & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    private int nextInt() {
        if (index >= N) {
            twist();
        }
        int y = mt[index++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    private void twist() {
        for (int i = 0; i < N; i++) {
            int y = (mt[i] & 0x80000000) | (mt[(i + 1) % N] & 0x7fffffff);
            int next = mt[(i + M) % N] ^ (y >>> 1);
            if ((y & 1) != 0) {
                next ^= 0x9908b0df;
            }
            mt[i] = next;
        }
        index = 0;
    }
}
